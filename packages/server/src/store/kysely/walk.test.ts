import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../schema.ts';
import { contains } from './like.ts';
import { countRows, firstUsers, pageKeys } from './walk.ts';

/** An in-memory database whose every statement is logged, and an I/O callback queued after each. */
function database(schema: string) {
  const sqlite = new BetterSqlite3(':memory:');
  sqlite.exec(schema);
  const order: string[] = [];
  const statements: string[] = [];
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    log: (event) => {
      statements.push(event.query.sql);
      order.push('read');
      // Work that arrives meanwhile (an I/O callback) runs before the next chunk.
      setImmediate(() => order.push('other'));
    },
  });
  return { sqlite, db, order, statements };
}

describe('countRows', () => {
  it("counts an environment's rows a chunk at a time, across chunk boundaries, letting other work run in between", async () => {
    const { sqlite, db, order } = database('create table comments (environment_id text not null, id text not null, primary key (environment_id, id))');
    const insert = sqlite.prepare('insert into comments values (?, ?)');
    for (let i = 0; i < 7; i++) insert.run('env_a', `c${i}`);
    insert.run('env_b', 'c0');
    try {
      expect(await countRows(db, 'comments', 'env_a', 2)).toBe(7);
      expect(order.slice(0, 7)).toEqual(['read', 'other', 'read', 'other', 'read', 'other', 'read']);
      for (const chunk of [6, 7, 8]) expect(await countRows(db, 'comments', 'env_a', chunk)).toBe(7);
      expect(await countRows(db, 'comments', 'env_b', 1)).toBe(1);
      expect(await countRows(db, 'comments', 'env_c', 1)).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});

describe('pageKeys', () => {
  const schema = `create table users (environment_id text not null, external_id text not null, name text not null, created_at text not null,
    primary key (environment_id, external_id));
    create index users_env_created on users (environment_id, created_at, external_id)`;

  it('pages newest first, created_at then key, with or without a search, whatever the chunk size', async () => {
    const { sqlite, db } = database(schema);
    const insert = sqlite.prepare('insert into users values (?, ?, ?, ?)');
    // Two users per second, so that ties on created_at are broken by the key.
    const all = Array.from({ length: 11 }, (_, i) => ({
      id: `u${String(i).padStart(2, '0')}`,
      name: i % 3 === 0 ? `ÉLODIE_${i}` : `Bob ${i}`,
      at: `2026-01-01T00:00:${String(Math.floor(i / 2)).padStart(2, '0')}.000Z`,
    }));
    for (const u of all) insert.run('env_a', u.id, u.name, u.at);
    insert.run('env_b', 'u99', 'Élodie elsewhere', '2026-01-01T00:00:59.000Z');
    const newest = [...all].sort((a, b) => b.at.localeCompare(a.at) || b.id.localeCompare(a.id)).map((u) => u.id);
    const found = newest.filter((id) => all.find((u) => u.id === id)!.name.startsWith('É'));
    const search = { text: 'élodie_', columns: ['name', 'external_id'] };
    try {
      for (const chunk of [1, 2, 3, 5, 100]) {
        for (const [offset, limit] of [[0, 4], [3, 4], [8, 4], [11, 4], [0, 20]] as const) {
          expect(await pageKeys(db, 'users', 'env_a', { offset, limit, chunk })).toEqual({ keys: newest.slice(offset, offset + limit) });
          expect(await pageKeys(db, 'users', 'env_a', { offset, limit, chunk, search })).toEqual({ keys: found.slice(offset, offset + limit), matched: found.length });
        }
      }
      // "%" and "_" are letters; the key is searched too.
      expect((await pageKeys(db, 'users', 'env_a', { offset: 0, limit: 20, search: { text: '%', columns: ['name'] } })).matched).toBe(0);
      expect(await pageKeys(db, 'users', 'env_a', { offset: 0, limit: 20, search: { text: 'U07', columns: ['name', 'external_id'] } })).toEqual({ keys: ['u07'], matched: 1 });
      expect(await pageKeys(db, 'users', 'env_c', { offset: 0, limit: 4 })).toEqual({ keys: [] });
    } finally {
      await db.destroy();
    }
  });

  it('reads a chunk at a time with other work in between, and no more rows than a page needs without a search', async () => {
    const { sqlite, db, order, statements } = database(schema);
    const insert = sqlite.prepare('insert into users values (?, ?, ?, ?)');
    for (let i = 0; i < 10; i++) insert.run('env_a', `u${i}`, i === 0 ? 'Zed' : 'Bob', `2026-01-01T00:00:0${i}.000Z`);
    try {
      // The only match is the oldest row: the walk goes through every chunk to find it.
      expect(await pageKeys(db, 'users', 'env_a', { offset: 0, limit: 5, chunk: 3, search: { text: 'zed', columns: ['name'] } })).toEqual({ keys: ['u0'], matched: 1 });
      expect(order.slice(0, 7)).toEqual(['read', 'other', 'read', 'other', 'read', 'other', 'read']);
      // Each chunk starts where the last one ended, not at the newest row (a walk over n rows
      // would otherwise read n²/2).
      const next = statements[1]!;
      const plan = (sqlite.prepare(`explain query plan ${next}`).all('env_a', 'x', 'y') as { detail: string }[]).map((r) => r.detail);
      expect(plan).toEqual([expect.stringMatching(/INDEX users_env_created \(environment_id=\? AND \(created_at,external_id\)<\(\?,\?\)\)$/)]);
      order.length = 0;
      expect(await pageKeys(db, 'users', 'env_a', { offset: 0, limit: 2, chunk: 1000 })).toEqual({ keys: ['u9', 'u8'] });
      expect(order.filter((o) => o === 'read')).toHaveLength(1);
      // Further down: the rows before the page, then the page's, and no more (4, then 1).
      statements.length = 0;
      expect(await pageKeys(db, 'users', 'env_a', { offset: 3, limit: 2, chunk: 4 })).toEqual({ keys: ['u6', 'u5'] });
      expect(statements.map((q) => /limit (\d+)$/.exec(q.trim())?.[1])).toEqual(['4', '1']);
    } finally {
      await db.destroy();
    }
  });
});

describe('firstUsers', () => {
  it('tests a chunk of keys at a time and stops once it has found enough', async () => {
    const { sqlite, db, order } = database(`create table users (environment_id text not null, external_id text not null, name text not null, primary key (environment_id, external_id))`);
    const insert = sqlite.prepare('insert into users values (?, ?, ?)');
    for (let i = 0; i < 10; i++) insert.run('env_a', `u${i}`, i % 2 ? 'Ann' : 'Bob');
    insert.run('env_b', 'u0', 'Ann');
    const ids = async (want: number, chunk: number, text = 'ann') => (await firstUsers(db, 'env_a', contains('t.name', text), want, chunk)).map((r) => r.external_id);
    try {
      for (const chunk of [1, 3, 4, 100]) {
        expect(await ids(10, chunk)).toEqual(['u1', 'u3', 'u5', 'u7', 'u9']);
        expect(await ids(2, chunk)).toEqual(['u1', 'u3']);
        expect(await ids(10, chunk, 'zed')).toEqual([]);
      }
      order.length = 0;
      // Two found in the first chunk of four keys: no further chunk is read.
      expect(await ids(2, 4)).toEqual(['u1', 'u3']);
      expect(order.filter((o) => o === 'read')).toHaveLength(2);
    } finally {
      await db.destroy();
    }
  });
});
