import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { PulseError, type Attachment } from '@pulse/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { VerifiedToken } from '../auth/tokens.ts';
import type { ServerContext } from '../context.ts';
import type { AttachmentService } from '../domain/attachments.ts';

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, X-Pulse-Key, X-Pulse-Token',
  'access-control-max-age': '600',
};

/** Reads the one `file` part of a multipart body and hands it to the attachment service. */
function receiveFile(request: FastifyRequest, handle: (file: NodeJS.ReadableStream & { on: any }, filename: string) => Promise<Attachment>, limitBytes: number) {
  return new Promise<Attachment>((resolve, reject) => {
    let parser: BusboyInstance;
    try {
      parser = new Busboy({ headers: request.headers as never, limits: { fileSize: limitBytes, files: 5, fields: 10, parts: 15, fieldSize: 1024 } });
    } catch {
      reject(new PulseError('no_file', 'Send multipart/form-data with the file in a field named "file".'));
      return;
    }
    let seen = false;
    parser.on('file', (field: string, stream: NodeJS.ReadableStream & { resume(): void }, filename: string) => {
      if (field !== 'file' || seen) {
        stream.resume();
        return;
      }
      seen = true;
      handle(stream, filename ?? '').then(resolve, reject);
    });
    parser.on('error', () => reject(new PulseError('no_file', 'The multipart body is malformed.')));
    parser.on('finish', () => {
      if (!seen) reject(new PulseError('no_file'));
    });
    request.raw.pipe(parser);
  });
}

/** POST /api/v1/upload: publishable key + user token, multipart field `file`. */
export function registerUploadRoute(app: FastifyInstance, ctx: ServerContext, attachments: AttachmentService): void {
  const verified = new WeakMap<FastifyRequest, VerifiedToken>();

  // The body is read by the route itself, as a stream, so it can stop at the size limit.
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null, undefined));

  app.options('/api/v1/upload', async (_request, reply) => {
    void reply.headers(CORS_HEADERS).status(204).send();
    return reply;
  });

  app.route({
    method: 'POST',
    url: '/api/v1/upload',
    onRequest: async (request, reply) => {
      void reply.headers(CORS_HEADERS);
      const pk = request.headers['x-pulse-key'];
      const token = request.headers['x-pulse-token'];
      if (typeof pk !== 'string' || typeof token !== 'string') {
        throw new PulseError('unauthorized', 'Send the publishable key in X-Pulse-Key and the user token in X-Pulse-Token.');
      }
      verified.set(request, await ctx.tokens.verify(pk, token));
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const auth = verified.get(request)!;
      if (!request.headers['content-type']?.startsWith('multipart/form-data')) {
        throw new PulseError('no_file', 'Send multipart/form-data with the file in a field named "file".');
      }
      // The token is the user's first use: they exist from now on.
      await ctx.collab.upsertUser(auth.environmentId, auth.user);
      const config = await ctx.configs.require(auth.environmentId);
      const limitBytes = config.maxFileSizeMb * 1024 * 1024;
      try {
        const attachment = await receiveFile(
          request,
          (file, filename) => attachments.upload(auth.environmentId, auth.user.externalId, config, file as never, filename),
          limitBytes,
        );
        void reply.status(200).send(attachment);
      } catch (err) {
        // Stop reading whatever is left of a refused upload: the connection closes after the answer.
        if (!request.raw.readableEnded) {
          void reply.header('connection', 'close');
          request.raw.unpipe();
          reply.raw.once('finish', () => request.raw.destroy());
        }
        throw err;
      }
      return reply;
    },
  });
}
