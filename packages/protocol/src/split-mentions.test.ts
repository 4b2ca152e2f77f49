import { describe, expect, it } from 'vitest';
import { splitMentions } from './format.ts';

describe('splitMentions', () => {
  const names = new Map([
    ['bob', 'Bob Smith'],
    ['ann.lee', 'Ann Lee'],
  ]);

  it('shows known @ids by name and leaves the rest as written', () => {
    expect(splitMentions('Hi @bob and @carol', names)).toEqual([{ text: 'Hi ' }, { text: '@Bob Smith', mention: 'bob' }, { text: ' and @carol' }]);
  });

  it('keeps punctuation after a mention out of the id, unless the id has it', () => {
    expect(splitMentions('Thanks @bob.', names)).toEqual([{ text: 'Thanks ' }, { text: '@Bob Smith', mention: 'bob' }, { text: '.' }]);
    expect(splitMentions('@ann.lee: done', names)).toEqual([{ text: '@Ann Lee', mention: 'ann.lee' }, { text: ': done' }]);
  });

  it('trims a long run of trailing punctuation (in linear time: the regex it replaced was quadratic)', () => {
    const run = '.-'.repeat(5000);
    expect(splitMentions(`@bob${run}`, names)).toEqual([{ text: '@Bob Smith', mention: 'bob' }, { text: run }]);
    expect(splitMentions(`@${run}a`, names)).toEqual([{ text: `@${run}a` }]);
  });
});
