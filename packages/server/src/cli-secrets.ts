import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE, secureDataDir, tightenMode } from './data-dir.ts';

/**
 * Secrets the CLI has to hand over (the first-run secret key, the one-time setup link, a typed
 * password) never go where other people can read them: not into logs collected from stdout,
 * not into the process list.
 *
 * - Printed only to an interactive terminal (stdout is a TTY). Otherwise, written to a 0600 file
 *   in the data dir, and only the file's path is printed.
 * - Passwords come from a prompt without echo, or from stdin (--password-stdin), never argv.
 */

export const FIRST_RUN_KEYS_FILE = 'first-run-keys.txt';
export const SETUP_URL_FILE = 'setup-url.txt';

/** Writes `content` to `<dataDir>/<name>` readable by this user only; returns the path. */
export function writePrivateFile(dataDir: string, name: string, content: string): string {
  secureDataDir(dataDir);
  const file = join(dataDir, name);
  writeFileSync(file, content, { mode: PRIVATE_FILE_MODE });
  tightenMode(file, PRIVATE_FILE_MODE, () => {}); // an older file keeps its mode on rewrite
  return file;
}

export function removePrivateFile(dataDir: string, name: string): void {
  rmSync(join(dataDir, name), { force: true });
}

/** The password piped to stdin: everything up to EOF, without one trailing newline. */
export async function readPasswordFromStdin(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let text = '';
  input.setEncoding('utf8');
  for await (const chunk of input) text += chunk as string;
  return text.replace(/\r?\n$/, '');
}

/** Asks on the terminal with echo off (stdin must be a TTY). The prompt goes to stderr. */
export function promptHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.setRawMode(true); // echo off before the question is out
    output.write(question);
    input.setEncoding('utf8');
    input.on('data', onData);
    input.resume();
  });
}
