import { describe, expect, it } from 'vitest';
import { colorForUser, TEXT_ON_COLOR, textOnColor, USER_PALETTE } from './palette.ts';

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

describe('textOnColor', () => {
  /** WCAG contrast ratio of two #rrggbb colours. */
  const contrast = (a: string, b: string) => {
    const lum = (hex: string) =>
      [1, 3, 5]
        .map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
        .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
        .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i]!, 0);
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p) as [number, number];
    return (x + 0.05) / (y + 0.05);
  };

  it('gives text of at least 4.5:1 on every palette colour', () => {
    for (const color of USER_PALETTE) expect(contrast(color, textOnColor(color)), color).toBeGreaterThanOrEqual(4.5);
  });

  it('keeps white on dark colours and turns dark on light ones, brought colours too', () => {
    expect(textOnColor('#1e3a8a')).toBe(TEXT_ON_COLOR.light);
    expect(textOnColor('#06b6d4')).toBe(TEXT_ON_COLOR.dark);
    expect(textOnColor('#FFFF00')).toBe(TEXT_ON_COLOR.dark);
    expect(textOnColor('not a colour')).toBe(TEXT_ON_COLOR.light);
  });
});
