#!/usr/bin/env node
// Dependency policy, checked offline (no advisory service needed): `npm run check:deps`.
//
// 1. package-lock.json exists (lockfileVersion 2 or 3) and is in sync with every package.json of
//    the workspace: each declared dependency has the same spec in the lockfile, and nothing is in
//    the lockfile's declarations that package.json dropped.
// 2. Every declared version is pinned (1.2.3), a caret or tilde range (^1.2.3, ~1.2.3) or a bare
//    major.minor (1.56): no `*`, `latest`, `>=`, `x` ranges, `||` (except between allowed ranges in peerDependencies), tags, git, URL, file or link specs.
// 3. Every package in the lockfile comes from the npm registry (or is one of our workspaces): a
//    registry version, and a "resolved" URL on registry.npmjs.org where the lockfile records one.
// 4. Packages with install scripts (`hasInstallScript` in the lockfile) are listed in the root
//    package.json's "allowScripts": true lets it run them; false records that it was reviewed and
//    must not need them. Anything unlisted fails the check.
//
// Exit code 0 when the policy holds, 1 with one line per problem otherwise.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dirArg = process.argv.slice(2).find((a) => !a.startsWith('--'));
const root = resolve(dirArg ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const problems = [];
const notes = [];
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

const DEP_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];
const ALLOWED_SPEC = /^(\^|~)?\d+\.\d+(\.\d+)?(-[0-9A-Za-z.-]+)?$/;
// A peer dependency may accept several majors (`^18.2.0 || ^19.0.0`): each alternative must be allowed.
const allowedSpec = (field, spec) =>
  field === 'peerDependencies' ? spec.split('||').every((alt) => ALLOWED_SPEC.test(alt.trim())) : ALLOWED_SPEC.test(spec);
const REGISTRY = 'https://registry.npmjs.org/';

const rootPkg = readJson(join(root, 'package.json'));
const lockFile = join(root, 'package-lock.json');
if (!existsSync(lockFile)) {
  problems.push('package-lock.json is missing: run `npm install` and commit it');
} else {
  const lock = readJson(lockFile);
  if (!(lock.lockfileVersion >= 2)) problems.push(`package-lock.json has lockfileVersion ${lock.lockfileVersion}; expected 2 or 3 (npm 7+)`);
  const entries = lock.packages ?? {};

  // 1 + 2: every package.json of the workspace against the lockfile's copy of its declarations.
  const workspaces = rootPkg.workspaces ?? [];
  for (const location of ['', ...workspaces]) {
    const pkgFile = join(root, location, 'package.json');
    if (!existsSync(pkgFile)) {
      problems.push(`${location}/package.json is listed as a workspace but missing`);
      continue;
    }
    const pkg = readJson(pkgFile);
    const locked = entries[location];
    const where = location || 'package.json (root)';
    if (!locked) {
      problems.push(`${where}: not in package-lock.json: run \`npm install\``);
      continue;
    }
    for (const field of DEP_FIELDS) {
      const declared = pkg[field] ?? {};
      const inLock = locked[field] ?? {};
      for (const [name, spec] of Object.entries(declared)) {
        if (!allowedSpec(field, spec)) problems.push(`${where}: ${field}.${name} is "${spec}": pin a version or use a ^/~ range`);
        if (inLock[name] === undefined) problems.push(`${where}: ${field}.${name} is not in package-lock.json: run \`npm install\``);
        else if (inLock[name] !== spec) problems.push(`${where}: ${field}.${name} is "${spec}" but "${inLock[name]}" in package-lock.json: run \`npm install\``);
      }
      for (const name of Object.keys(inLock)) {
        if (declared[name] === undefined) problems.push(`${where}: package-lock.json still declares ${field}.${name}: run \`npm install\``);
      }
    }
  }

  // 3 + 4: every installed package.
  const allow = rootPkg.allowScripts ?? {};
  for (const [path, entry] of Object.entries(entries)) {
    if (path === '' || entry.link) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const inWorkspace = !path.includes('node_modules/');
    if (!inWorkspace && entry.resolved && !entry.resolved.startsWith(REGISTRY)) {
      problems.push(`${path}: resolved from ${entry.resolved}, not the npm registry`);
    }
    // A git, tarball-URL or file dependency is recorded with that source as its version.
    if (!inWorkspace && entry.version && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(entry.version)) {
      problems.push(`${path}: version "${entry.version}" is not a registry version`);
    }
    if (entry.hasInstallScript) {
      if (allow[name] === true) notes.push(`${name}@${entry.version}: install script allowed`);
      else if (allow[name] === false) notes.push(`${name}@${entry.version}: has an install script, reviewed and not allowed (install must not depend on it)`);
      else problems.push(`${name}@${entry.version} (${path}) runs an install script and is not in "allowScripts" of package.json: review it, then list it`);
    }
  }
}

if (process.argv.includes('--verbose')) for (const note of notes) console.log(`note: ${note}`);
if (problems.length) {
  console.error(`Dependency policy: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log(`Dependency policy: ok (${Object.keys(readJson(lockFile).packages ?? {}).length - 1} locked packages)`);
