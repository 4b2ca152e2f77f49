import { describe, expect, it } from 'vitest';
import { mentionCandidates } from '@pulse/protocol/lite';
import { storedMentions } from './mention-labels.ts';

const labels = new Map([
  ['@Bob Smith', 'bob'],
  ['@Bob', 'b2'],
  ['@田中', 'tanaka'],
  ['@Ops (EU) *lead*', 'ops'],
  ['@Sam Jr.', 'jr.'],
]);

describe('storedMentions', () => {
  it('stores each picked name as its id, where the name ends as an id would', () => {
    expect(storedMentions('Hi @Bob Smith, and @Bob.', labels)).toBe('Hi @bob, and @b2.');
    expect(storedMentions('@Ops (EU) *lead* please', labels)).toBe('@ops please');
    expect(storedMentions('Ask @Sam Jr.', labels)).toBe('Ask @jr.');
    // Letters that are not part of an id's characters end the mention, as the server reads it.
    const cjk = storedMentions('@田中さん、見てください', labels);
    expect(cjk).toBe('@tanakaさん、見てください');
    expect([...mentionCandidates(cjk)]).toContain('tanaka');
  });

  it('leaves a name that goes on, and does not take a shorter name out of a longer one', () => {
    expect(storedMentions('@Bobby and @Bob_x and @Bob.net', labels)).toBe('@Bobby and @Bob_x and @Bob.net');
    expect(storedMentions('@Bob Smithers', labels)).toBe('@Bob Smithers');
    expect(storedMentions('@bob typed by hand, @unknown, a@Bob', labels)).toBe('@bob typed by hand, @unknown, a@b2');
  });

  it('never reads an id it wrote as another name', () => {
    const swapped = new Map([
      ['@alex', 'sam'],
      ['@sam', 'alex'],
    ]);
    expect(storedMentions('@alex and @sam', swapped)).toBe('@sam and @alex');
    expect(storedMentions('no mentions', new Map())).toBe('no mentions');
  });
});
