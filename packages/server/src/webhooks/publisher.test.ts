import { describe, expect, it } from 'vitest';
import type { FileLinks } from '../files/links.ts';
import type { Store } from '../store/index.ts';
import { WebhookPublisher } from './publisher.ts';

const publisherWith = (endpoints: { events: string[] }[]) => {
  const publisher = new WebhookPublisher({ listWebhookEndpoints: async () => endpoints } as unknown as Store, {} as FileLinks);
  const kicks = { count: 0 };
  publisher.onRecorded(() => kicks.count++);
  return { publisher, kicks };
};

describe('WebhookPublisher', () => {
  it('makes intents without waking the dispatcher: the change wakes it once it committed them', async () => {
    const { publisher, kicks } = publisherWith([{ events: [] }]);
    // Change X records an event; change Y, without events, commits first and wakes nothing.
    expect(await publisher.intents('env', { kind: 'backend' }, [{ type: 'comment.created' }])).toHaveLength(1);
    expect(kicks.count).toBe(0);
    publisher.recorded(); // X committed
    expect(kicks.count).toBe(1);
  });

  it('makes no intent for an environment nobody subscribes to', async () => {
    const { publisher } = publisherWith([]);
    expect(await publisher.intents('env', { kind: 'backend' }, [{ type: 'comment.created' }])).toEqual([]);
  });
});
