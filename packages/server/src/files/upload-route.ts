import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { PulseError, type Attachment } from '@pulse/protocol';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { VerifiedToken } from '../auth/tokens.ts';
import type { ServerContext } from '../context.ts';
import type { AttachmentService } from '../domain/attachments.ts';
import { STAGING_SWEEP_MS } from './file-store.ts';

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, DELETE, OPTIONS',
  'access-control-allow-headers': 'Content-Type, X-Pulse-Key, X-Pulse-Token',
  'access-control-max-age': '600',
};

type FileHandler = (file: Readable, filename: string) => Promise<Attachment>;

/**
 * Reads the one `file` part of a multipart body and hands it to the attachment service. When
 * `signal` aborts (the client went away), reading stops at once: the parser and the file
 * stream are destroyed, which makes the service discard what it staged.
 */
function receiveFile(request: FastifyRequest, handle: FileHandler, limitBytes: number, signal: AbortSignal): Promise<Attachment> {
  let onAbort = () => {};
  return new Promise<Attachment>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let parser: BusboyInstance;
    try {
      parser = new Busboy({ headers: request.headers as never, limits: { fileSize: limitBytes, files: 5, fields: 10, parts: 15, fieldSize: 1024 } });
    } catch {
      reject(new PulseError('no_file', 'Send multipart/form-data with the file in a field named "file".'));
      return;
    }
    let seen = false;
    let file: Readable | undefined;
    onAbort = () => {
      request.raw.unpipe(parser);
      file?.destroy();
      parser.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    parser.on('file', (field: string, stream: Readable, filename: string) => {
      if (field !== 'file' || seen) {
        stream.resume();
        return;
      }
      seen = true;
      file = stream;
      handle(stream, filename ?? '').then(resolve, reject);
    });
    parser.on('error', () => reject(new PulseError('no_file', 'The multipart body is malformed.')));
    parser.on('finish', () => {
      if (!seen) reject(new PulseError('no_file'));
    });
    request.raw.pipe(parser);
  }).finally(() => signal.removeEventListener('abort', onAbort));
}

/**
 * Aborts when the client goes away before its upload is answered: the connection closes
 * while the body is still arriving, or before the answer could be written.
 */
function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  const gone = () => {
    if (!abort.signal.aborted) abort.abort(new PulseError('no_file', 'The client went away before the upload was complete.'));
  };
  request.raw.once('close', () => {
    if (!request.raw.complete) gone();
  });
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone();
  });
  if ((request.raw.destroyed && !request.raw.complete) || reply.raw.destroyed) gone();
  return abort.signal;
}

/** POST /api/v1/upload: publishable key + user token, multipart field `file`. */
export function registerUploadRoute(app: FastifyInstance, ctx: ServerContext, attachments: AttachmentService): void {
  const verified = new WeakMap<FastifyRequest, VerifiedToken>();

  // The upload's body is read by the route itself, as a stream, so it can stop at the size limit.
  // Every other route takes JSON only: a multipart body there is refused, not taken for no body.
  app.addContentTypeParser('multipart/form-data', (request, _payload, done) => {
    // (An unknown path is left to its 404.)
    if (request.routeOptions.url === undefined || (request.method === 'POST' && request.routeOptions.url === '/api/v1/upload')) return done(null, undefined);
    done(new PulseError('unsupported_media_type'), undefined);
  });

  // Staged files are deleted by the upload that made them; this catches whatever a crash or a bug
  // left behind (the server also cleans the folder when it starts).
  const sweeper = setInterval(() => {
    void attachments.files.cleanStaging().catch((err: unknown) => app.log.warn({ err }, 'sweeping staged uploads failed'));
  }, STAGING_SWEEP_MS);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));

  /** The user of an upload request (CORS headers set first, so that browsers read its errors too). */
  const uploader = (request: FastifyRequest, reply: FastifyReply): Promise<VerifiedToken> => {
    void reply.headers(CORS_HEADERS);
    const pk = request.headers['x-pulse-key'];
    const token = request.headers['x-pulse-token'];
    if (typeof pk !== 'string' || typeof token !== 'string') {
      throw new PulseError('unauthorized', 'Send the publishable key in X-Pulse-Key and the user token in X-Pulse-Token.');
    }
    return ctx.tokens.verify(pk, token);
  };

  for (const url of ['/api/v1/upload', '/api/v1/upload/:attachmentId']) {
    app.options(url, async (_request, reply) => {
      void reply.headers(CORS_HEADERS).status(204).send();
      return reply;
    });
  }

  // The user's own upload, not attached to a comment: removed from the composer before sending.
  app.delete('/api/v1/upload/:attachmentId', async (request, reply) => {
    const auth = await uploader(request, reply);
    await attachments.deleteUnattached(auth.environmentId, auth.user.externalId, (request.params as { attachmentId: string }).attachmentId);
    return reply.status(204).send();
  });

  app.route({
    method: 'POST',
    url: '/api/v1/upload',
    onRequest: async (request, reply) => {
      verified.set(request, await uploader(request, reply));
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const auth = verified.get(request)!;
      // Watch for the client leaving from the start: it may go while we look up the user.
      const signal = clientGone(request, reply);
      let release: (() => void) | undefined;
      try {
        // Charged on arrival, before any work; and no body is read when it could not be checked.
        attachments.uploadLimiter.take(auth.environmentId, auth.user.externalId);
        const config = await ctx.configs.require(auth.environmentId);
        release = await attachments.reservePendingRoom(auth.environmentId, auth.user.externalId, config);
        if (attachments.mediaQueue.ownerFull(`${auth.environmentId}\u0000${auth.user.externalId}`)) throw attachments.mediaQueue.ownerBusyError();
        if (attachments.mediaQueue.full) throw attachments.mediaQueue.busyError();
        if (!request.headers['content-type']?.startsWith('multipart/form-data')) {
          throw new PulseError('no_file', 'Send multipart/form-data with the file in a field named "file".');
        }
        // The token is the user's first use: they exist from now on.
        await ctx.collab.upsertUser(auth.environmentId, auth.user);
        const limitBytes = config.maxFileSizeMb * 1024 * 1024;
        const attachment = await receiveFile(
          request,
          (file, filename) => attachments.upload(auth.environmentId, auth.user.externalId, config, file, filename, signal),
          limitBytes,
          signal,
        );
        void reply.status(200).send(attachment);
      } catch (err) {
        // Stop reading whatever is left of a refused upload: the connection closes after the answer.
        if (!request.raw.readableEnded && !signal.aborted) {
          void reply.header('connection', 'close');
          request.raw.unpipe();
          reply.raw.once('finish', () => request.raw.destroy());
        }
        throw err;
      } finally {
        // Stored by now (and counted as not attached), or not at all.
        release?.();
      }
      return reply;
    },
  });
}
