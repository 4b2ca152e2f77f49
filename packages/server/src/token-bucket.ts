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

  #refill(now: number): void {
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
  }

  take(now = Date.now()): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Seconds until the next token (0 when one is there). */
  secondsUntilNext(now = Date.now()): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : (1 - this.#tokens) / this.perSecond;
  }

  /** Refilled to capacity: the same as a new bucket, so it can be forgotten. */
  isFull(now = Date.now()): boolean {
    this.#refill(now);
    return this.#tokens >= this.capacity;
  }
}
