import { PulseError } from '@pulse/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerContext } from '../context.ts';
import { fileKey, thumbnailKey, type AttachmentService } from '../domain/attachments.ts';
import { safeFilename } from './filename.ts';

const ID = /^[A-Za-z0-9_-]{1,128}$/;

/** `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range) → inclusive offsets, or 'invalid'. */
export function parseRange(header: string, size: number): { start: number; end: number } | 'invalid' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return header.startsWith('bytes=') ? 'invalid' : undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return 'invalid';
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return 'invalid';
  return { start, end };
}

function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** GET /files/<envId>/<id>[?thumb=1]: the stored bytes, cacheable forever, seekable. */
export function registerFilesRoute(app: FastifyInstance, ctx: ServerContext, attachments: AttachmentService): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/files/:envId/:id',
    handler: async (request, reply: FastifyReply) => {
      const { envId, id } = request.params as { envId: string; id: string };
      if (!ID.test(envId) || !ID.test(id)) throw new PulseError('not_found', 'File not found.');
      const record = await ctx.store.getAttachment(envId, id);
      const thumb = (request.query as { thumb?: string }).thumb === '1';
      if (!record || (thumb && !record.thumbnailUrl)) throw new PulseError('not_found', 'File not found.');
      const key = thumb ? thumbnailKey(envId, id) : fileKey(envId, id);
      const size = await attachments.files.size(key);
      if (size === undefined) throw new PulseError('not_found', 'File not found.');

      const etag = `"${id}${thumb ? '-thumb' : ''}"`;
      // Cleaned again when served: names stored before the current rules must not mislead either.
      const filename = safeFilename(record.filename, record.mimeType);
      void reply.headers({
        'content-type': thumb ? 'image/jpeg' : record.mimeType,
        'x-content-type-options': 'nosniff',
        'content-disposition': contentDisposition(thumb ? `${filename}.jpg` : filename),
        'content-security-policy': "default-src 'none'; sandbox",
        'cross-origin-resource-policy': 'cross-origin',
        'access-control-allow-origin': '*',
        'cache-control': 'public, max-age=31536000, immutable',
        etag,
        'accept-ranges': 'bytes',
      });
      if (request.headers['if-none-match'] === etag) return reply.status(304).send();

      const rangeHeader = request.headers.range;
      // Several ranges at once are allowed to be ignored (RFC 9110): the whole file is sent.
      const range = rangeHeader && !rangeHeader.includes(',') ? parseRange(rangeHeader, size) : undefined;
      if (range === 'invalid') {
        return reply
          .status(416)
          .header('cache-control', 'no-store')
          .header('content-range', `bytes */${size}`)
          .header('content-type', 'application/json; charset=utf-8')
          .send(JSON.stringify(new PulseError('validation_failed', 'Range not satisfiable.').toBody()));
      }
      if (range) {
        void reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', range.end - range.start + 1);
        return request.method === 'HEAD' ? reply.send() : reply.send(await attachments.files.read(key, range));
      }
      void reply.header('content-length', size);
      return request.method === 'HEAD' ? reply.send() : reply.send(await attachments.files.read(key));
    },
  });
}
