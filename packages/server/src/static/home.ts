import type { FastifyInstance } from 'fastify';
import { VERSION } from '../version.ts';

/** Pulse's icon (the panel's too): every page the server serves gets it at /favicon.ico, where browsers look. */
const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#4f46e5"/>' +
  '<path d="M6 17h5l3-7 4 13 3-6h5" fill="none" stroke="white" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/></svg>';

const page = (demo: boolean) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse ${VERSION}</title>
<style>
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:42rem;margin:8vh auto;padding:0 1.5rem;color:#1f2937}
h1{font-size:1.5rem;margin:0 0 .25rem}p.lead{color:#4b5563;margin:0 0 2rem}
ul{list-style:none;padding:0;margin:0}li{border:1px solid #e5e7eb;border-radius:10px;padding:.9rem 1.1rem;margin:0 0 .75rem}
a{color:#4f46e5;font-weight:600;text-decoration:none}a:hover{text-decoration:underline}
li span{display:block;color:#4b5563;font-size:.93rem}code{background:#f3f4f6;padding:.05rem .35rem;border-radius:4px;font-size:.9em}
footer{margin-top:2rem;color:#6b7280;font-size:.85rem}
</style></head>
<body>
<h1>Pulse is running</h1>
<p class="lead">Self-hosted live cursors, presence and comments for any web page.</p>
<ul>
<li><a href="/panel">Admin panel</a><span>Environments, API keys, settings, team and the data your users create.</span></li>
${
  demo
    ? '<li><a href="/demo/">Demo</a><span>A sample page with the widget: open it in two windows.</span></li>'
    : '<li>Demo <span>Off on this server. Start it with <code>pulse start --demo</code> (or <code>PULSE_DEMO=on</code>) to try the widget on a sample page.</span></li>'
}
<li><a href="/api/v1/openapi.json">REST API reference</a><span>The OpenAPI document of every endpoint; your backend calls them with the secret key.</span></li>
<li><a href="/sdk/pulse-widget.js">Widget</a><span>Add it to a page: <code>&lt;script type="module" src="/sdk/pulse-widget.js"&gt;&lt;/script&gt;</code> and a <code>&lt;pulse-widget&gt;</code> element.</span></li>
<li>Documentation<span>The guides (quickstart, widget, React, REST API, self-hosting) are in the <code>docs/</code> folder of the Pulse repository; each npm package has a README.</span></li>
</ul>
<footer>Pulse ${VERSION} · health: <a href="/healthz">/healthz</a></footer>
</body></html>`;

/** GET /: a small start page linking the panel, the demo and the docs, instead of a 404. */
export function registerHome(app: FastifyInstance, demo: boolean): void {
  const html = page(demo);
  app.get('/favicon.ico', async (_request, reply) => reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(ICON_SVG));
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
      .send(html),
  );
}
