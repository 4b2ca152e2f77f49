import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { SharedCounter } from '../src/p2p/shared-counter.ts';
import { SharedList, type SharedListChange } from '../src/p2p/shared-list.ts';
import { SharedMap, type SharedMapChange } from '../src/p2p/shared-map.ts';

/** Two documents that exchange every update at once, like two peers on a perfect network. */
function pair(): [Y.Doc, Y.Doc] {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(b, u, 'remote'));
  b.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(a, u, 'remote'));
  return [a, b];
}

describe('SharedMap', () => {
  it('reports adds, updates and deletes with old and new values, local and remote', () => {
    const [a, b] = pair();
    const ma = new SharedMap<number>('m', a.getMap('map:m'), () => undefined);
    const mb = new SharedMap<number>('m', b.getMap('map:m'), () => undefined);
    const seen: SharedMapChange<number>[] = [];
    mb.on('change', (c) => seen.push(...c));
    ma.set('x', 1);
    ma.set('x', 2);
    mb.set('y', 3);
    expect(ma.delete('x')).toBe(true);
    expect(seen).toEqual([
      { action: 'add', key: 'x', value: 1, oldValue: undefined, local: false },
      { action: 'update', key: 'x', value: 2, oldValue: 1, local: false },
      { action: 'add', key: 'y', value: 3, oldValue: undefined, local: true },
      { action: 'delete', key: 'x', value: undefined, oldValue: 2, local: false },
    ]);
    expect(mb.toJSON()).toEqual({ y: 3 });
    expect(() => ma.set('z', undefined as never)).toThrow(TypeError);
  });

  it('stops observing after destroy and refuses writes', () => {
    const doc = new Y.Doc();
    let forgotten = false;
    const m = new SharedMap<number>('m', doc.getMap('map:m'), () => (forgotten = true));
    let events = 0;
    m.on('change', () => events++);
    m.destroy();
    doc.getMap('map:m').set('k', 1);
    expect(events).toBe(0);
    expect(forgotten).toBe(true);
    expect(() => m.set('k', 2)).toThrow(/destroyed/);
  });
});

describe('shared values', () => {
  it('must be JSON data, refused before they touch the document, which keeps syncing', () => {
    const [a, b] = pair();
    const ma = new SharedMap<unknown>('m', a.getMap('map:m'), () => undefined);
    const la = new SharedList<unknown>('l', a.getArray('list:l'), () => undefined);
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const holey = [1, 2, 3];
    delete holey[1];
    const refused: [unknown, RegExp][] = [
      [cycle, /the value at \.self contains itself/],
      [new Date(0), /is a Date \(store date\.toISOString\(\)\)/],
      [Number.NaN, /is NaN/],
      [{ n: Infinity }, /the value at \.n is Infinity/],
      [10n, /is a bigint/],
      [new Map(), /is a Map/],
      [new Uint8Array([1, 2]), /is a Uint8Array/],
      [() => 1, /is a function/],
      [{ list: [1, undefined] }, /the value at \.list\[1\] is undefined/],
      [holey, /the value at \[1\] is undefined/],
    ];
    for (const [value, message] of refused) {
      expect(() => ma.set('bad', value)).toThrow(message);
      expect(() => la.push(value)).toThrow(message);
    }
    expect(ma.has('bad')).toBe(false);
    expect(la.length).toBe(0);
    // Plain data, optional (undefined) fields and objects without a prototype pass, and reach the other peer.
    const plain = Object.assign(Object.create(null) as object, { k: 1 });
    ma.set('ok', { a: [1, 'two', { three: null }], optional: undefined, b: true, plain });
    la.push('after');
    expect(b.getMap('map:m').get('ok')).toMatchObject({ a: [1, 'two', { three: null }], b: true });
    expect(b.getArray('list:l').toArray()).toEqual(['after']);
  });
});

describe('SharedList', () => {
  it('inserts, deletes, sets and moves, with positional change events', () => {
    const [a, b] = pair();
    const la = new SharedList<string>('l', a.getArray('list:l'), () => undefined);
    const lb = new SharedList<string>('l', b.getArray('list:l'), () => undefined);
    const seen: SharedListChange<string>[] = [];
    lb.on('change', (c) => seen.push(...c));
    la.push('a', 'b', 'c');
    la.insert(1, 'x');
    expect(lb.toArray()).toEqual(['a', 'x', 'b', 'c']);
    expect(la.delete(0, 2)).toEqual(['a', 'x']);
    la.set(1, 'C');
    la.move(1, 0);
    expect(lb.toArray()).toEqual(['C', 'b']);
    expect(seen.slice(0, 3)).toEqual([
      { action: 'insert', index: 0, values: ['a', 'b', 'c'], local: false },
      { action: 'insert', index: 1, values: ['x'], local: false },
      { action: 'delete', index: 0, count: 2, local: false },
    ]);
    expect(lb.get(5)).toBeUndefined();
    expect(() => la.insert(9, 'no')).toThrow(RangeError);
    expect(() => la.delete(-1)).toThrow(RangeError);
  });

  it('refuses an index that is not a whole number and a delete count below 1', () => {
    const l = new SharedList<string>('l', new Y.Doc().getArray('list:l'), () => undefined);
    l.push('a', 'b');
    expect(() => l.insert('1' as never, 'y')).toThrow(/an index is a whole number \(got string "1"\)/);
    expect(() => l.delete(0, -1)).toThrow(/at least 1 \(got -1\)/);
    expect(l.toArray()).toEqual(['a', 'b']);
  });

  it('keeps both of two concurrent inserts, in the same order everywhere', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    const la = new SharedList<string>('l', a.getArray('list:l'), () => undefined);
    const lb = new SharedList<string>('l', b.getArray('list:l'), () => undefined);
    la.push('from-a');
    lb.push('from-b');
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b));
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    expect(la.toArray()).toEqual(lb.toArray());
    expect(la.length).toBe(2);
  });
});

describe('SharedCounter', () => {
  it('never loses concurrent increments (each client keeps its own total)', () => {
    const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()];
    const counters = docs.map((d) => new SharedCounter('c', d.getMap<number>('counter:c'), d.clientID, () => undefined));
    counters.forEach((c, i) => {
      for (let k = 0; k <= i; k++) c.increment(10);
      c.decrement();
    });
    // Everyone merges everyone's state, in different orders.
    for (const d of docs) for (const other of docs) Y.applyUpdate(d, Y.encodeStateAsUpdate(other));
    expect(counters.map((c) => c.value)).toEqual([57, 57, 57]);
    const changes: number[] = [];
    counters[0]!.on('change', (e) => changes.push(e.value));
    counters[0]!.increment();
    expect(changes).toEqual([58]);
    expect(() => counters[0]!.increment(Number.NaN)).toThrow(TypeError);
  });
});
