import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../src/auth/passwords.ts';
import { VERSION } from '../src/version.ts';
import { Cleanup, cleanEnv, runCliWithInput } from './helpers/hardening.ts';
import { PULSE_BIN, runCli } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';

/** Polls until `check` passes or `ms` elapse; returns how long it took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`pulse CLI on ${driver}`, { timeout: 90_000 }, () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer(driver);
    });
    afterAll(() => t.close());
    const cli = (...args: string[]) => runCli(args, t.childEnv);

    it('creates environments whose keys work on the running server at once', async () => {
      const created = await cli('env', 'create', 'Staging', '--json');
      expect(created.code).toBe(0);
      expect(Object.keys(created.json).sort()).toEqual(['id', 'name', 'publishableKey', 'secretKey']);
      expect(created.json).toMatchObject({ name: 'Staging', id: expect.stringMatching(/^env_/) });
      expect(created.json.publishableKey).toMatch(/^pk_[0-9a-f]{48}$/);
      expect(created.json.secretKey).toMatch(/^sk_[0-9a-f]{48}$/);
      expect(created.stdout.trim().split('\n')).toHaveLength(1);
      expect((await t.api('GET', '/api/v1/rooms', undefined, created.json.secretKey)).status).toBe(200);

      const list = await cli('env', 'list', '--json');
      expect(list.json.environments.map((e: any) => e.name)).toEqual(['Development', 'Staging']);
      expect(list.json.environments[0].counts).toEqual({ rooms: 0, threads: 0, users: 0, comments: 0 });
      // The secret is never printed again.
      const keys = await cli('env', 'keys', created.json.id, '--json');
      expect(JSON.stringify(keys.json)).not.toContain(created.json.secretKey);
      expect(keys.json.keys.find((k: any) => k.kind === 'secret').prefix).toBe(created.json.secretKey.slice(0, 11));
    });

    it('renames', async () => {
      const r = await cli('env', 'rename', t.envId, 'Dev', 'Box', '--json');
      expect(r.json).toEqual({ id: t.envId, name: 'Dev Box' });
      expect((await t.server.ctx.environments.get(t.envId)).name).toBe('Dev Box');
    });

    it('rotates: the old pair stops working on the running server, the new pair works', async () => {
      const env = (await cli('env', 'create', 'Rotating', '--json')).json;
      const rotated = await cli('env', 'rotate', env.id, '--json');
      expect(rotated.code).toBe(0);
      expect(rotated.json.publishableKey).toMatch(/^pk_/);
      expect(rotated.json.secretKey).toMatch(/^sk_/);
      expect(rotated.json.publishableKey).not.toBe(env.publishableKey);
      const old = await t.api('GET', '/api/v1/rooms', undefined, env.secretKey);
      expect(old.status).toBe(401);
      expect(old.body.error.code).toBe('key_revoked');
      expect((await t.api('GET', '/api/v1/rooms', undefined, rotated.json.secretKey)).status).toBe(200);
      // An option it does not take, or an extra argument, is refused before anything changes.
      for (const extra of [['--dry-run'], ['extra']]) {
        const refused = await cli('env', 'rotate', env.id, ...extra, '--json');
        expect(refused.code).toBe(2);
        expect(JSON.parse(refused.stderr).error).toMatchObject({ code: 'usage', message: expect.stringMatching(/^env rotate: (unknown option "--dry-run"|unexpected "extra")$/) });
      }
      expect((await t.api('GET', '/api/v1/rooms', undefined, rotated.json.secretKey)).status).toBe(200);
    });

    it('revokes one key by prefix or id, for good', async () => {
      const env = (await cli('env', 'create', 'Revoking', '--json')).json;
      const r = await cli('env', 'revoke', env.id, env.secretKey.slice(0, 11), '--json');
      expect(r.code).toBe(0);
      expect(r.json).toMatchObject({ kind: 'secret', revokedAt: expect.any(String) });
      expect((await t.api('GET', '/api/v1/rooms', undefined, env.secretKey)).status).toBe(401);
      const missing = await cli('env', 'revoke', env.id, 'key_nope');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('key_nope');
    });

    it('changes config, validated, and the running server applies it within a second', async () => {
      await t.api('PUT', '/api/v1/users/u1', { name: 'U' });
      const thread = (await t.api('POST', '/api/v1/rooms/cfg/threads', { userId: 'u1', body: 'hi' })).body.thread;
      const commentId = thread.comments[0].id;
      // Prime the server's config cache with allowReactions on.
      expect((await t.api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: 'u1', emoji: '👍' })).status).toBe(201);

      const r = await cli('env', 'config', t.envId, 'allowReactions=false', 'maxFileSizeMb=25', '--json');
      expect(r.code).toBe(0);
      expect(Object.keys(r.json)).toHaveLength(21);
      expect(r.json).toMatchObject({ allowReactions: false, maxFileSizeMb: 25, allowP2P: false, p2pMeshLimit: 6 });
      const took = await within(1000, async () => {
        const res = await t.api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: 'u1', emoji: '🎉' });
        return res.status === 403 && res.body.error.code === 'feature_disabled';
      });
      expect(took).toBeLessThan(1000);

      const shown = await cli('env', 'config', t.envId, '--json');
      expect(shown.json.allowReactions).toBe(false);
    });

    it('rejects unknown settings and out-of-range values with exit code 2 and a clear message', async () => {
      const unknown = await cli('env', 'config', t.envId, 'allowTeleport=true');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('unknown setting "allowTeleport"');
      const range = await cli('env', 'config', t.envId, 'maxFileSizeMb=0', '--json');
      expect(range.code).toBe(2);
      expect(range.stdout).toBe('');
      expect(JSON.parse(range.stderr).error).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('maxFileSizeMb') });
      const notBool = await cli('env', 'config', t.envId, 'allowImages=maybe');
      expect(notBool.code).toBe(2);
      expect((await cli('env', 'config', 'env_missing', '--json')).code).toBe(2);
      expect((await t.server.ctx.environments.config(t.envId)).maxFileSizeMb).toBe(25);
    });

    it('creates admins, refusing duplicates and bad input', async () => {
      const admin = (input: string, ...args: string[]) => runCliWithInput(['admin', 'create', '--password-stdin', ...args], t.childEnv, input);
      const ok = await admin('correct horse\n', '--email', 'Ops@Example.com', '--name', 'Ops', '--json');
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.json).toMatchObject({ email: 'ops@example.com', name: 'Ops', role: 'admin' });
      const stored = await t.server.ctx.store.findAdminByEmail('ops@example.com');
      expect(stored!.passwordHash).toMatch(/^scrypt\$/);
      expect(await verifyPassword('correct horse', stored!.passwordHash)).toBe(true); // one trailing newline is not part of it
      expect(stored!.passwordHash).not.toContain('correct horse');
      expect((await admin('another one', '--email', 'ops@example.com')).code).toBe(2);
      expect((await admin('short', '--email', 'm@example.com')).code).toBe(2);
      expect((await admin('long enough', '--email', 'm@example.com', '--role', 'owner')).code).toBe(2);
      const member = await admin('long enough', '--email', 'm@example.com', '--role', 'member', '--json');
      expect(member.json.role).toBe('member');
      // The team's audit log names both, added by the CLI, as for members added in the panel.
      const added = (await t.server.ctx.store.listAudit(null, { offset: 0, limit: 50 })).items.filter((e) => e.action === 'team.added');
      expect(added.map((e) => [e.detail, e.actorName.startsWith('CLI')])).toEqual(
        expect.arrayContaining([
          ['ops@example.com as admin', true],
          ['m@example.com as member', true],
        ]),
      );
      // No terminal to prompt in, no --password-stdin: the one line that says what to do, not the whole usage.
      const noTty = await runCli(['admin', 'create', '--email', 'n@example.com'], t.childEnv);
      expect(noTty.code).toBe(2);
      expect(noTty.stderr).toMatch(/^pulse: no password: pipe it with --password-stdin/m);
      expect(noTty.stderr).not.toContain('Usage:');
    });

    it('prints usage for unknown commands', async () => {
      const r = await cli('frobnicate');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('Usage: pulse');
    });
  });
}

describe('pulse <command> --help', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('prints the command\'s usage and exits 0 without opening, or needing, a database', async () => {
    const cases: [string[], string, string][] = [
      [['env', '--help'], 'Usage: pulse env <command>', 'env rotate <envId>'],
      [['env', 'config', 'env_x', '--help'], 'Usage: pulse env <command>', 'env config <envId> [key=value …]'],
      [['admin', 'create', '-h'], 'Usage: pulse admin <command>', 'admin create --email E'],
      [['start', '--help'], 'Usage: pulse start [options]', 'start [--demo]'],
      [['help', 'env'], 'Usage: pulse env <command>', 'env create <name>'],
      [['help', '-h'], 'Usage: pulse <command>', 'webhook add <envId> <url>'],
      [['--help'], 'Usage: pulse <command>', 'webhook add <envId> <url>'],
    ];
    for (const [args, header, line] of cases) {
      const dataDir = cleanup.tempDir();
      const r = await runCli([...args, '--data-dir', dataDir], cleanEnv());
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout.startsWith(header), r.stdout).toBe(true);
      expect(r.stdout).toContain(line);
      expect(r.stderr).toBe('');
      expect(readdirSync(dataDir), args.join(' ')).toEqual([]);
    }
    // Help is answered before the options: a bad server variable does not get in its way.
    expect((await runCli(['env', '-h'], cleanEnv({ PULSE_PORT: 'abc' }))).code).toBe(0);
    // Help on something that is not a command is a wrong command line.
    const bogus = await runCli(['help', 'bogus'], cleanEnv());
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain('no help on "bogus": pulse help [start|env|admin|webhook]');
  });

  it('prints its version, as text or JSON, without a database', async () => {
    const dataDir = cleanup.tempDir();
    for (const flag of ['--version', '-v', 'version']) {
      const r = await runCli([flag, '--data-dir', dataDir], cleanEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
    }
    expect(JSON.parse((await runCli(['--version', '--json', '--data-dir', dataDir], cleanEnv())).stdout)).toEqual({ version: VERSION });
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('runs as a script too (node …/cli.js), not only through the pulse command', () => {
    const cli = new URL('../src/cli.ts', import.meta.url).pathname;
    const out = execFileSync(process.execPath, ['--conditions=pulse-source', '--import', 'tsx', cli, '--version'], { env: cleanEnv(), encoding: 'utf8' });
    expect(out).toBe(`${VERSION}\n`);
  });

  it('names every command that takes --json', async () => {
    const r = await runCli(['--help'], cleanEnv());
    expect(r.stdout).toContain('Add --json to any env, admin or webhook command');
  });
});

describe('pulse with a bad server variable', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('exits 1 with code "configuration"', async () => {
    const r = await runCli(['env', 'list', '--json', '--data-dir', cleanup.tempDir()], cleanEnv({ PULSE_WEBHOOKS_ALLOW_PRIVATE: 'true' }));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr).error).toMatchObject({ code: 'configuration', message: expect.stringContaining('PULSE_WEBHOOKS_ALLOW_PRIVATE') });
  });
});

describe('pulse start with a named data dir', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('suggests commands that name it, quoted for the shell, so they work from any directory', async () => {
    const dataDir = join(cleanup.tempDir(), "Ann's data");
    mkdirSync(dataDir);
    const server = await cleanup.start(cleanEnv(), ['--data-dir', dataDir]);
    const quoted = `'${dataDir.replace(/'/g, `'\\''`)}'`;
    expect(server.stdout()).toContain(`rotate later: npx pulse --data-dir ${quoted} env rotate <envId>`);
    const suggested = /or here:\s+npx pulse (.*) admin create/.exec(server.stdout())?.[1];
    expect(suggested).toBe(`--data-dir ${quoted}`);
    // Run as printed, from another directory, it finds the server's database.
    const list = execFileSync('sh', ['-c', `"${process.execPath}" "${PULSE_BIN}" ${suggested} env list --json`], {
      cwd: cleanup.tempDir(),
      env: cleanEnv(),
      encoding: 'utf8',
    });
    expect(JSON.parse(list).environments.map((e: any) => e.name)).toEqual(['Development']);
    await server.stop();
  });
});
