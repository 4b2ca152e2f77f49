#!/usr/bin/env node
// The `pulse` command: runs the compiled server (dist/, built by `npm run build`).
// Inside the Pulse repository, tests and `npm run pulse:dev` use bin/pulse-dev.mjs, which runs
// the TypeScript sources instead.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('pulse: the server has not been built (dist/cli.js is missing). Run `npm run build` in the Pulse checkout.');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
