import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { InlineLimitsPlugin } from './inline-limits.ts';

describe('InlineLimitsPlugin', () => {
  const database = new BetterSqlite3(':memory:');
  const db = new Kysely<{ t: { a: string; n: number } }>({ dialect: new SqliteDialect({ database }), plugins: [new InlineLimitsPlugin()] });
  afterAll(() => db.destroy());

  it('writes LIMIT and OFFSET numbers into the SQL text, other values stay bound', () => {
    const q = db.selectFrom('t').selectAll().where('a', '=', 'x').limit(20).offset(40).compile();
    expect(q.sql).toMatch(/limit 20 offset 40$/);
    expect(q.parameters).toEqual(['x']);
  });

  it('leaves a limit that is not a plain number bound', () => {
    const q = db.selectFrom('t').selectAll().limit(sql<number>`${5} + 1`).compile();
    expect(q.sql).toMatch(/limit \? \+ 1$/);
  });

  it('returns the same rows', async () => {
    await sql`create table t (a text, n integer)`.execute(db);
    await db.insertInto('t').values([1, 2, 3, 4, 5].map((n) => ({ a: 'x', n }))).execute();
    const rows = await db.selectFrom('t').select('n').orderBy('n').limit(2).offset(1).execute();
    expect(rows.map((r) => r.n)).toEqual([2, 3]);
  });
});
