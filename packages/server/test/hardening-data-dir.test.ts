import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup, cleanEnv, modeOf } from './helpers/hardening.ts';

/**
 * Issue 11: pulse.db, -wal and -shm were 0644 in a 0755 directory, readable by every local user.
 * They hold admin password hashes and all tenants' content.
 */

const root = process.getuid?.() === 0;
/** Reads a file as an unprivileged local user (nobody); only possible when the tests run as root. */
function readAsNobody(file: string) {
  return spawnSync('cat', [file], { uid: 65534, gid: 65534, encoding: 'utf8' });
}

/** A temp dir other users may traverse (mkdtemp makes 0700 ones, which would hide the hole). */
function openTempDir(cleanup: Cleanup): string {
  const dir = cleanup.tempDir();
  chmodSync(dir, 0o755);
  return dir;
}

describe('data dir and database file modes', { timeout: 90_000 }, () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('creates the data dir 0700 and the database, WAL, SHM and secret files 0600', async () => {
    const dataDir = join(openTempDir(cleanup), 'fresh', 'data');
    const server = await cleanup.start(cleanEnv({ PULSE_DATA_DIR: dataDir }));
    try {
      expect((await fetch(server.url + '/healthz')).status).toBe(200);
      expect(modeOf(dataDir)).toBe(0o700);
      for (const name of ['pulse.db', 'pulse.db-wal', 'pulse.db-shm', 'secret.key']) {
        expect(modeOf(join(dataDir, name)), name).toBe(0o600);
      }
      expect(server.output()).not.toMatch(/warning/);
      if (root) {
        // The attack: another local account reads the database. It cannot get past the directory.
        const read = readAsNobody(join(dataDir, 'pulse.db'));
        expect(read.status).not.toBe(0);
        expect(read.stderr).toMatch(/Permission denied/);
      }
    } finally {
      await server.stop();
    }
  });

  it('tightens an existing world-readable data dir and database on start, with a warning', async () => {
    const dataDir = join(openTempDir(cleanup), 'old');
    const env = cleanEnv({ PULSE_DATA_DIR: dataDir });
    const first = await cleanup.start(env);
    await first.stop();
    // What an older version (or a careless copy) left behind.
    chmodSync(dataDir, 0o755);
    mkdirSync(join(dataDir, 'files'), { recursive: true });
    const files = readdirSync(dataDir).filter((f) => f.startsWith('pulse.db'));
    expect(files).toContain('pulse.db');
    for (const f of files) chmodSync(join(dataDir, f), 0o644);
    if (root) expect(readAsNobody(join(dataDir, 'pulse.db')).status).toBe(0); // the hole, reproduced

    const second = await cleanup.start(env);
    try {
      expect(modeOf(dataDir)).toBe(0o700);
      for (const f of readdirSync(dataDir).filter((f) => f.startsWith('pulse.db'))) expect(modeOf(join(dataDir, f)), f).toBe(0o600);
      expect(second.output()).toMatch(new RegExp(`warning: ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was accessible to other users \\(mode 0755\\); changed it to 0700`));
      expect(second.output()).toMatch(/pulse\.db was accessible to other users \(mode 0644\); changed it to 0600/);
      if (root) expect(readAsNobody(join(dataDir, 'pulse.db')).status).not.toBe(0);
    } finally {
      await second.stop();
    }
  });

  it('tightens modes for CLI commands too (they open the same files)', async () => {
    const dataDir = join(cleanup.tempDir(), 'cli');
    mkdirSync(dataDir, { mode: 0o777 });
    chmodSync(dataDir, 0o777);
    const r = await cleanup.run(['env', 'list', '--json', '--init'], cleanEnv({ PULSE_DATA_DIR: dataDir }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/mode 0777\); changed it to 0700/);
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(join(dataDir, 'pulse.db'))).toBe(0o600);
  });
});
