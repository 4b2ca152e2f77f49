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
});
