import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * The data dir holds admin password hashes, the server secret and every tenant's content: only
 * the user running Pulse may read it. The directory is 0700, the database files 0600; a dir or
 * file found with looser modes (created by an older version, or by hand) is tightened, with a
 * warning, on every start and every CLI command.
 */

export type Warn = (message: string) => void;

export const warnOnStderr: Warn = (message) => {
  process.stderr.write(`[pulse] warning: ${message}\n`);
};

export const DATA_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

const octal = (mode: number) => '0' + (mode & 0o777).toString(8);

/** Gives `path` at most `mode`; returns false when it does not exist. */
export function tightenMode(path: string, mode: number, warn: Warn = warnOnStderr): boolean {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if ((current & ~mode) === 0) return true;
  try {
    chmodSync(path, mode);
    warn(`${path} was accessible to other users (mode ${octal(current)}); changed it to ${octal(mode)}.`);
  } catch (err) {
    warn(`${path} is accessible to other users (mode ${octal(current)}) and could not be changed to ${octal(mode)}: ${(err as Error).message}`);
  }
  return true;
}

/** Creates the data dir with mode 0700, or tightens an existing one. */
export function secureDataDir(dir: string, warn: Warn = warnOnStderr): void {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  tightenMode(dir, DATA_DIR_MODE, warn);
}

/** Creates `file` empty with mode 0600 when missing (so files derived from it start private), or tightens it. */
export function securePrivateFile(file: string, warn: Warn = warnOnStderr): void {
  if (tightenMode(file, PRIVATE_FILE_MODE, warn)) return;
  try {
    closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  tightenMode(file, PRIVATE_FILE_MODE, warn);
}
