import { CONTROL_POLL_MS } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { ControlEvent } from '../store/types.ts';

/**
 * Follows the control log so that key, config and environment changes made by the CLI or by
 * another node reach this server within one poll interval.
 */
export class ControlPoller {
  readonly #store: Store;
  readonly #onEvent: (event: ControlEvent) => void;
  readonly #onError: (err: unknown) => void;
  #last = 0;
  /** The last poll's failure, until a poll succeeds. */
  lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(store: Store, onEvent: (event: ControlEvent) => void, onError: (err: unknown) => void) {
    this.#store = store;
    this.#onEvent = onEvent;
    this.#onError = onError;
  }

  async start(intervalMs = CONTROL_POLL_MS): Promise<void> {
    this.#last = await this.#store.lastControlEventId();
    this.#timer = setInterval(() => void this.poll(), intervalMs);
    this.#timer.unref();
  }

  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      for (;;) {
        const events = await this.#store.controlEventsAfter(this.#last, 100);
        for (const event of events) {
          this.#last = event.id;
          this.#onEvent(event);
        }
        if (events.length < 100) break;
      }
      this.lastError = undefined;
    } catch (err) {
      this.lastError = String((err as Error)?.message ?? err);
      this.#onError(err);
    } finally {
      this.#polling = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
