import type { Store } from '../store/index.ts';
import type { EmailBatch, EmailBatchOutcome } from '../store/types.ts';

/**
 * Keeps the batches one pass claimed its own while it works through them, however slow SMTP is:
 * their lease is extended every quarter of its length. Without it a batch still waiting its turn,
 * or one whose send is slow, would run out of lease and another node would send it too.
 *
 * Every write under the lease (renewing, finishing, releasing) goes through one queue, so a
 * renewal never moves the lease under a batch being finished.
 */
export class BatchLease {
  readonly #store: Store;
  readonly #leaseMs: number;
  readonly #held = new Map<string, EmailBatch>();
  readonly #timer: NodeJS.Timeout;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(store: Store, batches: readonly EmailBatch[], leaseMs: number, onError: (err: unknown) => void) {
    this.#store = store;
    this.#leaseMs = leaseMs;
    for (const b of batches) this.#held.set(b.batchId, b);
    this.#timer = setInterval(() => {
      this.#enqueue(() => this.#renew()).catch(onError);
    }, leaseMs / 4);
    this.#timer.unref();
  }

  /** Whether the batch is still this pass's (false once another node took it over). */
  holds(batch: EmailBatch): boolean {
    return this.#held.has(batch.batchId);
  }

  /** Renews the lease now: a send is about to start, and it should find the batch still held. */
  async renew(): Promise<void> {
    await this.#enqueue(() => this.#renew());
  }

  /** Records the batch's outcome under its current lease; false when the batch was lost meanwhile. */
  finish(batch: EmailBatch, outcome: EmailBatchOutcome): Promise<boolean> {
    return this.#settle(batch, (held) => this.#store.finishEmailBatch(held, outcome));
  }

  /** Lets the batch go unclaimed again; false when it was lost meanwhile. */
  release(batch: EmailBatch): Promise<boolean> {
    return this.#settle(batch, (held) => this.#store.releaseEmailBatch(held));
  }

  close(): void {
    clearInterval(this.#timer);
    this.#held.clear();
  }

  #settle(batch: EmailBatch, write: (held: EmailBatch) => Promise<boolean>): Promise<boolean> {
    return this.#enqueue(async () => {
      const held = this.#held.get(batch.batchId);
      if (!held) return false;
      this.#held.delete(batch.batchId);
      return write(held);
    });
  }

  async #renew(): Promise<void> {
    // Batches claimed together share one lease, and are renewed together.
    const byLease = new Map<string, string[]>();
    for (const b of this.#held.values()) {
      const ids = byLease.get(b.leaseUntil);
      if (ids) ids.push(b.batchId);
      else byLease.set(b.leaseUntil, [b.batchId]);
    }
    const until = new Date(Date.now() + this.#leaseMs).toISOString();
    for (const [leaseUntil, ids] of byLease) {
      const kept = new Set(await this.#store.renewEmailBatches(ids, leaseUntil, until));
      for (const id of ids) {
        const b = this.#held.get(id);
        if (!b) continue;
        if (kept.has(id)) this.#held.set(id, { ...b, leaseUntil: until });
        else this.#held.delete(id);
      }
    }
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
