import { describe, expect, it } from 'vitest';
import { CHUNK_ROWS, inChunks } from './in-chunks.ts';

describe('inChunks', () => {
  it('runs chunks until one changes fewer than CHUNK_ROWS, letting other work run in between', async () => {
    let left = 2 * CHUNK_ROWS + 5;
    const order: string[] = [];
    const total = await inChunks(() => {
      order.push('chunk');
      // Work that arrives meanwhile (an I/O callback) runs before the next chunk.
      setImmediate(() => order.push('other'));
      const n = Math.min(left, CHUNK_ROWS);
      left -= n;
      return Promise.resolve(n);
    });
    expect(total).toBe(2 * CHUNK_ROWS + 5);
    expect(order.slice(0, 5)).toEqual(['chunk', 'other', 'chunk', 'other', 'chunk']);
  });

  it('stops after one chunk when nothing is left', async () => {
    let calls = 0;
    expect(
      await inChunks(() => {
        calls++;
        return Promise.resolve(0);
      }),
    ).toBe(0);
    expect(calls).toBe(1);
  });
});
