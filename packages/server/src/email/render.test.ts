import { describe, expect, it } from 'vitest';
import { threadLink } from './render.ts';

describe('email: the link back to a thread', () => {
  const template = 'https://app.example.com/rooms/{roomId}/view?x=1#thread-{threadId}';

  it('fills the template with URL-encoded ids', () => {
    expect(threadLink(template, 'docs.getting started/2', 'th_1')).toBe('https://app.example.com/rooms/docs.getting%20started%2F2/view?x=1#thread-th_1');
    expect(threadLink('', 'r', 't')).toBeUndefined();
  });

  it('gives no link for an id that would climb out of the path', () => {
    for (const id of ['.', '..']) {
      expect(threadLink(template, id, 'th_1')).toBeUndefined();
      expect(threadLink(template, 'room', id)).toBeUndefined();
    }
    expect(new URL(threadLink(template, '...', 'th_1')!).pathname).toBe('/rooms/.../view');
  });
});
