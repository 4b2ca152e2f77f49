import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { FileLinks } from '../files/links.ts';
import type { Database } from './schema.ts';
import { kyselyStore } from './kysely/index.ts';
import type { Store } from './types.ts';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  file: string;
  /**
   * `normal` (default) survives a crash of the Pulse process (kill -9) with every
   * acknowledged write; `full` also survives a power loss, at the cost of one fsync per commit.
   */
  synchronous?: 'normal' | 'full';
  links?: FileLinks;
}

export function openSqliteStore(options: SqliteOptions): Store {
  const database = new BetterSqlite3(options.file);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma('foreign_keys = ON');
  // The CLI writes to the same file while a server runs: wait for the lock rather than fail.
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  return kyselyStore(db, 'sqlite', options.links ?? new FileLinks());
}

/**
 * Kysely prepares every query anew; preparing costs more than running our small statements.
 * The SQL text of a Kysely query is stable (values are bound), so statements are cached by text.
 */
function withStatementCache(database: BetterSqlite3.Database, max = 500) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (!statement) {
        if (cache.size >= max) cache.clear();
        statement = database.prepare(sql);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}
