import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIRST_RUN_KEYS_FILE } from '../../src/cli-secrets.ts';
import { runCliWithInput, type CliRun } from './hardening.ts';

/** `pulse` from the TypeScript sources (bin/pulse-dev.mjs): tests never need a build after an edit. */
export const PULSE_BIN = fileURLToPath(new URL('../../bin/pulse-dev.mjs', import.meta.url));

export type CliResult = CliRun;

/** Runs `pulse …` as a child process, as a user would. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runCliWithInput(args, env, '');
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** A start from the sources takes 2 s on a quiet machine, and 5–20 s on a busy CI machine. */
const SERVER_START_LIMIT_MS = 60_000;

/** Starts `pulse start` in a child process on a random port and waits for its banner. */
export function spawnServer(env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PULSE_BIN, 'start'], {
      env: { ...env, PULSE_PORT: '0', PULSE_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never left running behind a failed start
      reject(new Error(`server did not start:\n${out}`));
    }, SERVER_START_LIMIT_MS);
    const onData = (d: Buffer) => {
      out += d;
      const m = /Pulse is running at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * The keys a first start created. Printed only to a terminal; a child process with piped output
 * writes the secret key to a 0600 file in its data dir instead, which this reads.
 */
export function firstRunKeys(output: string, dataDir: string): { envId: string; publishableKey: string; secretKey: string } {
  const file = readFileSync(join(dataDir, FIRST_RUN_KEYS_FILE), 'utf8');
  const envId = /environment \((\S+)\)/.exec(output)?.[1] ?? /(env_\w+)/.exec(file)?.[1];
  const publishableKey = /Publishable key\s+(pk_\w+)/.exec(output)?.[1] ?? /(pk_\w+)/.exec(file)?.[1];
  const secretKey = /(sk_\w+)/.exec(file)?.[1];
  if (!envId || !publishableKey || !secretKey) throw new Error(`no first-run keys in the output or ${FIRST_RUN_KEYS_FILE}:\n${output}\n${file}`);
  return { envId, publishableKey, secretKey };
}
