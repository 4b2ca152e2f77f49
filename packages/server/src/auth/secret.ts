import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE, secureDataDir, tightenMode } from '../data-dir.ts';

/** PULSE_SECRET's rule (it signs every token): at least 32 characters. */
export function checkSecret(value: string): void {
  if (value.length < 32) throw new Error('PULSE_SECRET must be at least 32 characters long');
}

/**
 * The server secret, from which token-signing keys are derived. Taken from PULSE_SECRET when
 * set (required when several nodes share one database), otherwise generated once into
 * `<dataDir>/secret.key` with mode 0600. It is never stored in the database it protects.
 */
export function loadServerSecret(dataDir: string, fromEnv: string | undefined): { secret: Buffer; created: boolean; source: string } {
  if (fromEnv) {
    checkSecret(fromEnv);
    return { secret: Buffer.from(fromEnv, 'utf8'), created: false, source: 'PULSE_SECRET' };
  }
  secureDataDir(dataDir);
  const file = join(dataDir, 'secret.key');
  let created = false;
  try {
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  tightenMode(file, PRIVATE_FILE_MODE);
  const text = readFileSync(file, 'utf8').trim();
  if (text.length < 32) throw new Error(`${file} is corrupt: expected a 64-character hex secret`);
  return { secret: Buffer.from(text, 'utf8'), created, source: file };
}
