import { RetryLaterError } from './retry-later.ts';

/** Uploads one user may start in a burst, per environment… */
export const UPLOAD_BURST = 20;
/** …and how fast that allowance refills. */
export const UPLOADS_PER_MINUTE = 20;
/** Buckets kept before full (idle) ones are dropped. */
const PRUNE_AT = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per environment + user for POST /api/v1/upload, charged when a request
 * arrives, before any of its body is read. Per process: N nodes allow N times the rate.
 */
export class UploadRateLimiter {
  burst: number;
  perMinute: number;
  readonly #buckets = new Map<string, Bucket>();
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
      bucket = { tokens: this.burst, at: now };
      this.#buckets.set(key, bucket);
    }
    const perMs = this.perMinute / 60_000;
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const waitS = (1 - bucket.tokens) / perMs / 1000;
    throw new RetryLaterError('rate_limited', `Too many uploads: at most ${this.burst} at once, then ${this.perMinute} a minute. Try again in ${Math.ceil(waitS)} s.`, waitS);
  }

  /** Drops the buckets that have refilled: they are the same as no bucket. */
  #prune(now: number): void {
    const perMs = this.perMinute / 60_000;
    for (const [key, b] of this.#buckets) if (b.tokens + (now - b.at) * perMs >= this.burst) this.#buckets.delete(key);
    this.#pruneAt = Math.max(PRUNE_AT, this.#buckets.size * 2);
  }
}
