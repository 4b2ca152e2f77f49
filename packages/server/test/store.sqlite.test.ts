import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { describeStoreConformance } from './store.conformance.ts';

describeStoreConformance('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
  return { store: openSqliteStore({ file: join(dir, 'pulse.db') }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('SQLite store: what it keeps in memory', () => {
  it("rereads a thread's participants after another process wrote to the database", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
    const file = join(dir, 'pulse.db');
    const store = openSqliteStore({ file });
    const other = new BetterSqlite3(file);
    try {
      await store.migrate();
      const at = new Date().toISOString();
      await store.createEnvironment({ id: 'env_x', name: 'x', createdAt: at, config: { ...DEFAULT_ENV_CONFIG } }, []);
      await store.upsertUser('env_x', { externalId: 'alice', name: 'Alice', avatar: null }, at);
      await store.createThread('env_x', { id: 'th', roomId: 'r', position: null, createdBy: 'alice', createdAt: at }, { id: 'c1', userId: 'alice', body: 'hi', mentions: [], createdAt: at });
      expect(await store.threadParticipants('env_x', 'th')).toEqual(['alice']);
      other
        .prepare("insert into comments (environment_id, id, thread_id, room_id, user_id, body, mentions, created_at) values ('env_x', 'c2', 'th', 'r', 'zed', 'x', '[]', ?)")
        .run(at);
      // The next event-loop turn reads the database's change counter again.
      await new Promise((resolve) => setImmediate(resolve));
      expect(await store.threadParticipants('env_x', 'th')).toEqual(['alice', 'zed']);
    } finally {
      other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
