import { describe, expect, it } from 'vitest';
import { MediaQueue } from './media-queue.ts';

/** A job that runs until released. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { job: () => done, open };
}

describe('MediaQueue', () => {
  it('gives a free slot to a waiter whose owner has nothing running, before the owner holding the others', async () => {
    const queue = new MediaQueue(2, 32, 3);
    const order: string[] = [];
    const gates = [gate(), gate(), gate()];
    const mallory = gates.map((g, i) => queue.run(async () => (await g.job(), order.push(`m${i}`)), undefined, 'mallory'));
    const alice = queue.run(async () => order.push('alice'), undefined, 'alice');
    expect(queue.waiting).toBe(2); // m2, then alice
    // A fourth of mallory's is refused at once: she holds as many as one owner may.
    expect(queue.ownerFull('mallory')).toBe(true);
    await expect(queue.run(async () => undefined, undefined, 'mallory')).rejects.toMatchObject({ code: 'rate_limited' });
    // m0 ends while m1 still runs: the slot goes to alice, although m2 waited longer.
    gates[0]!.open();
    await alice;
    expect(order).toEqual(['m0', 'alice']);
    gates[1]!.open();
    gates[2]!.open();
    await Promise.all(mallory);
    expect(order).toEqual(['m0', 'alice', 'm1', 'm2']);
    expect(queue.ownerFull('mallory')).toBe(false);
    expect(queue.running).toBe(0);
  });
});
