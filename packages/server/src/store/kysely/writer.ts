import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../schema.ts';

type Work<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface WriterOptions {
  /** Transactions in flight at once: 1 for SQLite (one connection), a few for PostgreSQL. */
  concurrency: number;
  /** Most operations in one transaction; the rest wait for the next one. */
  maxBatch?: number;
}

/** PostgreSQL deadlock and serialization failures: the operation can simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Group commit: every write transaction of the process goes through here. Operations that
 * arrive within one event-loop turn share one database transaction (one commit), each inside
 * its own savepoint, so a failing operation is rolled back alone and its neighbours commit.
 * Results are handed out in arrival order once the transaction has committed; should the
 * commit itself fail, every operation of the batch fails with it.
 */
export class BatchWriter {
  readonly #db: Kysely<Database>;
  readonly #concurrency: number;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #inFlight = 0;
  #inFlightOps = 0;
  #scheduled = false;

  constructor(db: Kysely<Database>, options: WriterOptions) {
    this.#db = db;
    this.#concurrency = options.concurrency;
    this.#maxBatch = options.maxBatch ?? 256;
  }

  /** Operations waiting for a transaction or inside one. */
  get pending(): number {
    return this.#queue.length + this.#inFlightOps;
  }

  run<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#concurrency || this.#queue.length === 0) return;
    this.#scheduled = true;
    // One turn later: everything that arrives meanwhile joins the same transaction.
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#queue.length > 0 && this.#inFlight < this.#concurrency) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        this.#inFlight++;
        this.#inFlightOps += batch.length;
        void this.#commit(batch).finally(() => {
          this.#inFlight--;
          this.#inFlightOps -= batch.length;
          this.#schedule();
        });
      }
    });
  }

  async #commit(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      // Alone: no savepoint needed, the transaction is the operation's.
      const [op] = batch as [Pending];
      try {
        op.resolve(await this.#db.transaction().execute((trx) => op.work(trx)));
      } catch (err) {
        op.reject(err);
      }
      return;
    }
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        for (const op of batch) outcomes.push(await isolated(trx, op.work));
      });
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) op.resolve(outcome.value);
      else op.reject(outcome.error);
    });
  }
}

async function isolated(trx: Transaction<Database>, work: Work<unknown>) {
  for (let attempt = 0; ; attempt++) {
    await sql`savepoint pulse_op`.execute(trx);
    try {
      const value = await work(trx);
      await sql`release savepoint pulse_op`.execute(trx);
      return { ok: true as const, value };
    } catch (error) {
      // A broken connection fails here too, and with it the whole batch: as it should.
      await sql`rollback to savepoint pulse_op`.execute(trx);
      await sql`release savepoint pulse_op`.execute(trx);
      const code = (error as { code?: unknown } | null)?.code;
      if (attempt < 2 && typeof code === 'string' && RETRYABLE.has(code)) continue;
      return { ok: false as const, error };
    }
  }
}

/** Runs a write transaction: through the process's BatchWriter. */
export type WriteTx = <T>(work: Work<T>) => Promise<T>;
