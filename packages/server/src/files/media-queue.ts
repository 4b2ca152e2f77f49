import { performance } from 'node:perf_hooks';
import { RetryLaterError } from '../retry-later.ts';

/**
 * At most this many media checks (image decode and thumbnail, audio/video parsing) run at once
 * in a process. Decoders run on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says
 * otherwise), which file reads and writes also use: keeping media to half of it means serving
 * files never waits behind thumbnails.
 */
export const MEDIA_CONCURRENCY = 2;
/** Uploads that may wait for their turn; past this, uploads are refused with 503 until the queue drains. */
export const MEDIA_MAX_WAITING = 32;
/**
 * Jobs one owner (a user of an environment) may have running or waiting: as many as they may
 * upload at once (UPLOAD_BURST), leaving the rest of MEDIA_MAX_WAITING to everyone else.
 */
export const MEDIA_PER_OWNER = 20;

interface Waiter {
  owner: string;
  grant(): void;
}

/**
 * Media jobs with bounded concurrency and a bounded number of waiting jobs, fair between owners:
 * each has at most MEDIA_PER_OWNER jobs in the queue, and a free slot goes to the first waiter
 * whose owner has nothing running (then to the first waiter). One user's uploads of files built
 * to take the checks' whole deadline no longer make everyone else's wait a minute.
 */
export class MediaQueue {
  concurrency: number;
  maxWaiting: number;
  perOwner: number;
  #running = 0;
  readonly #waiting: Waiter[] = [];
  /** Jobs per owner, running or waiting. */
  readonly #owned = new Map<string, { queued: number; running: number }>();
  /** Smoothed duration of a job, to tell refused clients when to come back. */
  #averageMs = 1000;

  constructor(concurrency = MEDIA_CONCURRENCY, maxWaiting = MEDIA_MAX_WAITING, perOwner = MEDIA_PER_OWNER) {
    this.concurrency = concurrency;
    this.maxWaiting = maxWaiting;
    this.perOwner = perOwner;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether a job submitted now would be refused. */
  get full(): boolean {
    return this.#running >= this.concurrency && this.#waiting.length >= this.maxWaiting;
  }

  /** The refusal for a full queue, with a guess of when a turn frees up. */
  busyError(): RetryLaterError {
    const seconds = (((this.#waiting.length + 1) / Math.max(1, this.concurrency)) * this.#averageMs) / 1000;
    return new RetryLaterError('service_unavailable', 'The server is busy checking other uploads; try again in a few seconds.', seconds);
  }

  /** Whether `owner` has as many jobs in the queue as one owner may. */
  ownerFull(owner: string): boolean {
    return (this.#owned.get(owner)?.queued ?? 0) >= this.perOwner;
  }

  /** The refusal for an owner with as many jobs as allowed. */
  ownerBusyError(): RetryLaterError {
    return new RetryLaterError('rate_limited', `${this.perOwner} of your uploads are still being checked; send this one once some are done.`, Math.ceil(this.#averageMs / 1000));
  }

  /**
   * Runs `job` for `owner` when a slot is free. Throws at once if the owner has too many jobs in
   * the queue (ownerBusyError) or too many jobs already wait (busyError); a waiting job whose
   * `signal` aborts leaves the queue without running.
   */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal, owner = ''): Promise<T> {
    signal?.throwIfAborted();
    if (this.ownerFull(owner)) throw this.ownerBusyError();
    if (this.#running >= this.concurrency && this.#waiting.length >= this.maxWaiting) throw this.busyError();
    const counts = this.#owned.get(owner) ?? { queued: 0, running: 0 };
    this.#owned.set(owner, counts);
    counts.queued++;
    try {
      if (this.#running < this.concurrency) {
        this.#running++;
      } else {
        // A finishing job hands its slot straight to a waiter (the running count stays).
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            const i = this.#waiting.indexOf(waiter);
            if (i >= 0) this.#waiting.splice(i, 1);
            reject(signal!.reason);
          };
          const waiter: Waiter = {
            owner,
            grant: () => {
              signal?.removeEventListener('abort', onAbort);
              resolve();
            },
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          this.#waiting.push(waiter);
        });
      }
      counts.running++;
      const started = performance.now();
      try {
        return await job();
      } finally {
        counts.running--;
        this.#averageMs = this.#averageMs * 0.8 + (performance.now() - started) * 0.2;
        const next = this.#nextWaiter();
        if (next) next.grant();
        else this.#running--;
      }
    } finally {
      if (--counts.queued === 0) this.#owned.delete(owner);
    }
  }

  /** The first waiter whose owner has nothing running, or else the first. */
  #nextWaiter(): Waiter | undefined {
    const i = this.#waiting.findIndex((w) => (this.#owned.get(w.owner)?.running ?? 0) === 0);
    return this.#waiting.splice(i >= 0 ? i : 0, 1)[0];
  }
}

/** One queue per process: the thread pool it protects is per process too. */
export const mediaQueue = new MediaQueue();
