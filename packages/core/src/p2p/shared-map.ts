import type * as Y from 'yjs';
import { Emitter } from '../emitter.ts';
import { assertJsonValue } from './json-value.ts';

/** One change of a SharedMap. `action`: the key was added, its value replaced, or the key deleted. */
export interface SharedMapChange<T> {
  action: 'add' | 'update' | 'delete';
  key: string;
  /** The value now (undefined after a delete). */
  value: T | undefined;
  /** The value before (undefined after an add). */
  oldValue: T | undefined;
  /** True when this client made the change, false when it came from a peer. */
  local: boolean;
}

/**
 * A key-value map shared by every peer of the room. Values are JSON-compatible data (objects,
 * arrays, strings, numbers, booleans, null); a value is replaced as a whole, and concurrent writes
 * of one key resolve to the same winner on every peer (last writer wins per key).
 */
export class SharedMap<T = unknown> {
  /** The map's name within the room. */
  readonly name: string;
  readonly #map: Y.Map<T>;
  readonly #events = new Emitter<{ change: SharedMapChange<T>[] }>();
  readonly #observer: (event: Y.YMapEvent<T>) => void;
  readonly #onDestroy: () => void;
  #destroyed = false;

  /** @internal Created by `P2PManager.sharedMap`. */
  constructor(name: string, map: Y.Map<T>, onDestroy: () => void) {
    this.name = name;
    this.#map = map;
    this.#onDestroy = onDestroy;
    this.#observer = (event) => {
      const changes: SharedMapChange<T>[] = [];
      for (const [key, change] of event.changes.keys) {
        changes.push({ action: change.action, key, value: map.get(key), oldValue: change.oldValue as T | undefined, local: event.transaction.local });
      }
      if (changes.length) this.#events.emit('change', changes);
    };
    map.observe(this.#observer);
  }

  /** The value of `key`, or undefined. */
  get(key: string): T | undefined {
    return this.#map.get(key);
  }

  /** Sets `key` to `value` (JSON-compatible; `undefined` is not allowed, use `delete`). */
  set(key: string, value: T): void {
    this.#alive();
    if (typeof key !== 'string') throw new TypeError('SharedMap keys are strings');
    if (value === undefined) throw new TypeError('SharedMap values cannot be undefined; use delete(key)');
    assertJsonValue(value, `SharedMap "${this.name}".set(${JSON.stringify(key)})`);
    this.#map.set(key, value);
  }

  /** Deletes `key`; returns whether it existed. */
  delete(key: string): boolean {
    this.#alive();
    if (!this.#map.has(key)) return false;
    this.#map.delete(key);
    return true;
  }

  /** Whether `key` exists. */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /** Every key. */
  keys(): string[] {
    return [...this.#map.keys()];
  }

  /** Every value. */
  values(): T[] {
    return [...this.#map.values()];
  }

  /** Every `[key, value]` pair. */
  entries(): [string, T][] {
    return [...this.#map.entries()];
  }

  /** Calls `fn` for every entry. */
  forEach(fn: (value: T, key: string, map: SharedMap<T>) => void): void {
    for (const [key, value] of this.#map.entries()) fn(value, key, this);
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** The map as a plain object. */
  toJSON(): Record<string, T> {
    return Object.fromEntries(this.#map.entries());
  }

  /**
   * Subscribes to changes, local and remote: the handler gets the changes of one transaction
   * (one local call, or one update from a peer). Returns the unsubscribe function.
   */
  on(event: 'change', handler: (changes: SharedMapChange<T>[]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /**
   * Stops observing and forgets this instance: the data stays in the room, and a later
   * `sharedMap(name)` returns a new instance on it.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#map.unobserve(this.#observer);
    this.#onDestroy();
  }

  #alive(): void {
    if (this.#destroyed) throw new Error(`SharedMap "${this.name}" was destroyed`);
  }
}
