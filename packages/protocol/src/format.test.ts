import { describe, expect, it } from 'vitest';
import { continuesMention, initials, isBlankText, relativeTime, timeUntil } from './format.ts';

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

describe('timeUntil', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  const ahead = (ms: number) => new Date(now + ms).toISOString();
  it('says when a scheduled time comes, and "in a moment" for one already due', () => {
    expect(timeUntil(ahead(2_000), now)).toBe('in a moment');
    expect(timeUntil(ahead(-60_000), now)).toBe('in a moment');
    expect(timeUntil(ahead(30_000), now)).toBe('in 30 s'); // a webhook's first retry: not "in a moment"
    expect(timeUntil(ahead(10_000), now)).toBe('in 10 s');
    expect(timeUntil(ahead(5 * 60_000), now)).toBe('in 5 min');
    expect(timeUntil(ahead(3 * 3_600_000), now)).toBe('in 3 h');
    expect(timeUntil(ahead(2 * 24 * 3_600_000), now)).toBe('in 2 days');
  });
});

describe('isBlankText', () => {
  it('finds nothing to read in whitespace and invisible characters only', () => {
    for (const blank of ['', '  \n\t', '\u00a0\u3000', '\u200b\u200b', '\ufeff\u2060 \u200d', '\u00ad', '\u200e\u202e\u2066', '\u3164', '\ufe0f']) expect(isBlankText(blank)).toBe(true);
    for (const text of ['a', ' \u200ba', '👍', '👩‍👩‍👧', '.']) expect(isBlankText(text)).toBe(false);
  });
});

describe('initials', () => {
  it('takes the first letters of the first and last words, never punctuation', () => {
    expect(initials('Ann Lee')).toBe('AL');
    expect(initials('  carl  ')).toBe('C');
    expect(initials("Ann-Marie O'Neil")).toBe('AO');
    expect(initials('Bob <b>Smith</b>')).toBe('BB');
    expect(initials('(Dave)')).toBe('D');
    expect(initials('Émile Zola')).toBe('ÉZ');
    expect(initials('李 小龙')).toBe('李小');
    expect(initials('🙂 ...')).toBe('?');
    expect(initials('')).toBe('?');
  });
});

describe('continuesMention', () => {
  it('reads id characters up to a letter or digit as more of the id, and sentence punctuation or other scripts as its end', () => {
    for (const after of ['by', '_x', '.net', '-2', ':a']) expect(continuesMention(after), after).toBe(true);
    for (const after of ['', ' ', '.', ', ok', '.) ', 'さん', 'é']) expect(continuesMention(after), after).toBe(false);
  });
});
