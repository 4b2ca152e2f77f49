// Bundles the widget into one ES module (dist/pulse-widget.js) that the server serves at /sdk.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

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
  logLevel: 'warning',
});
const bytes = readFileSync(outfile);
console.log(`[widget] ${outfile}: ${(bytes.length / 1024).toFixed(1)} KB, ${(gzipSync(bytes).length / 1024).toFixed(1)} KB gzip`);
