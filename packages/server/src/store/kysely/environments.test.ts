import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../schema.ts';
import { countRows } from './environments.ts';

describe('countRows', () => {
  it("counts an environment's rows a chunk at a time, across chunk boundaries, letting other work run in between", async () => {
    const sqlite = new BetterSqlite3(':memory:');
    sqlite.exec('create table comments (environment_id text not null, id text not null, primary key (environment_id, id))');
    const insert = sqlite.prepare('insert into comments values (?, ?)');
    for (let i = 0; i < 7; i++) insert.run('env_a', `c${i}`);
    insert.run('env_b', 'c0');
    const order: string[] = [];
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: sqlite }),
      log: () => {
        order.push('count');
        // Work that arrives meanwhile (an I/O callback) runs before the next chunk.
        setImmediate(() => order.push('other'));
      },
    });
    try {
      expect(await countRows(db, 'comments', 'env_a', 2)).toBe(7);
      expect(order.slice(0, 7)).toEqual(['count', 'other', 'count', 'other', 'count', 'other', 'count']);
      for (const chunk of [6, 7, 8]) expect(await countRows(db, 'comments', 'env_a', chunk)).toBe(7);
      expect(await countRows(db, 'comments', 'env_b', 1)).toBe(1);
      expect(await countRows(db, 'comments', 'env_c', 1)).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});
