import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup } from './helpers/hardening.ts';

/** Issue 11: `npm audit` needs the network; scripts/check-deps.mjs enforces the dependency policy offline. */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/check-deps.mjs');
const check = (dir?: string) => spawnSync(process.execPath, [SCRIPT, ...(dir ? [dir] : [])], { encoding: 'utf8', env: { PATH: process.env.PATH } });

describe('dependency policy check', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  /** A copy of the workspace's manifests and lockfile, to tamper with. */
  function copyOfManifests(): string {
    const dir = cleanup.tempDir('pulse-deps-');
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    for (const w of JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces as string[]) {
      mkdirSync(join(dir, w), { recursive: true });
      copyFileSync(join(ROOT, w, 'package.json'), join(dir, w, 'package.json'));
    }
    return dir;
  }
  const edit = (file: string, change: (json: any) => void) => {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    change(json);
    writeFileSync(file, JSON.stringify(json, null, 2));
  };

  it('passes on the repository as it is', () => {
    expect(execFileSync(process.execPath, [SCRIPT], { encoding: 'utf8' })).toMatch(/Dependency policy: ok/);
  });

  it('fails on floating specs, git dependencies, a stale lockfile and unlisted install scripts', () => {
    const dir = copyOfManifests();
    edit(join(dir, 'package.json'), (p) => {
      p.devDependencies.vitest = 'latest';
      p.devDependencies['left-pad'] = 'github:someone/left-pad';
      delete p.allowScripts.esbuild;
    });
    edit(join(dir, 'packages/server/package.json'), (p) => {
      p.dependencies.fastify = '*';
    });
    const r = check(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('devDependencies.vitest is "latest": pin a version');
    expect(r.stderr).toContain('devDependencies.left-pad is "github:someone/left-pad"');
    expect(r.stderr).toContain('devDependencies.left-pad is not in package-lock.json');
    expect(r.stderr).toContain('packages/server: dependencies.fastify is "*"');
    expect(r.stderr).toMatch(/esbuild@\S+ \(node_modules\/esbuild\) runs an install script and is not in "allowScripts"/);
  });

  it('fails without a lockfile, or with a package from outside the registry', () => {
    const dir = copyOfManifests();
    edit(join(dir, 'package-lock.json'), (l) => {
      l.packages['node_modules/ws'].resolved = 'https://evil.example.com/ws-8.0.0.tgz';
    });
    expect(check(dir).stderr).toContain('node_modules/ws: resolved from https://evil.example.com/ws-8.0.0.tgz, not the npm registry');
    const none = cleanup.tempDir('pulse-deps-');
    copyFileSync(join(ROOT, 'package.json'), join(none, 'package.json'));
    const r = check(none);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('package-lock.json is missing');
  });
});
