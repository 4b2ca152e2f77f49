import { describe, expect, it } from 'vitest';
import { relativeTime } from './format.ts';

describe('relativeTime', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();

  it('reads like a person would say it', () => {
    expect(relativeTime(ago(10_000), now)).toBe('just now');
    expect(relativeTime(ago(5 * 60_000), now)).toBe('5 min ago');
    expect(relativeTime(ago(3 * 3_600_000), now)).toBe('3 h ago');
    expect(relativeTime(ago(24 * 3_600_000), now)).toBe('1 day ago');
    expect(relativeTime(ago(2 * 24 * 3_600_000), now)).toBe('2 days ago');
  });

  it('shows a date after a month, and "just now" for a clock that runs ahead', () => {
    expect(relativeTime(ago(60 * 24 * 3_600_000), now)).toMatch(/2026/);
    expect(relativeTime(ago(-60_000), now)).toBe('just now');
  });
});
