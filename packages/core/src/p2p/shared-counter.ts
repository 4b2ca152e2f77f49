import type * as Y from 'yjs';
import { Emitter } from '../emitter.ts';

/** A change of a SharedCounter's value. */
export interface SharedCounterChange {
  value: number;
  previous: number;
  local: boolean;
}

/**
 * A number every peer can increment and decrement at the same time without losing a step:
 * each client keeps its own running total and the value is their sum.
 */
export class SharedCounter {
  /** The counter's name within the room. */
  readonly name: string;
  readonly #totals: Y.Map<number>;
  readonly #clientKey: string;
  readonly #events = new Emitter<{ change: SharedCounterChange }>();
  readonly #observer: (event: Y.YMapEvent<number>) => void;
  readonly #onDestroy: () => void;
  #value: number;
  #destroyed = false;

  /** @internal Created by `P2PManager.sharedCounter`. */
  constructor(name: string, totals: Y.Map<number>, clientId: number, onDestroy: () => void) {
    this.name = name;
    this.#totals = totals;
    this.#clientKey = String(clientId);
    this.#onDestroy = onDestroy;
    this.#value = this.#sum();
    this.#observer = (event) => {
      const previous = this.#value;
      this.#value = this.#sum();
      if (this.#value !== previous) this.#events.emit('change', { value: this.#value, previous, local: event.transaction.local });
    };
    totals.observe(this.#observer);
  }

  /** The current value. */
  get value(): number {
    return this.#value;
  }

  /** Adds `n` (default 1). */
  increment(n = 1): void {
    this.#alive();
    if (!Number.isFinite(n)) throw new TypeError('SharedCounter: increment by a finite number');
    this.#totals.set(this.#clientKey, (this.#totals.get(this.#clientKey) ?? 0) + n);
  }

  /** Subtracts `n` (default 1). */
  decrement(n = 1): void {
    this.increment(-n);
  }

  /** Subscribes to value changes; returns the unsubscribe function. */
  on(event: 'change', handler: (change: SharedCounterChange) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** The value (for JSON.stringify). */
  toJSON(): number {
    return this.#value;
  }

  /** Stops observing and forgets this instance (the value stays in the room). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#totals.unobserve(this.#observer);
    this.#onDestroy();
  }

  #sum(): number {
    let sum = 0;
    for (const v of this.#totals.values()) if (typeof v === 'number') sum += v;
    return sum;
  }

  #alive(): void {
    if (this.#destroyed) throw new Error(`SharedCounter "${this.name}" was destroyed`);
  }
}
