import type * as Y from 'yjs';
import { Emitter } from '../emitter.ts';
import { assertJsonValue } from './json-value.ts';

/** One change of a SharedList: items inserted at `index`, or `count` items deleted from `index`. */
export type SharedListChange<T> =
  | { action: 'insert'; index: number; values: T[]; local: boolean }
  | { action: 'delete'; index: number; count: number; local: boolean };

/**
 * An ordered list shared by every peer of the room. Concurrent inserts at the same place all
 * survive, in the same order on every peer; items are JSON-compatible values.
 */
export class SharedList<T = unknown> {
  /** The list's name within the room. */
  readonly name: string;
  readonly #list: Y.Array<T>;
  readonly #events = new Emitter<{ change: SharedListChange<T>[] }>();
  readonly #observer: (event: Y.YArrayEvent<T>) => void;
  readonly #onDestroy: () => void;
  #destroyed = false;

  /** @internal Created by `P2PManager.sharedList`. */
  constructor(name: string, list: Y.Array<T>, onDestroy: () => void) {
    this.name = name;
    this.#list = list;
    this.#onDestroy = onDestroy;
    this.#observer = (event) => {
      const changes: SharedListChange<T>[] = [];
      const local = event.transaction.local;
      let index = 0;
      for (const d of event.changes.delta) {
        if (d.retain) index += d.retain;
        else if (d.insert) {
          const values = d.insert as T[];
          changes.push({ action: 'insert', index, values, local });
          index += values.length;
        } else if (d.delete) changes.push({ action: 'delete', index, count: d.delete, local });
      }
      if (changes.length) this.#events.emit('change', changes);
    };
    list.observe(this.#observer);
  }

  /** Appends items at the end. */
  push(...items: T[]): void {
    this.#alive();
    this.#check(items);
    this.#list.push(items);
  }

  /** Inserts items before `index` (0 … length). */
  insert(index: number, ...items: T[]): void {
    this.#alive();
    this.#index(index, this.#list.length);
    this.#check(items);
    this.#list.insert(index, items);
  }

  /** Deletes `count` items (default 1) from `index`; returns the deleted items. */
  delete(index: number, count = 1): T[] {
    this.#alive();
    this.#index(index, this.#list.length - 1);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`SharedList "${this.name}": delete count must be a whole number of at least 1 (got ${String(count)})`);
    const n = Math.min(count, this.#list.length - index);
    const removed = this.#list.slice(index, index + n);
    this.#list.delete(index, n);
    return removed;
  }

  /** Replaces the item at `index`. */
  set(index: number, value: T): void {
    this.#alive();
    this.#index(index, this.#list.length - 1);
    this.#check([value]);
    this.#transact(() => {
      this.#list.delete(index, 1);
      this.#list.insert(index, [value]);
    });
  }

  /**
   * Moves the item at `from` so that it ends up at index `to`. A move is a delete and an insert in
   * one change: if two peers move the same item at the same moment, it appears twice.
   */
  move(from: number, to: number): void {
    this.#alive();
    this.#index(from, this.#list.length - 1);
    this.#index(to, this.#list.length - 1);
    if (from === to) return;
    const item = this.#list.get(from);
    this.#transact(() => {
      this.#list.delete(from, 1);
      this.#list.insert(to, [item]);
    });
  }

  /** The item at `index`, or undefined. */
  get(index: number): T | undefined {
    return index >= 0 && index < this.#list.length ? this.#list.get(index) : undefined;
  }

  /** Number of items. */
  get length(): number {
    return this.#list.length;
  }

  /** The items as an array. */
  toArray(): T[] {
    return this.#list.toArray();
  }

  /** The items as an array (for JSON.stringify). */
  toJSON(): T[] {
    return this.#list.toArray();
  }

  /** Calls `fn` for every item. */
  forEach(fn: (value: T, index: number, list: SharedList<T>) => void): void {
    this.#list.toArray().forEach((v, i) => fn(v, i, this));
  }

  /** Subscribes to changes, local and remote; returns the unsubscribe function. */
  on(event: 'change', handler: (changes: SharedListChange<T>[]) => void): () => void {
    return this.#events.on(event, handler);
  }

  /** Stops observing and forgets this instance (the data stays in the room). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#list.unobserve(this.#observer);
    this.#onDestroy();
  }

  #transact(fn: () => void): void {
    const doc = this.#list.doc;
    if (doc) doc.transact(fn);
    else fn();
  }

  #index(index: number, max: number): void {
    if (typeof index !== 'number' || !Number.isInteger(index)) throw new TypeError(`SharedList "${this.name}": an index is a whole number (got ${typeof index} ${JSON.stringify(index)})`);
    if (index < 0 || index > max) throw new RangeError(`SharedList "${this.name}": index ${index} is out of range 0…${Math.max(max, 0)}`);
  }

  #check(items: T[]): void {
    if (items.some((i) => i === undefined)) throw new TypeError('SharedList items cannot be undefined');
    for (const item of items) assertJsonValue(item, `SharedList "${this.name}"`);
  }

  #alive(): void {
    if (this.#destroyed) throw new Error(`SharedList "${this.name}" was destroyed`);
  }
}


