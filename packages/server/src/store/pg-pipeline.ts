import { PostgresDialect, Transaction, type ConnectionProvider, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.ts';
import type { PipelinedTransactions } from './kysely/writer.ts';

/**
 * Write transactions on a connection in pipeline mode: a statement is sent as soon as it is
 * issued, without waiting for the answers to the ones before it, so operations of different rooms
 * in one batch share round trips instead of taking one each. Kysely's own transactions run one
 * statement at a time (their connection provider waits for each); this hands the operations a
 * `Transaction` whose statements go straight to the connection, which Kysely's PostgreSQL driver
 * acquires, begins, commits or rolls back and releases as usual. `pool` must be made with
 * `pipeline: true`; the BatchWriter runs one of these at a time.
 */
export async function pipelinedTransactions(db: Kysely<Database>, pool: pg.Pool): Promise<PipelinedTransactions> {
  const dialect = new PostgresDialect({ pool });
  const driver = dialect.createDriver();
  await driver.init();
  return {
    async run(work) {
      const connection = await driver.acquireConnection();
      try {
        const direct: ConnectionProvider = { provideConnection: (consume) => consume(connection) };
        const trx = new Transaction<Database>({ config: { dialect }, dialect, driver, executor: db.getExecutor().withConnectionProvider(direct) });
        // BEGIN goes out with the first statements. (Handled at once: it may fail while `work`
        // runs, before it is awaited.)
        const begun = driver.beginTransaction(connection, {});
        begun.catch(() => undefined);
        let value: Awaited<ReturnType<typeof work>>;
        try {
          value = await work(trx);
          await begun;
        } catch (err) {
          await begun.catch(() => undefined);
          // A connection whose rollback fails is discarded by the driver, not reused.
          await driver.rollbackTransaction(connection).catch(() => undefined);
          throw err;
        }
        await driver.commitTransaction(connection);
        return value;
      } finally {
        await driver.releaseConnection(connection);
      }
    },
  };
}
