/**
 * A background pass (email, `notification.unread`) run every `intervalMs` and when kicked, never
 * two at once; a failed pass is reported and the next one tries again. `close()` waits for the
 * pass under way, which may check `closed` to stop early.
 */
export class PeriodicPass {
  readonly #run: () => Promise<void>;
  readonly #intervalMs: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(run: () => Promise<void>, intervalMs: number, onError: (err: unknown) => void) {
    this.#run = run;
    this.#intervalMs = intervalMs;
    this.#onError = onError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#intervalMs);
    this.#timer.unref();
  }

  kick(): void {
    if (this.#closed || this.#running) return;
    this.#running = this.#run()
      .catch(this.#onError)
      .finally(() => (this.#running = undefined));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
  }
}
