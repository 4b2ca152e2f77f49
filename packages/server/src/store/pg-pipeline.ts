import {
  CompiledQuery,
  Transaction,
  type ConnectionProvider,
  type DatabaseConnection,
  type Dialect,
  type Kysely,
  type QueryResult,
} from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.ts';
import type { PipelinedTransactions } from './kysely/writer.ts';

/**
 * Write transactions on a connection in pipeline mode: a statement is sent as soon as it is
 * issued, without waiting for the answers to the ones before it, so operations of different rooms
 * in one batch share round trips instead of taking one each. (Kysely's own transactions run one
 * statement at a time; this hands the operations a `Transaction` whose statements go straight to
 * the connection.) `pool` must be made with `pipeline: true`; the BatchWriter runs one of these
 * at a time.
 */
export function pipelinedTransactions(db: Kysely<Database>, dialect: Dialect, pool: pg.Pool): PipelinedTransactions {
  const driver = dialect.createDriver();
  return {
    async run(work) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        const connection = pipelinedConnection(client);
        const trx = new Transaction<Database>({
          config: { dialect },
          dialect,
          driver,
          executor: db.getExecutor().withConnectionProvider(directProvider(connection)),
        });
        // BEGIN goes out with the first statements; should it fail, so do they. (Handled at once:
        // it may fail while `work` runs, before it is awaited.)
        const begun = connection.executeQuery(BEGIN);
        begun.catch(() => undefined);
        let value: Awaited<ReturnType<typeof work>>;
        try {
          value = await work(trx);
          await begun;
        } catch (err) {
          await begun.catch(() => undefined);
          await connection.executeQuery(ROLLBACK).catch((rollbackErr: Error) => (broken = rollbackErr));
          throw err;
        }
        let committed: QueryResult<{ command?: string }>;
        try {
          committed = await connection.executeQuery(COMMIT);
        } catch (err) {
          broken = err as Error;
          throw err;
        }
        // PostgreSQL answers COMMIT with ROLLBACK when a statement failed in the transaction.
        if (committed.rows[0]?.command === 'ROLLBACK') throw new Error('the transaction was rolled back');
        return value;
      } finally {
        // A connection left in an unknown state is closed, not reused.
        client.release(broken);
      }
    },
  };
}

const BEGIN = CompiledQuery.raw('begin');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

function directProvider(connection: DatabaseConnection): ConnectionProvider {
  return { provideConnection: (consume) => consume(connection) };
}

function pipelinedConnection(client: pg.PoolClient): DatabaseConnection {
  return {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      const { command, rowCount, rows } = await client.query(query.sql, [...query.parameters]);
      if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command }] as R[] };
      const affected = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
      return { rows: (rows ?? []) as R[], ...(affected ? { numAffectedRows: BigInt(rowCount ?? 0) } : {}) };
    },
    streamQuery() {
      throw new Error('streaming is not supported in a pipelined write transaction');
    },
  };
}
