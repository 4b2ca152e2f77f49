/** How often an answer that waits for the queue to empty looks again. */
const BUSY_RETRY_MS = 250;

export interface SyncPacerHooks {
  /**
   * Sends a request for what this client lacks (a state vector of now) to peer `to`; `sent` is
   * told when it has left (true), or was dropped unsent (false).
   */
  ask(to: string, sent: (sent: boolean) => void): void;
  /** Sends peer `to` what it lacks against `vector`. */
  answer(to: string, vector: Uint8Array): void;
  /** Whether frames still wait to go out (an earlier answer may be megabytes, sent in paced pieces). */
  busy(): boolean;
  /** Whether `id` is still a peer of the session. */
  present(id: string): boolean;
}

/**
 * Paces the sync steps a client exchanges with single peers through the server. Requests: to one
 * peer at most one per interval; one asked sooner waits, and then carries the state vector of its
 * time. The interval counts from when a request left, not from when it was queued: behind an
 * answer going out in paced pieces it may leave late, and the next one, on time, would reach the
 * server sooner after it than the server allows. Answers: an answer holds what the asker lacks,
 * up to the room's whole state, so one peer gets at most one per interval (to its latest
 * request), and none is made while an earlier one still waits to be sent. A peer asking over and
 * over costs this client one answer per interval.
 */
export class SyncPacer {
  readonly #hooks: SyncPacerHooks;
  readonly #intervalMs: number;
  readonly #askedAt = new Map<string, number>();
  readonly #askTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Peers asked whose request has not left yet. */
  readonly #queued = new Set<string>();
  readonly #answeredAt = new Map<string, number>();
  readonly #waiting = new Map<string, Uint8Array>();
  #answerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(hooks: SyncPacerHooks, intervalMs: number) {
    this.#hooks = hooks;
    this.#intervalMs = intervalMs;
  }

  ask(to: string): void {
    if (this.#askTimers.has(to)) return; // one is due already, with the vector of its time
    // One still queued: look again an interval later (by then it has left, and its time is known).
    const wait = this.#queued.has(to) ? this.#intervalMs : (this.#askedAt.get(to) ?? -Infinity) + this.#intervalMs - Date.now();
    if (wait <= 0) return this.#askNow(to);
    const timer = setTimeout(() => {
      this.#askTimers.delete(to);
      if (this.#hooks.present(to)) this.ask(to);
    }, wait);
    this.#askTimers.set(to, timer);
  }

  answer(from: string, vector: Uint8Array): void {
    this.#waiting.set(from, vector); // a later request replaces one not answered yet
    this.#answerDue();
  }

  /** A peer left: nothing more for it, nor from it. */
  forget(id: string): void {
    clearTimeout(this.#askTimers.get(id));
    this.#askTimers.delete(id);
    this.#askedAt.delete(id);
    this.#queued.delete(id);
    this.#answeredAt.delete(id);
    this.#waiting.delete(id);
  }

  /** The session ended. */
  clear(): void {
    for (const id of [...this.#askTimers.keys(), ...this.#answeredAt.keys(), ...this.#waiting.keys()]) this.forget(id);
    this.#askedAt.clear();
    this.#queued.clear();
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
  }

  #askNow(to: string): void {
    this.#askedAt.set(to, Date.now());
    this.#queued.add(to);
    this.#hooks.ask(to, (sent) => {
      if (!this.#queued.delete(to)) return; // forgotten meanwhile
      if (sent) this.#askedAt.set(to, Date.now());
    });
  }

  #answerDue(): void {
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
    let next = Infinity;
    for (const [from, vector] of this.#waiting) {
      if (!this.#hooks.present(from)) {
        this.#waiting.delete(from);
        continue;
      }
      const wait = (this.#answeredAt.get(from) ?? -Infinity) + this.#intervalMs - Date.now();
      if (wait > 0) {
        next = Math.min(next, wait);
        continue;
      }
      if (this.#hooks.busy()) {
        next = Math.min(next, BUSY_RETRY_MS);
        break;
      }
      this.#waiting.delete(from);
      this.#answeredAt.set(from, Date.now());
      this.#hooks.answer(from, vector);
    }
    if (this.#waiting.size > 0 && next < Infinity) this.#answerTimer = setTimeout(() => this.#answerDue(), next);
  }
}
