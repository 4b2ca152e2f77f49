import { describe, expect, it } from 'vitest';
import { nestsAtMost } from './json-depth.ts';

describe('nestsAtMost', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

  it('counts arrays and objects, at and past the limit', () => {
    expect(nestsAtMost(deep(16), 16)).toBe(true);
    expect(nestsAtMost(deep(17), 16)).toBe(false);
    expect(nestsAtMost(`{"a":${deep(15)}}`, 16)).toBe(true);
    expect(nestsAtMost(`{"a":{"b":${deep(15)}}}`, 16)).toBe(false);
    // Siblings do not add up.
    expect(nestsAtMost(`[${Array.from({ length: 50 }, () => deep(10)).join(',')}]`, 16)).toBe(true);
  });

  it('skips brackets inside strings, escaped quotes and backslashes included', () => {
    expect(nestsAtMost(`{"a":"${'['.repeat(100)}"}`, 4)).toBe(true);
    expect(nestsAtMost(`{"a":"\\"${'{'.repeat(100)}"}`, 4)).toBe(true);
    expect(nestsAtMost(`{"a":"\\\\","b":${deep(10)}}`, 4)).toBe(false);
    // Three backslashes: an escaped backslash, then an escaped quote; the string goes on.
    expect(nestsAtMost(`{"a":"\\\\\\"${deep(10)}"}`, 4)).toBe(true);
    expect(nestsAtMost(`{"a":"${'[['.repeat(50)}`, 4)).toBe(true); // unterminated: JSON.parse refuses it
  });

  it('lets short text through: it is cheap to parse, however it nests', () => {
    expect(nestsAtMost('[[[[[', 2)).toBe(true);
    expect(nestsAtMost('[[[[[[', 2)).toBe(false);
  });
});
