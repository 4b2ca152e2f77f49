import { describe, expect, it } from 'vitest';
import { RetryLaterError } from '../retry-later.ts';
import { HeavyReads } from './heavy-reads.ts';
import { HEAVY_READS } from './limits.ts';

/** A read that ends when told to. */
function gated() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return { open, read: async () => gate };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('HeavyReads', () => {
  it('runs two at a time, the rest in the order they came, each slot handed to the next', async () => {
    const heavy = new HeavyReads();
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => gated());
    const done = gates.map((g, i) =>
      heavy.run(`session-${i}`, async () => {
        started.push(i);
        await g.read();
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    gates[1]!.open();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.open();
    gates[2]!.open();
    await tick();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    gates[3]!.open();
    gates[4]!.open();
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3, 4]);
    // All slots back: two new reads start at once.
    const more = [gated(), gated()];
    const again: number[] = [];
    const later = more.map((g, i) => heavy.run('s', async () => (again.push(i), g.read())));
    await tick();
    expect(again).toEqual([0, 1]);
    more.forEach((g) => g.open());
    await Promise.all(later);
  });

  it('gives the slot back when a read fails', async () => {
    const heavy = new HeavyReads();
    await expect(heavy.run('s', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(heavy.run('s', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(heavy.run('s', () => Promise.resolve('ok'))).resolves.toBe('ok');
  });

  it('refuses a session past its share (429) and everyone once the line is full (503), with Retry-After', async () => {
    const heavy = new HeavyReads();
    const g = gated();
    const mine = Array.from({ length: HEAVY_READS.perSession }, () => heavy.run('greedy', g.read));
    const refused = await heavy.run('greedy', g.read).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RetryLaterError);
    expect(refused).toMatchObject({ code: 'rate_limited', retryAfterS: 1 });
    // Other sessions still get in line, until the node's line is full.
    const others: Promise<unknown>[] = [];
    const room = HEAVY_READS.running + HEAVY_READS.waiting - HEAVY_READS.perSession;
    for (let i = 0; i < room; i++) others.push(heavy.run(`other-${i}`, g.read));
    const full = await heavy.run('late', g.read).catch((e: unknown) => e);
    expect(full).toMatchObject({ code: 'service_unavailable', retryAfterS: 1 });
    g.open();
    await Promise.all([...mine, ...others]);
    await expect(heavy.run('greedy', () => Promise.resolve(1))).resolves.toBe(1);
  });
});
