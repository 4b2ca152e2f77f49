/** A token bucket kept as two numbers, so thousands of idle connections cost nothing. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    now = Date.now(),
  ) {
    this.#tokens = capacity;
    this.#at = now;
  }

  /** While suspended, tokens accrue past capacity, up to one more burst (see suspend()). */
  #suspended = false;

  #refill(now: number): void {
    const cap = this.#suspended ? 2 * this.capacity : this.capacity;
    // Tokens banked past capacity during a suspension stay until spent.
    if (this.#tokens < cap) this.#tokens = Math.min(cap, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
  }

  /**
   * The owner stopped reading (backpressure): what the client sends meanwhile arrives all at once
   * when reading resumes, each frame having been within the rate when it was sent. Until
   * resume(), tokens accrue past the burst, by the rate and up to one more burst, so that backlog
   * is not refused; over any window, no more than two bursts and the rate get through.
   */
  suspend(now = Date.now()): void {
    this.#refill(now);
    this.#suspended = true;
  }

  resume(now = Date.now()): void {
    this.#refill(now);
    this.#suspended = false;
  }

  /** Gives back tokens taken for work that was then not done (never past the burst). */
  refund(count = 1, now = Date.now()): void {
    this.#refill(now);
    this.#tokens = Math.min(this.#tokens + count, this.#suspended ? 2 * this.capacity : this.capacity);
  }

  /** Takes `count` tokens, or none when there are fewer. */
  take(now = Date.now(), count = 1): boolean {
    this.#refill(now);
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** Seconds until there are `count` tokens (0 when they are there). */
  secondsUntilNext(now = Date.now(), count = 1): number {
    this.#refill(now);
    return this.#tokens >= count ? 0 : (count - this.#tokens) / this.perSecond;
  }

  /** Refilled to capacity: the same as a new bucket, so it can be forgotten. */
  isFull(now = Date.now()): boolean {
    this.#refill(now);
    return this.#tokens >= this.capacity;
  }
}

/** Buckets kept before full (idle) ones are dropped. */
const PRUNE_AT = 10_000;

/**
 * One bucket per key (an environment and user), kept while it is not full again: a user who
 * closes every socket and signs in again finds the allowance they left, not a new one.
 */
export class KeyedBuckets {
  burst: number;
  perSecond: number;
  readonly #buckets = new Map<string, TokenBucket>();
  #pruneAt = PRUNE_AT;

  constructor(burst: number, perSecond: number) {
    this.burst = burst;
    this.perSecond = perSecond;
  }

  get(key: string, now = Date.now()): TokenBucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#pruneAt) this.#prune(now);
      bucket = new TokenBucket(this.burst, this.perSecond, now);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Drops the buckets that have refilled: they are the same as no bucket. */
  #prune(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.isFull(now)) this.#buckets.delete(key);
    this.#pruneAt = Math.max(PRUNE_AT, this.#buckets.size * 2);
  }
}
