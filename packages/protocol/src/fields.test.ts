import { describe, expect, it } from 'vitest';
import { commentBody, emoji } from './fields.ts';

describe('emoji', () => {
  it('accepts one emoji, whatever its sequence', () => {
    const one = ['👍', '👍🏽', '🙏🏿', '🇫🇷', '1️⃣', '#⃣', '❤️', '❤', '©️', '👩‍👩‍👧', '🏳️‍🌈', '❤️‍🔥', '👁️‍🗨️', '🏃🏽‍♀️', '🧑‍🤝‍🧑', '🏴󠁧󠁢󠁳󠁣󠁴󠁿'];
    expect(one.filter((e) => !emoji.safeParse(e).success)).toEqual([]);
  });

  it('refuses two emoji, a dangling joiner or modifier, and text', () => {
    const notOne = ['👍👍', '🎉🎉', '🇫🇷🇩🇪🇮🇹', '🇫', '👍\u200d', '\u200d👍', '🏽', '\ufe0f', '👍 ', 'a', '1', ':+1:', ''];
    expect(notOne.filter((e) => emoji.safeParse(e).success)).toEqual([]);
  });
});

describe('commentBody', () => {
  it('keeps tabs and line breaks, and refuses other control characters, C1 (terminal escapes) included', () => {
    expect(commentBody.safeParse('line\n\tindented\r\n').success).toBe(true);
    for (const bad of ['a\u001b[31m', 'a\u007f', 'a\u009b31mRED', '\u0090\u009d', 'a\u0085']) expect(commentBody.safeParse(bad).success).toBe(false);
  });
});
