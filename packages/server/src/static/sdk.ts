import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { assetDir } from './assets.ts';

const DIST = assetDir('widget', '../../../widget/dist/');
/** The client bundle (packages/core/build.mjs): dist/public/client/ when packaged, else the core workspace's build. */
const CLIENT_PACKAGED = fileURLToPath(new URL('../public/client/', import.meta.url));
const CLIENT_DIST = existsSync(CLIENT_PACKAGED) ? CLIENT_PACKAGED : fileURLToPath(new URL('../../../core/dist/sdk/', import.meta.url));
const FILES: Record<string, string> = {
  'pulse-widget.js': 'text/javascript; charset=utf-8',
  'pulse-widget.js.map': 'application/json; charset=utf-8',
  'pulse-client.js': 'text/javascript; charset=utf-8',
  'pulse-client.js.map': 'application/json; charset=utf-8',
};

/** GET /sdk/pulse-widget.js and /sdk/pulse-client.js: the widget and the client as ES modules, loadable from any origin. */
export function registerSdk(app: FastifyInstance): void {
  app.get('/sdk/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const type = FILES[file];
    if (!type) return reply.status(404).send({ error: { code: 'not_found', message: 'No such SDK file.' } });
    const path = (file.startsWith('pulse-client') ? CLIENT_DIST : DIST) + file;
    let info;
    try {
      info = await stat(path);
    } catch {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send(`The ${file.startsWith('pulse-client') ? 'client bundle' : 'widget'} has not been built: run \`npm run build\` (npm ci does it for you).`);
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    void reply.headers({
      'content-type': type,
      etag,
      // Revalidate every time: the URL is stable across releases, the ETag is not.
      'cache-control': 'public, max-age=0, must-revalidate',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    });
    if (request.headers['if-none-match'] === etag) return reply.status(304).send();
    return reply.send(await readFile(path));
  });
}
