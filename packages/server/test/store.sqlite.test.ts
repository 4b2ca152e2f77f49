import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql, type Transaction } from 'kysely';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENV_CONFIG, LIMITS } from '@pulse/protocol';
import { FileLinks } from '../src/files/links.ts';
import { kyselyStore } from '../src/store/kysely/index.ts';
import type { Database } from '../src/store/schema.ts';
import { ImmediateSqliteDialect, openSqliteStore } from '../src/store/sqlite.ts';
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

describe('SQLite store: query plans', () => {
  // Comments have no index on room_id, and on SQLite none on (thread_id, user_id) (migration
  // 0017). Left to choose, SQLite's planner answered "this room's comments" and "this thread's
  // authors" by walking every comment of the environment. Every statement that reads comments in
  // a room snapshot, a reply's notifications, an attachment list, a room recount and the panel's
  // pages is checked.
  it("reads a room's comments through its threads and a thread's through its index, never the environment's; walks rooms and users along an index", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
    const file = join(dir, 'pulse.db');
    const seen = new Set<string>();
    const prepare = BetterSqlite3.prototype.prepare;
    BetterSqlite3.prototype.prepare = function (this: BetterSqlite3.Database, source: string) {
      seen.add(source);
      return prepare.call(this, source);
    } as typeof prepare;
    const store = openSqliteStore({ file });
    try {
      await store.migrate();
      const at = new Date().toISOString();
      await store.createEnvironment({ id: 'env_x', name: 'x', createdAt: at, config: { ...DEFAULT_ENV_CONFIG } }, []);
      const thread = (id: string, roomId: string) =>
        store.createThread('env_x', { id, roomId, position: null, createdBy: 'alice', createdAt: at }, { id: `${id}-c`, userId: 'alice', body: 'hi', mentions: [], createdAt: at });
      await thread('th', 'r');
      await thread('th-elsewhere', 'other');
      await store.createAttachment('env_x', { id: 'att', userId: 'bob', type: 'image', filename: 'a.png', mimeType: 'image/png', sizeBytes: 10, hasThumbnail: false, createdAt: at });
      seen.clear();
      expect(await store.threadParticipants('env_x', 'th')).toEqual(['alice']);
      // The room's estimate at its limit: the reply has the room counted exactly.
      const raw = new BetterSqlite3(file);
      raw.prepare("update rooms set content_bytes = ? where id = 'r'").run(LIMITS.roomContentBytes);
      raw.close();
      await store.createComment('env_x', { id: 'reply', threadId: 'th', userId: 'bob', body: 'yes', mentions: [], createdAt: at }, { attach: { ids: ['att'], userId: 'bob' } });
      const room = await store.listRoomThreadsWithComments('env_x', 'r');
      expect(room.map((t) => t.comments.map((c) => [c.id, c.attachments.length]))).toEqual([[['th-c', 0], ['reply', 1]]]);
      const browsed = await store.browseRooms('env_x', { limit: 10, offset: 0 });
      expect(browsed.items.map((r) => [r.id, r.threads, r.comments])).toEqual([
        ['r', 1, 2],
        ['other', 1, 1],
      ]);
      // The panel's other pages read comments by thread, author and day (their plans checked below).
      await store.browseThreads('env_x', 'r', { limit: 10, offset: 0 });
      await store.browseUsers('env_x', { limit: 10, offset: 0 });
      await store.browseUsers('env_x', { limit: 10, offset: 0, search: 'ali' });
      await store.browseRooms('env_x', { limit: 10, offset: 10, search: 'r' });
      await store.dailyActivity('env_x', at.slice(0, 10));

      const db = new BetterSqlite3(file, { readonly: true });
      const reading = [...seen].filter((s) => /\bcomments\b/.test(s) && /^\s*(select|with|update)/i.test(s));
      expect(reading.length).toBeGreaterThanOrEqual(3);
      for (const source of reading) {
        const params = Array.from(source.matchAll(/\?/g), () => null);
        const plan = (db.prepare(`explain query plan ${source}`).all(...params) as { detail: string }[]).map((r) => r.detail);
        for (const step of plan) expect(step, source).not.toMatch(/^SCAN (comments|c)\b|INDEX (comments_env_created|comments_user) \(environment_id=\?\)$/);
      }
      // The Rooms and Users pages walk their tables a chunk at a time (walk.ts): along an index,
      // never sorting the environment's rows first.
      const walks = [...seen].filter((s) => /from "?(rooms|users)"? as t\b/.test(s));
      expect(walks.length).toBeGreaterThanOrEqual(4);
      for (const source of walks) {
        const params = Array.from(source.matchAll(/\?/g), () => null);
        const plan = (db.prepare(`explain query plan ${source}`).all(...params) as { detail: string }[]).map((r) => r.detail);
        for (const step of plan) expect(step, source).not.toMatch(/^SCAN t\b|TEMP B-TREE/);
      }
      db.close();
    } finally {
      BetterSqlite3.prototype.prepare = prepare;
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite store: sharing the file with another process (the CLI)', () => {
  it("takes the write lock as a transaction begins, so another process's write cannot slip in between its read and its write", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
    const file = join(dir, 'pulse.db');
    const setup = new BetterSqlite3(file);
    setup.pragma('journal_mode = WAL');
    setup.exec('create table t (n integer)');
    setup.close();
    const db = new Kysely<any>({ dialect: new ImmediateSqliteDialect({ database: new BetterSqlite3(file) }) });
    const other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 0');
    try {
      let refused: unknown;
      await db.transaction().execute(async (trx) => {
        await sql`select count(*) from t`.execute(trx);
        try {
          other.prepare('insert into t values (1)').run(); // the CLI, meanwhile
        } catch (err) {
          refused = err;
        }
        // Deferred, this write failed with SQLITE_BUSY_SNAPSHOT once the other had written.
        await sql`insert into t values (2)`.execute(trx);
      });
      expect((refused as { code?: string }).code).toBe('SQLITE_BUSY');
      expect(other.prepare('select n from t').pluck().all()).toEqual([2]);
    } finally {
      other.close();
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite store: reads beside a transaction', () => {
  /** A store on an in-memory database whose Kysely connection the test can hold, and a count of the reads run on the connection directly. */
  async function heldStore() {
    const database = new BetterSqlite3(':memory:');
    const counted = { direct: 0 };
    const direct = {
      prepare: (text: string) => {
        counted.direct++;
        return database.prepare(text);
      },
      get inTransaction() {
        return database.inTransaction;
      },
    };
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database }) });
    const store = kyselyStore(db, 'sqlite', new FileLinks(), { direct });
    await store.migrate();
    /** Opens a transaction that runs `work` and then waits, until released (committing) or failed (rolling back). */
    const hold = async (work: (trx: Transaction<Database>) => Promise<void>) => {
      let release!: (commit: boolean) => void;
      let holding!: () => void;
      const started = new Promise<void>((resolve) => (holding = resolve));
      const done = db.transaction().execute(async (trx) => {
        await work(trx);
        holding();
        if (!(await new Promise<boolean>((resolve) => (release = resolve)))) throw new Error('rolled back');
      });
      await started;
      return { release, done };
    };
    return { store, db, counted, hold };
  }
  const at = new Date().toISOString();

  it('pings the database at once, not after the transaction under way', async () => {
    const { store, db, hold } = await heldStore();
    // A write batch holds the only connection (here, until released): /healthz must not wait for it.
    const held = await hold(async () => undefined);
    try {
      const first = await Promise.race([store.ping().then(() => 'ping'), new Promise((resolve) => setTimeout(resolve, 2000, 'still waiting'))]);
      expect(first).toBe('ping');
    } finally {
      held.release(true);
      await held.done;
      await db.destroy();
    }
  });

  it('runs a hot read on the connection while no transaction is open, and never reads one that is', async () => {
    const { store, db, counted, hold } = await heldStore();
    try {
      await store.createEnvironment({ id: 'env_x', name: 'x', createdAt: at, config: { ...DEFAULT_ENV_CONFIG } }, []);
      await store.createThread('env_x', { id: 'th', roomId: 'r', position: null, createdBy: 'alice', createdAt: at }, { id: 'c1', userId: 'alice', body: 'hi @bob', mentions: ['bob'], createdAt: at }, {
        notifications: [{ id: 'n1', userId: 'bob', kind: 'mention', roomId: 'r', threadId: 'th', commentId: 'c1', actorId: 'alice', preview: 'hi', createdAt: at }],
      });
      const before = counted.direct;
      expect((await store.listNotifications('env_x', 'bob', 10)).map((n) => n.id)).toEqual(['n1']);
      expect(counted.direct).toBe(before + 1);
      // A transaction writes a notification and rolls back: a read made meanwhile waits for it, and never sees the row.
      const held = await hold(async (trx) => {
        await sql`insert into notifications (environment_id, id, user_id, kind, room_id, thread_id, comment_id, actor_id, preview, created_at)
          values ('env_x', 'n2', 'bob', 'mention', 'r', 'th', 'c1', 'alice', 'hi', ${at})`.execute(trx);
      });
      const during = store.listNotifications('env_x', 'bob', 10);
      held.release(false);
      await expect(held.done).rejects.toThrow('rolled back');
      expect((await during).map((n) => n.id)).toEqual(['n1']);
    } finally {
      await db.destroy();
    }
  });
});
