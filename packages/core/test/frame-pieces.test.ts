import { describe, expect, it } from 'vitest';
import { jsonStringBytes, splitForFrames } from '../src/p2p/frame-pieces.ts';

describe('splitForFrames', () => {
  it('keeps every piece within the byte budget as a JSON string, and the pieces rejoin to the text', () => {
    const texts = ['a'.repeat(100_000), 'é'.repeat(70_000), '"\\\n\u0001'.repeat(20_000), '😀x'.repeat(30_000), ''];
    for (const text of texts) {
      const pieces = splitForFrames(text, 48 * 1024, 48 * 1024);
      expect(pieces.join('')).toBe(text);
      for (const piece of pieces) {
        expect(piece.length).toBeLessThanOrEqual(48 * 1024);
        expect(jsonStringBytes(piece)).toBeLessThanOrEqual(48 * 1024);
      }
    }
    // Plain ASCII fills each piece to the character limit.
    expect(splitForFrames('a'.repeat(100_000), 48 * 1024, 64 * 1024).map((p) => p.length)).toEqual([49_152, 49_152, 1_696]);
  });
});
