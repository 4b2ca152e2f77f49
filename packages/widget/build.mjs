// Bundles the widget into one ES module (dist/pulse-widget.js) that the server serves at /sdk.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

/** The widget never opens P2P shared data: the client's P2P manager is left out (src/no-p2p.ts). */
const withoutP2P = {
  name: 'without-p2p',
  setup(b) {
    b.onResolve({ filter: /\/p2p\/manager(\.ts)?$/ }, (args) =>
      args.importer.includes('/core/') ? { path: new URL('./src/no-p2p.ts', import.meta.url).pathname } : undefined,
    );
  },
};

const outfile = new URL('./dist/pulse-widget.js', import.meta.url).pathname;
await build({
  entryPoints: [new URL('./src/index.ts', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  outfile,
  // zod is only needed on the server side of @pulse/protocol; the widget never validates with it.
  alias: {},
  // Bundle the workspaces' TypeScript sources (their "pulse-source" export), not their dist/.
  conditions: ['pulse-source'],
  plugins: [withoutP2P],
  logLevel: 'warning',
});
const bytes = readFileSync(outfile);
console.log(`[widget] ${outfile}: ${(bytes.length / 1024).toFixed(1)} KB, ${(gzipSync(bytes).length / 1024).toFixed(1)} KB gzip`);
