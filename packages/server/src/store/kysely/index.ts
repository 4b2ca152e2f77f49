import { Migrator, sql, type Kysely } from 'kysely';
import { PulseMigrationProvider, type Dialect } from '../migrations.ts';
import type { Database } from '../schema.ts';
import type { Store } from '../types.ts';
import { contentRepo } from './content.ts';
import type { FileLinks } from '../../files/links.ts';
import { adminRepo } from './admin.ts';
import { attachmentRepo } from './attachments.ts';
import { browseRepo } from './browse.ts';
import { environmentRepo } from './environments.ts';
import { cachedKeys } from '../key-cache.ts';
import { ParticipantsCache } from '../participants-cache.ts';
import { realtimeRepo } from './realtime.ts';
import { webhookRepo } from './webhooks.ts';
import { emailRepo } from './email.ts';
import { sharedStateRepo } from './p2p.ts';
import { hotStatements, type DirectStatements } from './hot-statements.ts';
import { BatchWriter, type PipelinedTransactions, type WriteTx } from './writer.ts';

/** True when `version` has moved since the last call: one watcher per cache. */
function changedSince(version: () => number): () => boolean {
  let seen = version();
  return () => {
    const now = version();
    if (now === seen) return false;
    seen = now;
    return true;
  };
}

/** What sets the drivers apart, beyond their Kysely instance. */
export interface KyselyStoreOptions {
  onClose?: () => Promise<void>;
  /** The PostgreSQL schema the tables live in, when not the default one. */
  schema?: string;
  /**
   * How many writes by another process this one has seen (SQLite): the store then keeps what only
   * its own writes change in memory (thread participants). Without it (PostgreSQL, where other
   * nodes write) that is read from the database each time.
   */
  externalVersion?: () => number;
  /** Write transactions in pipeline mode (PostgreSQL). */
  pipelined?: PipelinedTransactions;
  /** The connection's own prepared statements (SQLite): see hotStatements. */
  direct?: DirectStatements;
}

/** Both drivers share this implementation; they differ only in how the Kysely instance is built. */
export function kyselyStore(db: Kysely<Database>, dialect: Dialect, links: FileLinks, options: KyselyStoreOptions = {}): Store {
  const { onClose = () => db.destroy(), schema, externalVersion, pipelined } = options;
  const environments = environmentRepo(db);
  const writer = new BatchWriter(db, { pipelined });
  const tx: WriteTx = (work, room) => writer.run(work, room);
  const hot = hotStatements(dialect, options.direct);
  return {
    dialect,
    ...environments,
    ...cachedKeys(environments, externalVersion && changedSince(externalVersion)),
    ...contentRepo(db, links, tx, hot, externalVersion && new ParticipantsCache(changedSince(externalVersion))),
    ...attachmentRepo(db, links),
    ...realtimeRepo(db, tx, hot),
    ...adminRepo(db, dialect),
    ...browseRepo(db, links),
    ...webhookRepo(db, dialect, tx, hot, options.direct),
    ...emailRepo(db),
    ...sharedStateRepo(db),
    async migrate() {
      // Kysely looks for its bookkeeping tables in every schema unless told which one: with
      // several Pulse schemas in one database (tests, tenants) it would find another's.
      const migrator = new Migrator({ db, provider: new PulseMigrationProvider(dialect), ...(schema ? { migrationTableSchema: schema } : {}) });
      const { error, results } = await migrator.migrateToLatest();
      const failed = results?.find((r) => r.status === 'Error');
      if (error || failed) {
        const what = failed ? `database migration ${failed.migrationName}` : 'database migration';
        const where = dialect === 'postgres' ? ' (PostgreSQL at DATABASE_URL)' : '';
        throw new Error(`${what} failed${where}: ${String((error as Error)?.message ?? error)}`);
      }
    },
    pendingWrites: () => writer.pending,
    async ping() {
      // SQLite: on the connection at once, not after the write under way and the reads queued
      // behind it (a health probe that waits for the write queue reports a busy server as stalled).
      if (options.direct) options.direct.prepare('select 1').all();
      else await sql`select 1`.execute(db);
    },
    async close() {
      await writer.close();
      await onClose();
    },
  };
}
