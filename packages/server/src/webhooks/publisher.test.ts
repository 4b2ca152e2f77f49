import { describe, expect, it } from 'vitest';
import type { FileLinks } from '../files/links.ts';
import type { Store } from '../store/index.ts';
import { WebhookPublisher } from './publisher.ts';

describe('WebhookPublisher', () => {
  it('wakes the dispatcher at the commit of a change with events, even when another commits in between', async () => {
    const store = { listWebhookEndpoints: async () => [{ events: [] }] } as unknown as Store;
    const publisher = new WebhookPublisher(store, {} as FileLinks);
    let kicks = 0;
    publisher.onRecorded(() => kicks++);
    // Change X records an event; change Y (no event) commits before X does.
    expect(await publisher.intents('env', { kind: 'backend' }, [{ type: 'comment.created' }])).toHaveLength(1);
    publisher.committed(); // Y
    publisher.committed(); // X
    expect(kicks).toBe(2);
  });

  it('does not wake it for commits of an environment nobody subscribes to', async () => {
    const store = { listWebhookEndpoints: async () => [] } as unknown as Store;
    const publisher = new WebhookPublisher(store, {} as FileLinks);
    let kicks = 0;
    publisher.onRecorded(() => kicks++);
    expect(await publisher.intents('env', { kind: 'backend' }, [{ type: 'comment.created' }])).toEqual([]);
    publisher.committed();
    expect(kicks).toBe(0);
  });
});
