import { LIMITS } from '@pulse/protocol/lite';

/**
 * The client's side of one of the server's per-connection token buckets (see docs/protocol.md →
 * Rate limits): a client that would empty the server's bucket in one go (a long offline queue, a
 * P2P frame of hundreds of pieces) spends from its own, smaller bucket instead and waits when it
 * is empty, so nothing it sends is refused or dropped by the server's limit.
 */
export class SendBudget {
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens = 0;
  #at = 0;

  constructor(burst: number, perSecond: number, now: () => number = () => Date.now()) {
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#now = now;
    this.reset();
  }

  /** A new connection: the server's bucket starts full. */
  reset(): void {
    this.#tokens = this.#burst;
    this.#at = this.#now();
  }

  /** Spends one send if there is one (returns 0); otherwise returns the ms until there is. */
  take(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#perSecond) / 1000);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#perSecond);
  }
}

/** Writes: the margin absorbs frames that reach the server closer together than they were sent. */
const WRITE_BURST_MARGIN = 10;
export const writeBudget = (now?: () => number) => new SendBudget(Math.max(1, LIMITS.writesBurst - WRITE_BURST_MARGIN), LIMITS.writesPerSecond, now);

/**
 * Pieces of chunked P2P frames: half of the server's message bucket, the other half staying for
 * everything else the connection sends meanwhile (cursors, typing, other P2P frames).
 */
export const p2pPieceBudget = (now?: () => number) => new SendBudget(Math.floor(LIMITS.messagesBurst / 2), LIMITS.messagesPerSecond / 2, now);
