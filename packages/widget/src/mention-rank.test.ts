import { describe, expect, it } from 'vitest';
import { rankMentions } from './mention-rank.ts';

const user = (id: string, name: string) => ({ id, name, avatar: null, color: '#000000' });
const people = [user('alice', 'Alice Chen'), user('bob', 'Bob Smith'), user('carol', 'Carol Diaz'), user('dave', 'Dave Okafor'), user('marc', 'Marc Ochoa')];
const ids = (list: { id: string }[]) => list.map((u) => u.id);

describe('rankMentions', () => {
  it('puts a name or id that starts with the text first, then a word that does, then the rest', () => {
    expect(ids(rankMentions(people, 'c', undefined, 6))).toEqual(['carol', 'alice', 'marc']);
    expect(ids(rankMentions(people, 'o', undefined, 6))).toEqual(['dave', 'marc', 'bob', 'carol']);
    expect(ids(rankMentions(people, 'CH', undefined, 6))).toEqual(['alice', 'marc']);
  });

  it('leaves out the writer, and keeps at most max', () => {
    expect(ids(rankMentions(people, 'c', 'carol', 6))).toEqual(['alice', 'marc']);
    expect(ids(rankMentions(people, '', undefined, 2))).toEqual(['alice', 'bob']);
  });

  it('matches an id by its start only, as the server does', () => {
    expect(ids(rankMentions([user('x-lisa', 'Lisa')], 'lisa', undefined, 6))).toEqual(['x-lisa']);
    expect(ids(rankMentions([user('x-lisa', 'Someone')], 'lisa', undefined, 6))).toEqual([]);
  });
});
