/** A request waiting its turn: `admit` lets it in; `done` once admitted or timed out. */
interface Waiter {
  admit: (admitted: boolean) => void;
  timer: NodeJS.Timeout;
  done: boolean;
}

export interface WriteGateLimits {
  /** Writes under way at once. */
  atOnce: number;
  /** Writes waiting for a turn; more are refused at once. */
  waiting: number;
  /** Longest a write waits for its turn before it is refused. */
  maxWaitMs: number;
}

/**
 * A counting gate for REST writes: at most `atOnce` under way; those after them wait in arrival
 * order, briefly. Each admitted write must `leave()` exactly once.
 */
export class WriteGate {
  readonly #limits: WriteGateLimits;
  #running = 0;
  /** In arrival order from #head; those that timed out stay until reached or compacted away. */
  #waiting: Waiter[] = [];
  #head = 0;
  /** Waiters still waiting. */
  #live = 0;

  constructor(limits: WriteGateLimits) {
    this.#limits = limits;
  }

  /** True at once when there is room, else once a turn comes; false when refused (too many waiting, or waited too long). */
  enter(): boolean | Promise<boolean> {
    if (this.#running < this.#limits.atOnce && this.#live === 0) {
      this.#running++;
      return true;
    }
    if (this.#live >= this.#limits.waiting) return false;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        admit: resolve,
        done: false,
        timer: setTimeout(() => {
          waiter.done = true;
          this.#live--;
          resolve(false);
          // Writes stuck (a database outage) while requests keep coming: drop the timed-out ones.
          if (this.#waiting.length - this.#head > 2 * this.#live + 1024) this.#compact();
        }, this.#limits.maxWaitMs),
      };
      this.#live++;
      this.#waiting.push(waiter);
    });
  }

  /** An admitted write ended: its turn goes to the longest waiting, if any. */
  leave(): void {
    while (this.#head < this.#waiting.length) {
      const waiter = this.#waiting[this.#head++]!;
      if (waiter.done) continue;
      clearTimeout(waiter.timer);
      waiter.done = true;
      this.#live--;
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) this.#compact();
      waiter.admit(true);
      return;
    }
    this.#waiting = [];
    this.#head = 0;
    this.#running--;
  }

  #compact(): void {
    this.#waiting = this.#waiting.slice(this.#head).filter((w) => !w.done);
    this.#head = 0;
  }

  /** Writes under way, and waiting (tests, metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#live };
  }
}
