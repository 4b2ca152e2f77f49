import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, stopProcess } from './helpers/hardening.ts';
import { PULSE_BIN } from './helpers/process.ts';

/**
 * Which database the CLI uses, and when it may create one: never silently in a folder that has
 * none (a `pulse` run from the wrong directory would look like a server that lost its data),
 * unless told to with --init, or by naming the data dir (--data-dir, PULSE_DATA_DIR) for a start.
 */

const dirs: string[] = [];
const children = new Set<ChildProcess>();
afterAll(async () => {
  await Promise.all([...children].map(stopProcess));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const emptyFolder = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-cli-storage-'));
  dirs.push(dir);
  return dir;
};

/** `pulse …` run from `cwd`, to completion. */
const pulse = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [PULSE_BIN, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', input: '', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** `pulse start …` from `cwd`: resolves with its output once it runs (then stops it), or when it exits. */
function start(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ running: boolean; code: number | null; output: string }> {
  const child = spawn(process.execPath, [PULSE_BIN, 'start', ...args], { cwd, env: cleanEnv({ ...env, PULSE_PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  let running = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`neither started nor exited:\n${output}`)), 60_000);
    const onData = (d: Buffer) => {
      output += d;
      if (!running && /Storage .*\n/.test(output)) {
        running = true;
        void stopProcess(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ running, code: running ? null : code, output });
    });
  });
}

/** A port nothing listens on just now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Each test runs `pulse` several times (about 2 s each from the TypeScript sources).
describe('pulse and its data dir', { timeout: 120_000 }, () => {
  it('refuses to create a database in ./data of a folder that has none, and says how to go on', async () => {
    const cwd = emptyFolder();
    const refused = await start(cwd, []);
    expect(refused.running).toBe(false);
    expect(refused.code).toBe(2);
    expect(refused.output).toContain(`pulse: no Pulse database in ${join(cwd, 'data')} (the default data dir: ./data in the current directory).`);
    expect(refused.output).toContain('pulse start --init');
    expect(refused.output).toContain('--data-dir <dir>');
    expect(refused.output).not.toContain('Usage:');
    expect(existsSync(join(cwd, 'data'))).toBe(false);

    for (const args of [['env', 'list'], ['env', 'create', 'Staging', '--json']]) {
      const r = pulse(cwd, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('no Pulse database in');
      expect(r.stdout).toBe('');
    }
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('creates it with --init, says so, and uses it from then on without the flag', async () => {
    const cwd = emptyFolder();
    const first = await start(cwd, ['--init']);
    expect(first.running, first.output).toBe(true);
    expect(first.output).toMatch(new RegExp(`Storage +SQLite ${join(cwd, 'data', 'pulse.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +\\(new, created now\\)`));
    const list = pulse(cwd, ['env', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).toBe(`pulse: using SQLite ${join(cwd, 'data', 'pulse.db')}\n`);
    expect(list.stdout).toContain('Development');
    const again = await start(cwd, []);
    expect(again.running, again.output).toBe(true);
    expect(again.output).not.toContain('created now');
  });

  it('takes --data-dir (it wins over PULSE_DATA_DIR), and a named data dir is created on a first start', async () => {
    const cwd = emptyFolder();
    const named = join(cwd, 'srv', 'pulse');
    const first = await start(cwd, ['--data-dir', named], { PULSE_DATA_DIR: join(cwd, 'ignored') });
    expect(first.running, first.output).toBe(true);
    expect(existsSync(join(named, 'pulse.db'))).toBe(true);
    expect(existsSync(join(cwd, 'ignored'))).toBe(false);
    const viaEnv = await start(cwd, [], { PULSE_DATA_DIR: join(cwd, 'by-env') });
    expect(viaEnv.running, viaEnv.output).toBe(true);
    const r = pulse(cwd, ['env', 'list', `--data-dir=${named}`, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // --json: stdout is one object, stderr only for errors
    expect(JSON.parse(r.stdout).environments[0].name).toBe('Development');
  });

  it('takes --port and --host (they win over PULSE_PORT and PULSE_HOST)', async () => {
    const cwd = emptyFolder();
    const port = await freePort();
    // PULSE_HOST names an address nothing can listen on: the start works only if --host wins.
    const started = await start(cwd, ['--init', `--port=${port}`, '--host', '127.0.0.1'], { PULSE_HOST: '192.0.2.1' });
    expect(started.running, started.output).toBe(true);
    expect(started.output).toContain(`http://127.0.0.1:${port}/`);
    for (const [args, message] of [
      [['--port', 'abc'], 'pulse: --port must be a port number (0–65535), got "abc"'],
      [['--port', '70000'], 'pulse: --port must be a port number (0–65535), got "70000"'],
      [['--port=-1'], 'pulse: --port must be a port number (0–65535), got "-1"'],
      [['--port'], 'pulse: --port needs a value: --port 8080'],
      [['--host', '--demo'], 'pulse: --host needs a value: --host 0.0.0.0'],
      [['--port', '1', '--port', '2'], 'pulse: --port given twice'],
    ] as const) {
      const r = pulse(cwd, ['start', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim(), args.join(' ')).toBe(message);
    }
    expect(pulse(cwd, ['start', '--listen', '1']).stderr).toContain('pulse: unknown option "--listen" for start');
  });

  it('lets management commands create a database only with --init, and --demo start one for the quickstart', async () => {
    const cwd = emptyFolder();
    const dir = join(cwd, 'fresh');
    mkdirSync(dir);
    const refused = pulse(cwd, ['env', 'list'], { PULSE_DATA_DIR: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`no Pulse database in ${dir}.`);
    const created = pulse(cwd, ['env', 'list', '--init'], { PULSE_DATA_DIR: dir });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toContain(`pulse: creating a new database: SQLite ${join(dir, 'pulse.db')}\n`);

    const demo = await start(emptyFolder(), ['--demo']); // what `npm start` runs on a fresh clone
    expect(demo.running, demo.output).toBe(true);
    expect(demo.output).toContain('(new, created now)');
  });

  it('names PostgreSQL without its password', () => {
    const r = pulse(emptyFolder(), ['env', 'list'], { DATABASE_URL: 'postgres://pulse:s3cret@127.0.0.1:1/pulse', PULSE_DB_SCHEMA: 'tenant_a' });
    expect(r.stderr).toContain('pulse: using PostgreSQL pulse@127.0.0.1:1/pulse, schema tenant_a\n');
    expect(r.stderr).not.toContain('s3cret');
    expect(r.code).toBe(1); // nothing listens there
  });

  it('answers a bad value with one line naming the setting and what it takes, not the usage', () => {
    const cwd = emptyFolder();
    const dir = join(cwd, 'data');
    expect(pulse(cwd, ['env', 'list', '--init']).code).toBe(0);
    const env = JSON.parse(pulse(cwd, ['env', 'create', 'Config', '--json']).stdout).id as string;
    for (const [assignment, message] of [
      ['maxFileSizeMb=abc', 'pulse: maxFileSizeMb: must be a number, got "abc"'],
      ['allowImages=maybe', 'pulse: allowImages: must be true or false (or on/off, 1/0), got "maybe"'],
      ['maxFileSizeMb=0', 'pulse: maxFileSizeMb: '],
    ] as const) {
      const r = pulse(cwd, ['env', 'config', env, assignment]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain('Usage:');
      expect(r.stderr.trim().split('\n')).toHaveLength(2); // "using …" and the error
    }
    const port = pulse(cwd, ['start'], { PULSE_DATA_DIR: dir, PULSE_PORT: 'abc' });
    expect(port.stderr).toBe('pulse: PULSE_PORT must be a port number (0–65535), got "abc"\n');
    // Refused before anything is made: no database is left behind to be taken for one in use.
    const unborn = join(cwd, 'unborn');
    const secret = pulse(cwd, ['start', '--demo'], { PULSE_DATA_DIR: unborn, PULSE_SECRET: 'short' });
    expect(secret.code).toBe(1);
    expect(secret.stderr).toContain('PULSE_SECRET must be at least 32 characters long');
    expect(existsSync(join(unborn, 'pulse.db'))).toBe(false);
    const role = pulse(cwd, ['admin', 'create', '--email', 'a@example.com', '--role', 'owner', '--password-stdin']);
    expect(role.stderr).toContain('pulse: --role must be admin or member, got "owner"');
    expect(role.stderr).not.toContain('Usage:');
    // A wrong command line still gets the usage.
    expect(pulse(cwd, ['env', 'frobnicate']).stderr).toContain('Usage: pulse');
  });
});
