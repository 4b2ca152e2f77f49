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
