import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup, cleanEnv, modeOf } from './helpers/hardening.ts';
import { PULSE_BIN } from './helpers/process.ts';
import { PanelClient } from './panel-client.ts';

/**
 * Issue 11: the first-run `sk_` and the setup-token URL went to stdout (and so to every log
 * collector), and `pulse admin create --password` put the password in argv (visible in `ps` to
 * every local user, and kept in shell history).
 */

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs `pulse …` under a pseudo-terminal (util-linux `script`), in its own process group. */
function underTty(args: string[], env: NodeJS.ProcessEnv) {
  const command = [process.execPath, PULSE_BIN, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async waitFor(pattern: RegExp, ms = 30_000) {
      const start = Date.now();
      while (!pattern.test(out)) {
        if (Date.now() - start > ms || child.exitCode !== null) throw new Error(`no ${pattern} in:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGTERM'); // the group this test started: script and pulse under it
      } catch {
        // already gone
      }
      const hard = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 5000);
      await exited;
      clearTimeout(hard);
    },
  };
}

describe('secrets stay out of logs and the process list', { timeout: 90_000 }, () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('with stdout going to a log, the first-run secret key and setup link go to 0600 files, not stdout', async () => {
    const dataDir = join(cleanup.tempDir(), 'data');
    const server = await cleanup.start(cleanEnv({ PULSE_DATA_DIR: dataDir }));
    try {
      const log = server.output();
      // The attack: read the log. No secret key, no setup token in it.
      expect(log).not.toMatch(/sk_[0-9a-f]{8}/);
      expect(log).not.toMatch(/setup\?token=/);
      expect(log.replace(/pk_[0-9a-f]{48}/g, 'pk').replace(/env_[0-9a-f]+/g, 'env')).not.toMatch(/[0-9a-f]{32}/); // no setup token anywhere
      expect(log).toMatch(/Publishable key\s+pk_[0-9a-f]{48}/); // public: still shown
      expect(log).toContain('Email         off (PULSE_SMTP_URL unset');
      const keysFile = join(dataDir, 'first-run-keys.txt');
      const setupFile = join(dataDir, 'setup-url.txt');
      expect(log).toContain(`written to ${keysFile} (mode 0600)`);
      expect(log).toContain(`setup link written to ${setupFile} (mode 0600)`);
      expect(modeOf(keysFile)).toBe(0o600);
      expect(modeOf(setupFile)).toBe(0o600);

      // The files hold the real thing.
      const sk = /Secret key\s+(sk_[0-9a-f]{48})/.exec(readFileSync(keysFile, 'utf8'))![1]!;
      expect((await fetch(server.url + '/api/v1/rooms', { headers: { authorization: `Bearer ${sk}` } })).status).toBe(200);
      const link = readFileSync(setupFile, 'utf8').trim();
      const token = new URL(link).searchParams.get('token')!;
      const panel = new PanelClient(server.url);
      await panel.get('/setup');
      const setup = await panel.post('/setup', { token, email: 'first@example.com', name: 'First', password: 'first password' });
      expect(setup.status, JSON.stringify(setup.body)).toBe(201);
    } finally {
      await server.stop();
    }
    // Next start: an admin exists, so the stale setup link file is removed; the keys file is the operator's to delete.
    // (With SMTP set up: the banner names the server, not its password.)
    const again = await cleanup.start(cleanEnv({ PULSE_DATA_DIR: dataDir, PULSE_SMTP_URL: 'smtp://mailer:smtp-password@127.0.0.1:2525', PULSE_EMAIL_FROM: 'Acme <n@acme.example>' }));
    await again.stop();
    expect(() => modeOf(join(dataDir, 'setup-url.txt'))).toThrow(/ENOENT/);
    expect(again.output()).not.toMatch(/Secret key|setup link/);
    expect(again.output()).toContain('Email         smtp://127.0.0.1:2525, from Acme <n@acme.example>');
    expect(again.output()).not.toContain('smtp-password');
  });

  it.skipIf(!hasScript)('prints them to an interactive terminal', async () => {
    const dataDir = join(cleanup.tempDir(), 'tty');
    const tty = underTty(['start'], cleanEnv({ PULSE_DATA_DIR: dataDir, PULSE_PORT: '0' }));
    try {
      await tty.waitFor(/or here:.*\r?\n\r?\n/);
      expect(tty.output()).toMatch(/Secret key\s+sk_[0-9a-f]{48}/);
      expect(tty.output()).toMatch(/\/panel\/setup\?token=[0-9a-f]{32}/);
      expect(() => modeOf(join(dataDir, 'first-run-keys.txt'))).toThrow(/ENOENT/);
    } finally {
      await tty.kill();
    }
  });

  it('refuses a password in argv, with the way to do it instead', async () => {
    const env = cleanEnv({ PULSE_DATA_DIR: join(cleanup.tempDir(), 'argv') });
    const r = await cleanup.run(['admin', 'create', '--init', '--email', 'a@example.com', '--password', 'in the process list'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--password is not accepted');
    expect(r.stderr).toContain('--password-stdin');
    const none = await cleanup.run(['admin', 'create', '--init', '--email', 'a@example.com'], env);
    expect(none.code).toBe(2); // stdin is not a terminal and no --password-stdin: nothing to read
    expect(none.stderr).toContain('no password');
  });

  it('takes the password from stdin, and the account can log in', async () => {
    const dataDir = join(cleanup.tempDir(), 'stdin');
    const env = cleanEnv({ PULSE_DATA_DIR: dataDir });
    const created = await cleanup.run(['admin', 'create', '--init', '--email', 'ops@example.com', '--password-stdin', '--json'], env, 'piped password\n');
    expect(created.code, created.stderr).toBe(0);
    expect(created.json).toMatchObject({ email: 'ops@example.com', role: 'admin' });
    const server = await cleanup.start(env);
    try {
      const panel = new PanelClient(server.url);
      expect((await panel.login('ops@example.com', 'piped password')).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it.skipIf(!hasScript)('prompts for the password on a terminal without echoing it', async () => {
    const env = cleanEnv({ PULSE_DATA_DIR: join(cleanup.tempDir(), 'prompt') });
    const tty = underTty(['admin', 'create', '--init', '--email', 'tty@example.com', '--json'], env);
    try {
      await tty.waitFor(/Password \(at least 8 characters\): /);
      tty.child.stdin.write('typed secret 42\r');
      await tty.waitFor(/Repeat the password: /);
      tty.child.stdin.write('typed secret 42\r');
      expect(await tty.exited).toBe(0);
      expect(tty.output()).toContain('"email":"tty@example.com"');
      expect(tty.output()).not.toContain('typed secret'); // no echo
    } finally {
      await tty.kill();
    }
  });
});
