import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { assetDir } from '../static/assets.ts';

/** Where `npm run build` in packages/panel puts the SPA (a copy inside an installed @pulse/server). */
export const PANEL_DIST = assetDir('panel', '../../../panel/dist/');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The panel shows user-supplied avatars (any https image) and talks only to its own origin. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https: http:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse admin panel: not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1.5rem;color:#1f2937}
code{background:#f3f4f6;padding:.1rem .35rem;border-radius:4px}h1{font-size:1.4rem}</style></head>
<body><h1>The admin panel has not been built</h1>
<p>This Pulse server is running, but the files of its admin panel are missing. Build them once:</p>
<p><code>npm run build</code> (at the root of the Pulse checkout; <code>npm install</code> does it too)</p>
<p>then reload this page. The REST API, WebSocket and everything else work meanwhile.</p></body></html>`;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function securityHeaders(reply: FastifyReply): void {
  void reply
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', CSP);
}

/**
 * Serves the built SPA at /panel: files under /panel/assets/ (content-hashed, cached for a year),
 * and index.html (never cached) for every other /panel path so client-side routes load the app.
 * When the build is missing, a 503 page says how to build it.
 */
export function registerPanelStatic(app: FastifyInstance, dist: string = PANEL_DIST, onHtml?: (reply: FastifyReply, request: FastifyRequest) => void): void {
  const root = normalize(dist.endsWith(sep) ? dist : dist + sep);

  const sendIndex = async (request: FastifyRequest, reply: FastifyReply) => {
    securityHeaders(reply);
    const index = join(root, 'index.html');
    if (!(await isFile(index))) {
      return reply.status(503).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').header('retry-after', '60').send(MISSING_BUILD);
    }
    onHtml?.(reply, request);
    return reply.header('content-type', CONTENT_TYPES['.html']!).header('cache-control', 'no-cache').send(await readFile(index));
  };

  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    // Fastify has already percent-decoded the wildcard ("a%2Fb" is "a/b", "100%25" is "100%").
    const path = (request.params as { '*'?: string })['*'] ?? '';
    const file = normalize(join(root, path));
    const inside = file.startsWith(root) && !path.includes('\0');
    if (inside && path !== '' && path !== 'index.html' && (await isFile(file))) {
      securityHeaders(reply);
      const hashed = path.startsWith('assets/');
      return reply
        .header('content-type', CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
        .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'public, max-age=300')
        .send(await readFile(file));
    }
    // A missing file that looks like one (an old hashed asset, /panel/robots.txt) is a 404, not the
    // app. Deeper paths are client routes, whatever they end with (a room id may be "notes.md").
    if (path.startsWith('assets/') || (!path.includes('/') && /\.[a-z0-9]{1,6}$/i.test(path))) {
      return reply.status(404).header('content-type', 'text/plain; charset=utf-8').send('Not found');
    }
    return sendIndex(request, reply);
  };

  app.get('/panel', sendIndex);
  app.get('/panel/*', serve);
}
