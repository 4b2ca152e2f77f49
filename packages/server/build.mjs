// After tsc: copies what the server serves but does not compile (the widget and client bundles,
// the panel, the demo page) into dist/public/, so an
// installed @pulse/server is the whole product (src/static/assets.ts looks there first).
// The widget, core and the panel must be built before (the root `npm run build` orders it).
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';

const here = (path) => new URL(path, import.meta.url).pathname;
const sources = {
  widget: { from: here('../widget/dist/'), files: ['pulse-widget.js', 'pulse-widget.js.map'] },
  client: { from: here('../core/dist/sdk/'), files: ['pulse-client.js', 'pulse-client.js.map'] },
  panel: { from: here('../panel/dist/') },
  demo: { from: here('../../examples/demo/'), files: ['index.html'] },
};

const out = here('./dist/public/');
rmSync(out, { recursive: true, force: true });
for (const [name, { from, files }] of Object.entries(sources)) {
  const check = files ? from + files[0] : from + 'index.html';
  if (!existsSync(check)) {
    console.error(`[server] ${check} is missing: build the ${name} first (npm run build at the repository root).`);
    process.exit(1);
  }
  mkdirSync(out + name, { recursive: true });
  if (files) for (const f of files) cpSync(from + f, out + name + '/' + f);
  else cpSync(from, out + name, { recursive: true });
}
console.log(`[server] copied the widget, client, panel and demo into ${out}`);

// Worker threads run as plain JavaScript files beside the module that starts them.
for (const worker of ['files/media-probe.mjs', 'webhooks/send-worker.mjs']) cpSync(here(`./src/${worker}`), here(`./dist/${worker}`));
