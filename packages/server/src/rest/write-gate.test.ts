import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { WriteGate } from './write-gate.ts';

describe('WriteGate', () => {
  it('lets writes in up to its limit, then hands each turn that ends to the longest waiting', async () => {
    const gate = new WriteGate({ atOnce: 2, waiting: 10, maxWaitMs: 5_000 });
    expect(gate.enter()).toBe(true);
    expect(gate.enter()).toBe(true);
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) => Promise.resolve(gate.enter()).then((ok) => (order.push(n), ok)));
    expect(gate.load).toEqual({ running: 2, waiting: 3 });
    gate.leave();
    gate.leave();
    await sleep(0);
    expect(order).toEqual([1, 2]);
    // Someone new does not jump the queue while others wait.
    const late = gate.enter();
    expect(late).toBeInstanceOf(Promise);
    gate.leave();
    gate.leave();
    expect(await Promise.all(waiting)).toEqual([true, true, true]);
    expect(await late).toBe(true);
    gate.leave();
    gate.leave();
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
    expect(gate.enter()).toBe(true);
  });

  it('refuses a write that waited too long, or that finds too many waiting; the turn goes to the next one alive', async () => {
    const gate = new WriteGate({ atOnce: 1, waiting: 2, maxWaitMs: 50 });
    expect(gate.enter()).toBe(true);
    const first = gate.enter();
    const second = gate.enter();
    expect(gate.enter()).toBe(false); // two already wait
    expect(await first).toBe(false);
    expect(await second).toBe(false);
    expect(gate.load).toEqual({ running: 1, waiting: 0 });
    const third = gate.enter();
    gate.leave(); // passes over the two that timed out
    expect(await third).toBe(true);
    expect(gate.load).toEqual({ running: 1, waiting: 0 });
    gate.leave();
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it('keeps only what still waits while no turn ends (writes stuck, requests still coming)', async () => {
    const gate = new WriteGate({ atOnce: 1, waiting: 4000, maxWaitMs: 10 });
    expect(gate.enter()).toBe(true);
    for (let round = 0; round < 3; round++) {
      const refused = await Promise.all(Array.from({ length: 1500 }, () => Promise.resolve(gate.enter())));
      expect(refused.every((ok) => ok === false)).toBe(true);
    }
    expect(gate.load.waiting).toBe(0);
    const next = gate.enter();
    gate.leave();
    expect(await next).toBe(true);
  });
});
