// Bundles the client into one ES module (dist/sdk/pulse-client.js) that the server serves at
// /sdk/pulse-client.js, for pages without a bundler. Yjs is bundled in; zod is not needed (the
// client imports only @pulse/protocol/lite).
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const outfile = new URL('./dist/sdk/pulse-client.js', import.meta.url).pathname;
await build({
  entryPoints: [new URL('./src/index.ts', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  outfile,
  // Bundle the workspaces' TypeScript sources (their "pulse-source" export), not their dist/.
  conditions: ['pulse-source'],
  // The `ws` fallback for Node is a dynamic import by variable name: never reached in browsers.
  logLevel: 'warning',
});
const bytes = readFileSync(outfile);
console.log(`[core] ${outfile}: ${(bytes.length / 1024).toFixed(1)} KB, ${(gzipSync(bytes).length / 1024).toFixed(1)} KB gzip`);
