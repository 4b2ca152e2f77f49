import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../schema.ts';

type Work<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  work: Work<unknown>;
  /** The room it writes in: operations of different rooms may share round trips (see PipelinedTransactions). */
  room: string | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Times it ran into a deadlock and was put back. */
  retries?: number;
}

/**
 * PostgreSQL deadlock and serialization failures (a write made outside the writer, e.g. by the
 * CLI): the operation can run again, but only in a later transaction (its batch still holds the
 * locks the other side waits for).
 */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Group commit: every write transaction of the process goes through here, one transaction at a
 * time (several at once deadlock on the rows of busy rooms and threads on PostgreSQL; SQLite has
 * one writer anyway). Operations that arrive while one commits, or within one event-loop turn,
 * share the next transaction; should one fail, the batch runs again with each operation inside
 * its own savepoint, so a failing operation is rolled back alone and its neighbours commit.
 * Results are handed out in arrival order once the transaction has committed; should the commit
 * itself fail, every operation of the batch fails. On PostgreSQL the transaction is pipelined
 * (see `byRoom`): operations of different rooms share round trips.
 */
export class BatchWriter {
  readonly #db: Kysely<Database>;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  /** Operations in the transaction under way (0: none is). */
  #committing = 0;
  #scheduled = false;
  #closed = false;
  #idle: (() => void) | undefined;
  /** When the last transaction ended (performance.now()), and how many operations it held. */
  #lastCommitAt = -Infinity;
  #lastBatchSize = 0;

  readonly #pipelined: PipelinedTransactions | undefined;

  /**
   * `maxBatch`: most operations in one transaction. On SQLite a batch, its acks and its broadcasts
   * run without yielding: 16 keeps that turn short under overload (bench/README.md round 16),
   * and a commit shared by 16 costs each little more than one shared by 32.
   */
  constructor(db: Kysely<Database>, options: { maxBatch?: number; pipelined?: PipelinedTransactions } = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 16;
    this.#pipelined = options.pipelined;
  }

  /** Operations waiting for a transaction or inside one. */
  get pending(): number {
    return this.#queue.length + this.#committing;
  }

  /**
   * `room` (see `roomOf`): the room whose rows the operation reads and writes, when it keeps to
   * one; it may also add rows outside any room (an outbox event) whose order between rooms does
   * not matter. Without it the operation runs after, and before, every other of its batch.
   */
  run<T>(work: Work<T>, room?: string): Promise<T> {
    if (this.#closed) return Promise.reject(new WriterClosedError());
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, room, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Refuses new work, fails what has not started, and waits for the transaction under way. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#failQueued();
    if (this.#committing > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
  }

  #failQueued(): void {
    for (const op of this.#queue.splice(0)) op.reject(new WriterClosedError());
  }

  #schedule(): void {
    if (this.#closed) return this.#failQueued();
    if (this.#scheduled || this.#committing > 0 || this.#queue.length === 0) return;
    this.#scheduled = true;
    // Idle: one turn later, everything that arrived meanwhile joins the transaction. Under
    // concurrent load (the last commit, moments ago, was shared): wait a little longer, since a
    // commit costs as much as several operations and a fuller batch shares it. A lone client
    // writing one thing after another never waits.
    const underLoad =
      this.#lastBatchSize > 1 && performance.now() - this.#lastCommitAt < LOAD_WINDOW_MS && this.#queue.length < this.#maxBatch;
    if (underLoad) setTimeout(() => this.#start(), GATHER_MS);
    else setImmediate(() => this.#start());
  }

  #start(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#maxBatch);
    this.#committing = batch.length;
    void this.#commit(batch).finally(() => {
      this.#committing = 0;
      this.#lastCommitAt = performance.now();
      this.#lastBatchSize = batch.length;
      this.#idle?.();
      this.#schedule();
    });
  }

  #transaction<T>(work: Work<T>): Promise<T> {
    return this.#pipelined ? this.#pipelined.run(work) : this.#db.transaction().execute(work);
  }

  async #commit(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      // Alone: no savepoint needed, the transaction is the operation's.
      const [op] = batch as [Pending];
      try {
        op.resolve(await this.#transaction((trx) => op.work(trx)));
      } catch (err) {
        if (isRetryable(err) && (op.retries = (op.retries ?? 0) + 1) <= MAX_RETRIES) this.#queue.unshift(op);
        else op.reject(err);
      }
      return;
    }
    // First without savepoints (each is a round trip on PostgreSQL): nearly every batch commits
    // whole. Should any operation fail, that transaction is rolled back and the batch runs again
    // with each operation in its own savepoint, so that only the failing one fails. (Operations
    // can run again: a deadlocked one always could.)
    try {
      const values = await this.#transaction(async (trx) => {
        if (this.#pipelined) return byRoom(batch, trx);
        const values: unknown[] = [];
        for (const op of batch) values.push(await op.work(trx));
        return values;
      });
      batch.forEach((op, i) => op.resolve(values[i]));
      return;
    } catch {
      // Run again below, isolated; a failure that is not an operation's (the connection) fails there too.
    }
    const outcomes: Outcome[] = [];
    try {
      await this.#transaction(async (trx) => {
        for (const op of batch) outcomes.push(await isolated(trx, op));
      });
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    const again: Pending[] = [];
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!;
      if (outcome === RETRY) again.push(op);
      else if (outcome.ok) op.resolve(outcome.value);
      else op.reject(outcome.error);
    });
    // Ahead of newer work: an operation's caller waits for it before sending its next one.
    if (again.length) this.#queue.unshift(...again);
  }
}

/**
 * Runs a batch's operations in one transaction whose statements need not wait for each other
 * (PostgreSQL pipeline mode): operations of one room, and those that name no room, run in arrival
 * order, one after the other; an operation of another room runs beside them. An operation without
 * a room waits for every one before it, and every one after it waits for it. Settles only once
 * every operation has (nothing may send a statement after the transaction ends); on the first
 * failure the operations not yet started are not, and the batch fails.
 */
async function byRoom(batch: Pending[], trx: Transaction<Database>): Promise<unknown[]> {
  const values: unknown[] = [];
  let failure: { error: unknown } | undefined;
  const started: Promise<void>[] = [];
  /** What an operation without a room waits for: every operation since the last such one. */
  let since: Promise<void>[] = [];
  let barrier: Promise<unknown> = Promise.resolve();
  const tails = new Map<string, Promise<void>>();
  batch.forEach((op, i) => {
    const after = op.room === undefined ? Promise.all(since) : (tails.get(op.room) ?? barrier);
    const done = after.then(async () => {
      if (failure) return;
      try {
        values[i] = await op.work(trx);
      } catch (error) {
        failure ??= { error };
      }
    });
    started.push(done);
    if (op.room === undefined) {
      barrier = done;
      since = [done];
      tails.clear();
    } else {
      tails.set(op.room, done);
      since.push(done);
    }
  });
  await Promise.all(started);
  if (failure) throw failure.error;
  return values;
}

/** Transactions whose statements are sent without waiting for the answers to the ones before. */
export interface PipelinedTransactions {
  /** Begins a transaction, runs `work` in it, and commits (rolls back should `work` throw). */
  run<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
}

const SAVEPOINT = CompiledQuery.raw('savepoint pulse_op');
const ROLLBACK_TO = CompiledQuery.raw('rollback to savepoint pulse_op');
const MAX_RETRIES = 5;
/** A commit this recent means the writer is busy: gather for GATHER_MS before the next one. */
const LOAD_WINDOW_MS = 5;
const GATHER_MS = 2;
const RETRY = Symbol('retry');
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | typeof RETRY;

function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE.has(code);
}

/**
 * Savepoints are not released: the commit releases them all, and each release would cost
 * PostgreSQL a round trip per operation. Each operation's savepoint nests in the one before;
 * rolling back to the newest of that name undoes only the failing operation.
 */
async function isolated(trx: Transaction<Database>, op: Pending): Promise<Outcome> {
  await trx.executeQuery(SAVEPOINT);
  try {
    return { ok: true, value: await op.work(trx) };
  } catch (error) {
    // A broken connection fails here too, and with it the whole batch: as it should.
    await trx.executeQuery(ROLLBACK_TO);
    if (isRetryable(error) && (op.retries = (op.retries ?? 0) + 1) <= MAX_RETRIES) return RETRY;
    return { ok: false, error };
  }
}

/** The store is closing: the write was not attempted (503 over REST, service_unavailable over WS). */
export class WriterClosedError extends Error {
  /** A connection-level code, so callers treat it as "unavailable, retry later". */
  readonly code = 'ECONNRESET';
  constructor() {
    super('the database is closing');
  }
}

/** The `room` of a write that keeps to one room (the length prefix keeps any two pairs apart). */
export const roomOf = (envId: string, roomId: string | undefined): string | undefined =>
  roomId === undefined ? undefined : `${envId.length}:${envId}:${roomId}`;

/** Runs a write transaction: through the process's BatchWriter. */
export type WriteTx = <T>(work: Work<T>, room?: string) => Promise<T>;
