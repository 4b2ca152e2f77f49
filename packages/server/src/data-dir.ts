import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

/** The SQLite database file of a data dir (what the server opens without DATABASE_URL). */
export const SQLITE_FILE = 'pulse.db';

export interface StorageChoice {
  dataDir: string;
  databaseUrl?: string | undefined;
  databaseSchema?: string | undefined;
}

/** Whether the data dir already holds a Pulse database (always true for PostgreSQL, which is named explicitly). */
export function hasDatabase(storage: StorageChoice): boolean {
  return Boolean(storage.databaseUrl) || existsSync(join(storage.dataDir, SQLITE_FILE));
}

/** Which database a process uses, in words, without the password: "SQLite /srv/pulse/pulse.db", "PostgreSQL db.internal:5432/pulse, schema pulse". */
export function describeStorage(storage: StorageChoice): string {
  if (!storage.databaseUrl) return `SQLite ${join(storage.dataDir, SQLITE_FILE)}`;
  let where = 'PostgreSQL';
  try {
    const url = new URL(storage.databaseUrl);
    where += ` ${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}${url.pathname}`;
  } catch {
    // a connection string that is not a URL (key=value form): named without details
  }
  return storage.databaseSchema ? `${where}, schema ${storage.databaseSchema}` : where;
}

/**
 * The refusal when a command would create a new, empty SQLite database: a `pulse` started in
 * the wrong directory would otherwise look like a server that lost all its data. `hint` says how
 * to allow it.
 */
export function missingDatabaseMessage(dataDir: string, defaultDir: boolean, command: string): string {
  return [
    `no Pulse database in ${dataDir}${defaultDir ? ' (the default data dir: ./data in the current directory)' : ''}.`,
    `  To create a new one there:     pulse ${command} --init`,
    `  To use an existing one:        pulse ${command} --data-dir <dir>   (or set PULSE_DATA_DIR; with PostgreSQL, DATABASE_URL)`,
  ].join('\n');
}
