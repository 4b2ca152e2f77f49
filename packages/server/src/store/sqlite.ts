import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDialectConfig } from 'kysely';
import { securePrivateFile, tightenMode, PRIVATE_FILE_MODE } from '../data-dir.ts';
import { FileLinks } from '../files/links.ts';
import type { Database } from './schema.ts';
import { kyselyStore } from './kysely/index.ts';
import type { Store } from './types.ts';
import { InlineLimitsPlugin } from './kysely/inline-limits.ts';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  file: string;
  /**
   * `normal` (default) survives a crash of the Pulse process (kill -9) with every
   * acknowledged write; `full` also survives a power loss, at the cost of one fsync per commit.
   */
  synchronous?: 'normal' | 'full';
  links?: FileLinks;
  /** Tuning of the WAL checkpoints (tests make them small and fast). */
  checkpoints?: Partial<CheckpointOptions>;
}

interface CheckpointOptions {
  /** How often the worker checkpoints. */
  intervalMs: number;
  /** Past this size the -wal file is started over. */
  restartBytes: number;
}

/**
 * Each catch-up (see startCheckpointer) holds writes back for milliseconds: at 2,000 comments/s
 * a 64 MB threshold made them frequent enough to show in the p99 (85–128 ms against 60–79 with
 * 256 MB, bench/README.md round 12).
 */
const CHECKPOINTS: CheckpointOptions = { intervalMs: 500, restartBytes: 256 * 1024 * 1024 };

export function openSqliteStore(options: SqliteOptions): Store {
  const onDisk = options.file !== ':memory:';
  // Admin password hashes and every tenant's content: 0600. SQLite gives the -wal and -shm
  // files the database file's mode, so the file is created private before SQLite opens it.
  if (onDisk) securePrivateFile(options.file);
  const database = new BetterSqlite3(options.file);
  database.pragma('journal_mode = WAL');
  if (onDisk) for (const suffix of ['-wal', '-shm']) tightenMode(options.file + suffix, PRIVATE_FILE_MODE);
  database.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma('foreign_keys = ON');
  // Every write touches a dozen b-trees: keep their pages in memory (32 MB of cache; SQLite's
  // default is 2 MB).
  database.pragma('cache_size = -32768');
  database.pragma('temp_store = MEMORY');
  // The CLI writes to the same file while a server runs: wait for the lock rather than fail.
  database.pragma('busy_timeout = 5000');
  // lower() folds every letter, as on PostgreSQL, not ASCII alone: searches for "él" find "Élodie".
  database.function('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));
  const checkpointer = !onDisk ? undefined : startCheckpointer(database, options.file, { ...CHECKPOINTS, ...options.checkpoints });
  const statements = withStatementCache(database);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: statements }), plugins: [new InlineLimitsPlugin()] });
  // Changes committed by another connection (the CLI) move data_version: cached keys and
  // thread participants are then reread. Counted here, so that each cache can tell on its own;
  // read once per event-loop turn (a change seen a few lookups later in the same turn is no
  // different from one committed a moment later).
  const dataVersion = database.prepare('PRAGMA data_version').pluck();
  let seenVersion = dataVersion.get();
  let externalChanges = 0;
  let readThisTurn = false;
  const externalVersion = () => {
    if (readThisTurn) return externalChanges;
    readThisTurn = true;
    setImmediate(() => (readThisTurn = false));
    const now = dataVersion.get();
    if (now !== seenVersion) {
      seenVersion = now;
      externalChanges++;
    }
    return externalChanges;
  };
  return kyselyStore(db, 'sqlite', options.links ?? new FileLinks(), {
    onClose: async () => {
      await checkpointer?.stop();
      await db.destroy();
    },
    externalVersion,
    direct: statements,
  });
}

/**
 * Transactions take SQLite's write lock as they begin (BEGIN IMMEDIATE), waiting for it up to the
 * busy timeout. A deferred transaction that reads first fails at its first write, at once and
 * whatever the busy timeout, when another process (the CLI) committed in between: "database is
 * locked" (SQLITE_BUSY_SNAPSHOT).
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * Kysely prepares every query anew; preparing costs more than running our small statements.
 * The SQL text of a Kysely query is stable (values are bound), so statements are cached by text.
 */
function withStatementCache(database: BetterSqlite3.Database, max = 500) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    get inTransaction() {
      return database.inTransaction;
    },
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

/**
 * WAL checkpoints copy committed pages into the database file and fsync it; run on the writer's
 * thread they stall every request behind them for milliseconds. A worker thread with its own
 * connection checkpoints instead (PASSIVE: it never blocks the writer), and the main connection's
 * automatic checkpoints are turned off. Should the worker fail, they are turned back on.
 *
 * SQLite starts the -wal file over only when a checkpoint has copied all of it, which a passive
 * checkpoint never does while commits keep coming: under sustained writes the file grew by the
 * whole write volume (55 MB/s at 1,000 comments/s). Once it passes `restartBytes`, the worker
 * repeats its pass until one finds only a few new pages, then asks this thread to copy what is
 * left, with its two syncs (measured at 2,000 comments/s: 2 ms on average, at most 6, against 14
 * and 26 when the worker made one second pass only); the next write then starts the file over.
 * A RESTART checkpoint in the worker would hold writers off (and wait on any reader, such as the
 * CLI) while this thread slept on the lock. The file keeps its size (cutting it back with
 * `journal_size_limit` stalled the next commit by 5–12 ms each time).
 */
function startCheckpointer(database: BetterSqlite3.Database, file: string, options: CheckpointOptions) {
  const worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { file, ...options } });
  worker.unref();
  database.pragma('wal_autocheckpoint = 0');
  let stopped = false;
  const fallBack = () => {
    if (!stopped && database.open) database.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('error', (err) => {
    console.error('[pulse] WAL checkpoint worker failed; checkpointing on the main thread:', err.message);
    fallBack();
  });
  worker.on('exit', fallBack);
  // The worker's passive passes leave the frames of the last few milliseconds; copied here, where
  // no write can land meanwhile, the log is all copied and the next write starts it over.
  worker.on('message', () => {
    if (stopped || !database.open || database.inTransaction) return;
    try {
      database.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy (the CLI is checkpointing): the worker asks again.
    }
  });
  return {
    async stop() {
      stopped = true;
      await worker.terminate();
    },
  };
}

const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const frameBytes = db.pragma('page_size', { simple: true }) + 24;
const checkpoint = () => db.pragma('wal_checkpoint(PASSIVE)')[0];
let caughtUpAt = -1;
setInterval(() => {
  try {
    // log: the frames in the file; the same as at the last catch-up means no write came since.
    let { log } = checkpoint();
    if (log * frameBytes < workerData.restartBytes || log === caughtUpAt) return;
    // Each pass copies what the log gained during the one before: repeated until that is a few
    // pages, the server's thread is left with a few milliseconds' worth, not a whole pass's.
    for (let pass = 0; pass < 8; pass++) {
      const next = checkpoint().log;
      const gained = next - log;
      log = next;
      if (gained < 64) break;
    }
    caughtUpAt = log;
    parentPort.postMessage('catch-up');
  } catch {}
}, workerData.intervalMs);
`;
