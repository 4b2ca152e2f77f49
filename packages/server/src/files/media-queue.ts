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

interface Waiter {
  grant(): void;
}

/** A FIFO of media jobs with bounded concurrency and a bounded number of waiting jobs. */
export class MediaQueue {
  concurrency: number;
  maxWaiting: number;
  #running = 0;
  readonly #waiting: Waiter[] = [];
  /** Smoothed duration of a job, to tell refused clients when to come back. */
  #averageMs = 1000;

  constructor(concurrency = MEDIA_CONCURRENCY, maxWaiting = MEDIA_MAX_WAITING) {
    this.concurrency = concurrency;
    this.maxWaiting = maxWaiting;
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

  /**
   * Runs `job` when a slot is free. Throws busyError() at once if too many jobs already wait;
   * a waiting job whose `signal` aborts leaves the queue without running.
   */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#running < this.concurrency) {
      this.#running++;
    } else {
      if (this.#waiting.length >= this.maxWaiting) throw this.busyError();
      // A finishing job hands its slot straight to the first waiter (the running count stays).
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.#waiting.indexOf(waiter);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal!.reason);
        };
        const waiter: Waiter = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(waiter);
      });
    }
    const started = performance.now();
    try {
      return await job();
    } finally {
      this.#averageMs = this.#averageMs * 0.8 + (performance.now() - started) * 0.2;
      const next = this.#waiting.shift();
      if (next) next.grant();
      else this.#running--;
    }
  }
}

/** One queue per process: the thread pool it protects is per process too. */
export const mediaQueue = new MediaQueue();
