import { RetryLaterError } from '../retry-later.ts';
import { HEAVY_READS } from './limits.ts';

/**
 * Panel reads that walk an environment's whole table (the room and user lists, their searches
 * and counts, the analytics). Each one yields to other requests between chunks, but many at once
 * take the server's thread in turns: 24 searches of 300,000 users held `/healthz` for seconds.
 * So at most `HEAVY_READS.running` run at once on a node and the rest wait their turn, in order.
 * A session may have `perSession` running or waiting (more: 429); past `waiting` waiting on the
 * node the answer is 503. Both with `Retry-After`.
 */
export class HeavyReads {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #bySession = new Map<string, number>();

  async run<T>(sessionId: string, read: () => Promise<T>): Promise<T> {
    const mine = this.#bySession.get(sessionId) ?? 0;
    if (mine >= HEAVY_READS.perSession) {
      throw new RetryLaterError('rate_limited', `At most ${HEAVY_READS.perSession} list, search or analytics requests at once per session: wait for the last ones.`, 1);
    }
    if (this.#running >= HEAVY_READS.running && this.#waiting.length >= HEAVY_READS.waiting) {
      throw new RetryLaterError('service_unavailable', 'Too many list and search requests under way; retry in a moment.', 1);
    }
    this.#bySession.set(sessionId, mine + 1);
    try {
      if (this.#running < HEAVY_READS.running) this.#running++;
      else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // its slot is handed over
      try {
        return await read();
      } finally {
        const next = this.#waiting.shift();
        if (next) next();
        else this.#running--;
      }
    } finally {
      const left = (this.#bySession.get(sessionId) ?? 1) - 1;
      if (left > 0) this.#bySession.set(sessionId, left);
      else this.#bySession.delete(sessionId);
    }
  }
}
