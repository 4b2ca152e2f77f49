import { buildOpenApiDocument, LIMITS, PulseError } from '@pulse/protocol';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { ServerContext } from './context.ts';
import { DEFAULT_HTTP_LIMITS, fastifyTimeouts, installHttpLimits } from './http-limits.ts';
import { nestsAtMost } from './json-depth.ts';
import type { ServerOptions } from './options.ts';
import { registerRestApi } from './rest/api-v1.ts';
import { answerClientError } from './rest/client-errors.ts';
import { installErrorHandling } from './rest/errors.ts';
import { VERSION } from './version.ts';

/** The REST API and the token endpoint (the admin API sets its own headers). */
const API_PATH = /^\/(api|auth)\//;

/** JSON.parse that refuses prototype-poisoning keys. */
function secureJsonParse(text: string): unknown {
  if (!nestsAtMost(text, LIMITS.restJsonDepth)) throw new PulseError('invalid_json', `JSON nested more than ${LIMITS.restJsonDepth} levels deep is refused.`);
  return JSON.parse(text, (key, value) => {
    if (key === '__proto__' || (key === 'constructor' && value && typeof value === 'object' && 'prototype' in value)) {
      throw new PulseError('invalid_json', 'The body contains a forbidden key.');
    }
    return value;
  });
}

/** PULSE_TRUST_PROXY as Fastify takes it (a hop count as the function Fastify itself would make of it). */
function fastifyTrustProxy(setting: ServerOptions['trustProxy']): boolean | string | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return setting ?? false;
}

/** The HTTP application: every route of the one port. */
export async function buildApp(ctx: ServerContext, health: () => Promise<Record<string, unknown>>): Promise<FastifyInstance> {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...ctx.options.http };
  const app = Fastify({
    ...fastifyTimeouts(limits),
    logger: ctx.options.logLevel === 'silent' ? false : { level: ctx.options.logLevel },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: LIMITS.restBodyBytes,
    // X-Forwarded-* only from configured proxies: otherwise any client could pick its own address
    // (and walk around the login throttle) or claim https.
    trustProxy: fastifyTrustProxy(ctx.options.trustProxy),
    return503OnClosing: true,
    // Room ids may be 256 characters, several times longer once percent-encoded.
    routerOptions: { maxParamLength: 4096 },
    // Requests Node cannot parse as HTTP, and router errors (bad percent-encoding, over-long
    // parameters), answer in the catalogue's shape.
    clientErrorHandler: answerClientError,
    frameworkErrors: (err, _request, reply) => {
      const e = new PulseError('validation_failed', `path: ${err.message}`);
      void (reply as FastifyReply).status(e.status).send(e.toBody());
    },
  });
  installHttpLimits(app, limits, ctx.options.trustProxy, ctx.options.limitLoopback);
  installErrorHandling(app);
  // Every answer of the API (errors and 204s too) is for one caller: never kept by a cache.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (API_PATH.test(request.url) && !reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  // JSON only: a text/plain body gets 415 rather than reaching a handler as a string.
  app.removeContentTypeParser('text/plain');
  // An empty JSON body (a DELETE sent with Content-Type: application/json) is no body at all.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding && encoding.toLowerCase() !== 'identity') {
      return done(new PulseError('unsupported_media_type', `Content-Encoding "${encoding}" is not supported: send the JSON body uncompressed.`), undefined);
    }
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, secureJsonParse(text));
    } catch (err) {
      done(err instanceof PulseError ? err : new PulseError('invalid_json'), undefined);
    }
  });

  app.get('/healthz', async (_request, reply) => {
    const report = await health();
    void reply.status(report.status === 'ok' ? 200 : 503).send(report);
    return reply;
  });

  let openApi: Record<string, unknown> | undefined;
  app.get('/api/v1/openapi.json', async () => {
    // Relative to wherever the document was fetched from, unless a public URL is configured.
    openApi ??= buildOpenApiDocument(ctx.options.publicUrl ?? '/', VERSION);
    return openApi;
  });

  registerRestApi(app, ctx);
  return app;
}
