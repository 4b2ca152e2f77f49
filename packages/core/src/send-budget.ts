import { LIMITS } from '@pulse/protocol/lite';

/**
 * The client's side of the server's per-connection write budget (a token bucket of
 * `LIMITS.writesBurst` writes, refilled at `LIMITS.writesPerSecond`; see docs/protocol.md → Rate
 * limits). Sending a long offline queue in one go would empty the server's bucket, and the writes
 * past it would be refused with `rate_limited`. The client spends from its own, smaller bucket
 * instead and waits when it is empty; the margin absorbs frames that reach the server closer
 * together than they were sent.
 */
const WRITE_BURST_MARGIN = 10;
export const CLIENT_WRITE_BURST = Math.max(1, LIMITS.writesBurst - WRITE_BURST_MARGIN);
export const CLIENT_WRITES_PER_S = LIMITS.writesPerSecond;

export class WriteBudget {
  readonly #now: () => number;
  #tokens = CLIENT_WRITE_BURST;
  #at = 0;

  constructor(now: () => number = () => Date.now()) {
    this.#now = now;
    this.reset();
  }

  /** A new connection: the server's bucket starts full. */
  reset(): void {
    this.#tokens = CLIENT_WRITE_BURST;
    this.#at = this.#now();
  }

  /** Spends one write if there is one (returns 0); otherwise returns the ms until there is. */
  take(): number {
    const now = this.#now();
    this.#tokens = Math.min(CLIENT_WRITE_BURST, this.#tokens + ((now - this.#at) * CLIENT_WRITES_PER_S) / 1000);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / CLIENT_WRITES_PER_S);
  }
}
