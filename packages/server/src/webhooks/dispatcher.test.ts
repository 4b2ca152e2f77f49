import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Store } from '../store/index.ts';
import { WebhookDispatcher } from './dispatcher.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from './settings.ts';

/** A store with no deliveries that counts the dispatcher's claims, with a set number of writes waiting. */
function fakeStore(pendingWrites: number) {
  const calls = { claims: 0 };
  const store = {
    dialect: 'postgres',
    pendingWrites: () => pendingWrites,
    pruneWebhooks: () => Promise.resolve(),
    webhookPass: ({ claim }: { claim: unknown }) => {
      if (claim) calls.claims++;
      return Promise.resolve({ disabledEndpoints: [], dispatched: 0, claimed: [] });
    },
    releaseWebhookClaims: () => Promise.resolve(),
  } as unknown as Store;
  return { store, calls };
}

/** Claims made in one second while commits kick the dispatcher every 10 ms. */
async function claimsPerSecond(pendingWrites: number): Promise<number> {
  const { store, calls } = fakeStore(pendingWrites);
  const dispatcher = new WebhookDispatcher(store, DEFAULT_WEBHOOK_SETTINGS, { warn: () => {} });
  await dispatcher.start();
  await vi.advanceTimersByTimeAsync(1000); // past the first pass
  const before = calls.claims;
  for (let t = 0; t < 1000; t += 10) {
    dispatcher.kick();
    await vi.advanceTimersByTimeAsync(10);
  }
  await dispatcher.close();
  return calls.claims - before;
}

describe('webhook dispatcher and the write path', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps passing over the outbox while a few writes wait (a busy but healthy writer)', async () => {
    // One pass per 25 ms at most: ~40 a second.
    expect(await claimsPerSecond(0)).toBeGreaterThanOrEqual(30);
    expect(await claimsPerSecond(1)).toBeGreaterThanOrEqual(30);
    expect(await claimsPerSecond(8)).toBeGreaterThanOrEqual(30);
  });

  it('steps aside while writes back up, but passes at least every 250 ms', async () => {
    const claims = await claimsPerSecond(9);
    expect(claims).toBeGreaterThanOrEqual(3);
    expect(claims).toBeLessThanOrEqual(5);
  });
});
