import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import { inChunks, nextTurn } from './in-chunks.ts';

/**
 * Reads over all of an environment's rows of a table, a chunk at a time with other work let in
 * between: one count(*) over ten million comments held SQLite's (the server's) thread for about
 * 0.4 s, and a panel search through a million users for seconds.
 */
type Walked = 'rooms' | 'threads' | 'users' | 'comments';

const COUNT_CHUNK_ROWS = 100_000;
/** Rows one step of a page walk reads (they come to JavaScript, so fewer than a count's). */
const PAGE_CHUNK_ROWS = 5_000;

const keyColumn = (table: Walked) => (table === 'users' ? 'external_id' : 'id');

/** The next (at most) `chunk` keys of an environment's rows after `after`, in key order: how many, and the last. */
async function nextKeys(db: Kysely<Database>, table: Walked, envId: string, after: string, chunk: number): Promise<{ n: number; last: string | null }> {
  const key = sql.ref(keyColumn(table));
  const { rows } = await sql<{ n: number | string; last: string | null }>`
    select count(*) as n, max(k) as last from (
      select ${key} as k from ${sql.table(table)} where environment_id = ${envId} and ${key} > ${after} order by ${key} limit ${sql.lit(chunk)}
    ) part`.execute(db);
  return { n: Number(rows[0]?.n ?? 0), last: rows[0]?.last ?? null };
}

/** How many rows of an environment a table holds, counted along its primary key. */
export function countRows(db: Kysely<Database>, table: Walked, envId: string, chunk = COUNT_CHUNK_ROWS): Promise<number> {
  let after = '';
  return inChunks(async () => {
    const { n, last } = await nextKeys(db, table, envId, after, chunk);
    after = last ?? after;
    return n;
  }, chunk);
}

export interface PageWalk {
  offset: number;
  limit: number;
  /** Rows whose `columns` contain this text, case-insensitively (% and _ are plain letters). */
  search?: { text: string; columns: string[] };
  chunk?: number;
}

/**
 * One page of an environment's rooms or users, newest first (created_at, then key, both
 * descending: the order of their `*_env_created` index): the page's keys, and with a search the
 * number of rows that match. The index is walked from the newest row; a search reads every row
 * (to count the matches) and tests it here, in JavaScript: a LIKE over lower() in SQL costs a
 * call into JavaScript per row anyway, twice as much (rows and count), in one long statement.
 */
export async function pageKeys(
  db: Kysely<Database>,
  table: 'rooms' | 'users',
  envId: string,
  page: PageWalk,
): Promise<{ keys: string[]; matched?: number }> {
  const key = sql.ref(`t.${keyColumn(table)}`);
  const needle = page.search?.text.toLowerCase();
  const columns = page.search?.columns ?? [];
  const keys: string[] = [];
  let matched = 0;
  let cursor: { created: string; key: string } | undefined;
  for (;;) {
    // Without a search every row counts: read no more than the page needs.
    const size = Math.min(page.chunk ?? PAGE_CHUNK_ROWS, needle !== undefined ? Infinity : page.offset + page.limit - matched);
    // A row value, so that both databases start the index scan at the cursor.
    const after = cursor ? sql`and (t.created_at, ${key}) < (${cursor.created}, ${cursor.key})` : sql``;
    const { rows } = await sql<Record<string, string>>`
      select ${key} as k, t.created_at as created${sql.join(columns.map((c) => sql`, ${sql.ref(`t.${c}`)} as ${sql.ref(`s_${c}`)}`), sql``)}
      from ${sql.table(table)} as t
      where t.environment_id = ${envId} ${after} order by t.created_at desc, ${key} desc limit ${sql.lit(size)}`.execute(db);
    for (const row of rows) {
      if (needle !== undefined && !columns.some((c) => String(row[`s_${c}`] ?? '').toLowerCase().includes(needle))) continue;
      if (matched++ >= page.offset && keys.length < page.limit) keys.push(row.k!);
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < size || (needle === undefined && keys.length === page.limit)) return needle === undefined ? { keys } : { keys, matched };
    cursor = { created: last.created!, key: last.k! };
    await nextTurn();
  }
}

/** One page of the panel's Rooms or Users list and its total: a search's matches, or all rows. */
export async function listPage(
  db: Kysely<Database>,
  table: 'rooms' | 'users',
  envId: string,
  query: { offset: number; limit: number; search?: string },
  searchColumns: string[],
): Promise<{ keys: string[]; total: number }> {
  const { search, ...page } = query;
  const [{ keys, matched }, all] = await Promise.all([
    pageKeys(db, table, envId, search ? { ...page, search: { text: search, columns: searchColumns } } : page),
    search ? undefined : countRows(db, table, envId),
  ]);
  return { keys, total: matched ?? all ?? 0 };
}

/**
 * The first `want` users of an environment, in key order, that `match` (on alias `t`) accepts:
 * tested a chunk of keys at a time, with other work let in between, stopping once enough are
 * found. In one statement, a search of a million users held the server for 0.7 s.
 */
export async function firstUsers(
  db: Kysely<Database>,
  envId: string,
  match: RawBuilder<boolean>,
  want: number,
  chunk = PAGE_CHUNK_ROWS,
): Promise<Selectable<Database['users']>[]> {
  const found: Selectable<Database['users']>[] = [];
  let after = '';
  await inChunks(async () => {
    const { n, last } = await nextKeys(db, 'users', envId, after, chunk);
    if (!n || last === null) return 0;
    const { rows } = await sql<Selectable<Database['users']>>`
      select * from users as t where t.environment_id = ${envId} and t.external_id > ${after} and t.external_id <= ${last} and ${match}
      order by t.external_id limit ${sql.lit(want - found.length)}`.execute(db);
    found.push(...rows);
    after = last;
    return found.length < want ? n : 0; // 0: enough, no further chunk
  }, chunk);
  return found;
}
