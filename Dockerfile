# syntax=docker/dockerfile:1
# The Pulse server as a container image. It runs the same commands as the packaging test
# (e2e/outside-repo.e2e.test.ts), which is what proves them where no Docker daemon runs:
#   build:   npm ci (whose `prepare` builds every package) and npm pack of @pulse/protocol and @pulse/server
#   install: npm install of those tarballs into an empty directory, as any user would
#   run:     pulse start, with the data dir on a volume
#
#   docker build -t pulse .
#   docker run -p 4567:4567 -v pulse-data:/data pulse
# See docs/self-hosting.md (and compose.yaml for PostgreSQL + Redis + two nodes + a proxy).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles from source where its prebuilt binary cannot be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
 && mkdir /tarballs \
 && npm pack --silent --pack-destination /tarballs -w @pulse/protocol -w @pulse/server
WORKDIR /app
RUN echo '{ "name": "pulse-app", "private": true, "type": "module" }' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tarballs/pulse-protocol-*.tgz /tarballs/pulse-server-*.tgz

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PATH=/app/node_modules/.bin:$PATH \
    PULSE_HOST=0.0.0.0 \
    PULSE_PORT=4567 \
    PULSE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app /app
# The data dir (SQLite database, server secret, uploaded files) belongs to the unprivileged user.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 4567
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PULSE_PORT || 4567) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `docker run … pulse env list` runs any other pulse command in the same image.
ENTRYPOINT ["pulse"]
CMD ["start"]
