import { describe, expect, it } from 'vitest';
import { colorForUser, USER_PALETTE } from './palette.ts';

describe('colorForUser', () => {
  it('gives an id the same colour every time, from the palette', () => {
    expect(colorForUser('alice')).toBe(colorForUser('alice'));
    expect(USER_PALETTE).toContain(colorForUser('alice'));
  });

  it('spreads ids over the whole palette, short ones too', () => {
    // These four all got one colour before the hash's bits were mixed.
    expect(new Set(['ann', 'bob', 'dan', 'ghost'].map(colorForUser)).size).toBe(4);
    const counts = new Map<string, number>();
    for (const a of 'abcdefghijklmnopqrstuvwxyz') for (const b of 'abcdefghijklmnopqrstuvwxyz') for (const v of 'aeiou') counts.set(colorForUser(a + v + b), (counts.get(colorForUser(a + v + b)) ?? 0) + 1);
    const even = (26 * 26 * 5) / USER_PALETTE.length;
    expect(counts.size).toBe(USER_PALETTE.length);
    for (const n of counts.values()) expect(Math.abs(n - even) / even).toBeLessThan(0.2);
  });
});
