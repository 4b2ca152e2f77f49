import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PULSE_BIN } from './process.ts';

/**
 * Helpers for the hardening suites: child processes with a clean environment (never the
 * caller's DATABASE_URL or REDIS_URL), and one place that remembers every process and temp dir
 * a suite made, so afterAll cleans up even when a test failed half-way.
 */

/** Only what node needs: no DATABASE_URL, REDIS_URL, PULSE_* or CI from the caller. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, PULSE_LOG_LEVEL: 'warn', ...extra };
}

export interface PulseProcess {
  child: ChildProcess;
  url: string;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  stdout(): string;
  stop(): Promise<void>;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

export class Cleanup {
  readonly #children = new Set<ChildProcess>();
  readonly #dirs: string[] = [];

  tempDir(prefix = 'pulse-hardening-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  /** `pulse start …` on a random loopback port; resolves once the banner is out. */
  start(env: NodeJS.ProcessEnv, args: string[] = []): Promise<PulseProcess> {
    const child = spawn(process.execPath, [PULSE_BIN, 'start', ...args], {
      env: { ...env, PULSE_PORT: '0', PULSE_HOST: env.PULSE_HOST ?? '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    let all = '';
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${all}`)), 30_000);
      const check = () => {
        // The banner ends with an empty line once complete.
        const m = /Pulse is running at (http:\/\/\S+)[\s\S]*\n\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ child, url: m[1]!, output: () => all, stdout: () => out, stop: () => stopProcess(child) });
        }
      };
      child.stdout!.on('data', (d: Buffer) => {
        all += d;
        out += d;
        check();
      });
      child.stderr!.on('data', (d: Buffer) => {
        all += d;
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${all}`));
      });
    });
  }

  /** `pulse …` to completion, with `input` on stdin (or stdin closed). */
  run(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliRun> {
    const child = spawn(process.execPath, [PULSE_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        this.#children.delete(child);
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ code, stdout, stderr, json });
      });
    });
  }

  async all(): Promise<void> {
    await Promise.all([...this.#children].map(stopProcess));
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** `pulse …` with `input` on stdin, as in `printf '%s' "$PW" | pulse admin create … --password-stdin`. */
export async function runCliWithInput(args: string[], env: NodeJS.ProcessEnv, input: string): Promise<CliRun> {
  const cleanup = new Cleanup();
  try {
    return await cleanup.run(args, env, input);
  } finally {
    await cleanup.all();
  }
}

export function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Permission bits of a path (0o600, …). */
export const modeOf = (path: string) => statSync(path).mode & 0o777;
