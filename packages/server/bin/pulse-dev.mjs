#!/usr/bin/env node
// `pulse` from the TypeScript sources, for working inside the repository: no build step between
// an edit and a run. Tests spawn this (test/helpers/process.ts). Not published: the package's
// `pulse` is bin/pulse.mjs, which runs the compiled dist/.
//
// Workspace packages export their sources under the "pulse-source" condition (see their
// package.json); the hook below turns it on for this process, tsx compiles the .ts on the fly.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

const hook = `export async function resolve(specifier, context, next) {
  return next(specifier, { ...context, conditions: ['pulse-source', ...context.conditions] });
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
registerTsx();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
