import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';

const MB = 1024 * 1024;

describe('SQLite write-ahead log under sustained writes', () => {
  let dir = '';
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('stays bounded though writes never pause for a checkpoint to catch up', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pulse-wal-'));
    const file = join(dir, 'pulse.db');
    store = openSqliteStore({ file, checkpoints: { intervalMs: 20, restartBytes: MB } });
    await store.migrate();
    await store.createEnvironment({ id: 'env_a', name: 'a', createdAt: new Date().toISOString(), config: { ...DEFAULT_ENV_CONFIG } }, []);
    const walSize = () => statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    // Each write replaces a 6 KB profile: at least two 4 KB pages (over 8 KB) into the log.
    const name = (i: number) => `${i}`.padEnd(6000, '.');
    const writes = 20_000;
    let largest = 0;
    for (let i = 0; i < writes; i++) {
      await store.upsertUser('env_a', { externalId: `u${i % 50}`, name: name(i), avatar: null }, new Date(1_700_000_000_000 + i).toISOString());
      if (i % 100 === 0) largest = Math.max(largest, walSize());
    }
    // Over 150 MB went through the log: unbounded, the file would be at least that large.
    expect(writes * 8 * 1024).toBeGreaterThan(150 * MB);
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThan(24 * MB);
    for (let u = 0; u < 50; u++) {
      const last = writes - 50 + u;
      expect((await store.getUser('env_a', `u${last % 50}`))?.name).toBe(name(last));
    }
  }, 60_000);
});
