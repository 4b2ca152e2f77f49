import { DEFAULT_ENV_CONFIG, type WebhookEventType } from '@pulse/protocol';
import { describe, expect, it } from 'vitest';
import type { ConfigCache } from '../domain/config-cache.ts';
import { UNREAD_MAX_AGE_MS } from '../store/email-types.ts';
import type { Store } from '../store/index.ts';
import type { WebhookPublisher } from './publisher.ts';
import { UnreadNotificationEvents } from './unread.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** Records each claim's window; answers with the next of `answers` (creation times), then nothing. */
function setup(answers: string[][], subscribed = new Set(['env_a'])) {
  const calls: { envId: string; since: string; dueBefore: string; limit: number }[] = [];
  let woken = 0;
  const store = {
    listEnvironments: () => Promise.resolve([{ id: 'env_a' }, { id: 'env_b' }]),
    recordUnreadNotifications: (envId: string, since: string, dueBefore: string, _at: string, limit: number) => {
      calls.push({ envId, since, dueBefore, limit });
      return Promise.resolve(answers.shift() ?? []);
    },
  } as unknown as Store;
  const configs = { get: () => Promise.resolve({ ...DEFAULT_ENV_CONFIG, emailDelaySeconds: 60 }) } as unknown as ConfigCache;
  const webhooks = {
    wants: (envId: string, type: WebhookEventType) => Promise.resolve(type === 'notification.unread' && subscribed.has(envId)),
    recorded: () => woken++,
  } as unknown as WebhookPublisher;
  const events = new UnreadNotificationEvents(store, configs, webhooks, 1000, { warn: () => {} });
  return { events, calls, woken: () => woken };
}

describe('notification.unread passes', () => {
  it('look back three days at first, then only from where the last pass got to', async () => {
    const { events, calls, woken } = setup([[iso(Date.now() - 3_600_000)]]);
    const start = Date.now();
    await events.tick();
    expect(calls).toHaveLength(1);
    const first = calls[0]!;
    expect(first.envId).toBe('env_a'); // env_b has no endpoint for it
    expect(Date.parse(first.since)).toBeLessThanOrEqual(start - UNREAD_MAX_AGE_MS + 1000);
    expect(Date.parse(first.dueBefore)).toBeLessThanOrEqual(Date.now() - 60_000);
    expect(woken()).toBe(1);
    // Nothing more came: the next pass starts a minute before the last due time, and wakes no one.
    await events.tick();
    expect(calls[1]!.since).toBe(iso(Date.parse(first.dueBefore) - 60_000));
    expect(woken()).toBe(1);
  });

  it('goes on while a pass fills its batch, starting each after the newest claimed', async () => {
    const full = (from: number) => Array.from({ length: 200 }, (_, i) => iso(from + i));
    const t0 = Date.now() - 7_200_000;
    const { events, calls } = setup([full(t0), full(t0 + 1000), [iso(t0 + 5000)]]);
    await events.tick();
    expect(calls).toHaveLength(3);
    expect(calls[1]!.since).toBe(iso(t0 + 199 - 60_000));
    expect(calls[2]!.since).toBe(iso(t0 + 1199 - 60_000));
  });
});
