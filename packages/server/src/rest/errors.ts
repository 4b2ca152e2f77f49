import { PulseError, type ErrorCode } from '@pulse/protocol';
import type { FastifyError, FastifyInstance } from 'fastify';
import { RetryLaterError } from '../retry-later.ts';
import { isUnavailable } from '../store/errors.ts';

/** Maps Fastify's own errors (body parsing, limits) onto the catalogue. */
function fromFastify(err: FastifyError): PulseError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PulseError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PulseError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PulseError('invalid_json', 'The body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new PulseError('validation_failed', 'Content-Length does not match the body.');
  }
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new PulseError('invalid_json');
  if (err.statusCode === 400 && /prototype|constructor/i.test(err.message ?? '')) return new PulseError('invalid_json', 'The body contains a forbidden key.');
  return undefined;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = err instanceof PulseError ? err : fromFastify(err);
    if (known) {
      if (known instanceof RetryLaterError) void reply.header('retry-after', String(known.retryAfterS));
      void reply.status(known.status).send(known.toBody());
      return;
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      const code: ErrorCode = err.statusCode === 413 ? 'payload_too_large' : err.statusCode === 415 ? 'unsupported_media_type' : 'validation_failed';
      const e = new PulseError(code, err.message);
      void reply.status(err.statusCode).send(e.toBody());
      return;
    }
    if (isUnavailable(err)) {
      request.log.warn({ err }, 'database unavailable');
      void reply.status(503).header('retry-after', '5').send(new PulseError('service_unavailable').toBody());
      return;
    }
    request.log.error({ err }, 'unhandled error');
    void reply.status(500).send(new PulseError('internal_error').toBody());
  });
  // The APIs' routes (REST, the admin API, email links, the health check), to tell a wrong method (405, with the
  // methods that path takes) from a wrong path (404). A catch-all route (`config.catchAll`) hands
  // what it catches to the not-found handler and takes no method itself.
  const apiRoutes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    if (!/^\/(api|auth|panel\/api|email)\/|^\/healthz$/.test(route.url) || (route.config as { catchAll?: boolean } | undefined)?.catchAll) return;
    const source = '^' + route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+').replace(/\*/g, '.*') + '$';
    let known = apiRoutes.find((r) => r.pattern.source === source);
    if (!known) apiRoutes.push((known = { pattern: new RegExp(source), methods: new Set() }));
    for (const method of [route.method].flat()) known.methods.add(method);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = new Set(apiRoutes.filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]));
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(', ');
      void reply
        .status(405)
        .header('allow', allow)
        .send(new PulseError('method_not_allowed', `${request.method} is not allowed on ${path}; it takes ${allow}.`).toBody());
      return;
    }
    void reply.status(404).send(new PulseError('not_found', `No route ${request.method} ${path}`).toBody());
  });
}
