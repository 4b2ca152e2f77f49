import { RetryLaterError } from '../retry-later.ts';
import { TokenBucket } from '../token-bucket.ts';

/** Uploads one user may start in a burst, per environment… */
export const UPLOAD_BURST = 20;
/** …and how fast that allowance refills. */
export const UPLOADS_PER_MINUTE = 20;
/** Buckets kept before full (idle) ones are dropped. */
const PRUNE_AT = 10_000;

/**
 * A token bucket per environment + user for POST /api/v1/upload, charged when a request
 * arrives, before any of its body is read. Per process: N nodes allow N times the rate.
 */
export class UploadRateLimiter {
  burst: number;
  perMinute: number;
  readonly #buckets = new Map<string, TokenBucket>();
  #pruneAt = PRUNE_AT;

  constructor(burst = UPLOAD_BURST, perMinute = UPLOADS_PER_MINUTE) {
    this.burst = burst;
    this.perMinute = perMinute;
  }

  /** Takes one upload from the user's allowance, or throws 429 rate_limited with the wait. */
  take(envId: string, userId: string, now = Date.now()): void {
    const key = `${envId}\u0000${userId}`;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#pruneAt) this.#prune(now);
      bucket = new TokenBucket(this.burst, this.perMinute / 60, now);
      this.#buckets.set(key, bucket);
    }
    if (bucket.take(now)) return;
    const waitS = bucket.secondsUntilNext(now);
    throw new RetryLaterError('rate_limited', `Too many uploads: at most ${this.burst} at once, then ${this.perMinute} a minute. Try again in ${Math.ceil(waitS)} s.`, waitS);
  }

  /** Drops the buckets that have refilled: they are the same as no bucket. */
  #prune(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.isFull(now)) this.#buckets.delete(key);
    this.#pruneAt = Math.max(PRUNE_AT, this.#buckets.size * 2);
  }
}
