import { describe, expect, it } from 'vitest';
import { emoji } from './fields.ts';

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
