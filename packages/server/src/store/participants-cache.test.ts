import { describe, expect, it } from 'vitest';
import { ParticipantsCache } from './participants-cache.ts';

describe('ParticipantsCache', () => {
  it('reads a thread once, then adds authors in order', async () => {
    const cache = new ParticipantsCache();
    let reads = 0;
    const load = async () => (reads++, ['bob']);
    expect(await cache.get('e', 't', load)).toEqual(['bob']);
    cache.added('e', 't', 'alice');
    cache.added('e', 't', 'carol');
    cache.added('e', 't', 'bob');
    expect(await cache.get('e', 't', load)).toEqual(['alice', 'bob', 'carol']);
    expect(reads).toBe(1);
    cache.forget('e', 't');
    expect(await cache.get('e', 't', load)).toEqual(['bob']);
    expect(reads).toBe(2);
  });

  it('does not keep a read that a change to the same thread overtook', async () => {
    const cache = new ParticipantsCache();
    let answer!: (users: string[]) => void;
    const pending = cache.get('e', 't', () => new Promise((resolve) => (answer = resolve)));
    cache.added('e', 't', 'carol'); // committed while the read was under way
    answer(['alice']);
    expect(await pending).toEqual(['alice']);
    expect(await cache.get('e', 't', async () => ['alice', 'carol'])).toEqual(['alice', 'carol']);
  });

  it('starts over when another process changed the database', async () => {
    let changed = false;
    const cache = new ParticipantsCache(() => changed);
    await cache.get('e', 't', async () => ['alice']);
    changed = true;
    expect(await cache.get('e', 't', async () => ['alice', 'zed'])).toEqual(['alice', 'zed']);
  });

  it('hands out copies', async () => {
    const cache = new ParticipantsCache();
    const first = await cache.get('e', 't', async () => ['alice']);
    first.push('mallory');
    expect(await cache.get('e', 't', async () => [])).toEqual(['alice']);
  });
});
