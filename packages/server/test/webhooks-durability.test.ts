import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../src/options.ts';
import { openContext } from '../src/server.ts';
import { WebhookService } from '../src/webhooks/service.ts';
import { sleep, waitFor } from './helpers/clients.ts';
import { redisAvailable, startCluster, type TestCluster } from './helpers/cluster.ts';
import { cleanEnv } from './helpers/hardening.ts';
import { firstRunKeys, killHard, spawnServer } from './helpers/process.ts';
import { WebhookReceiver } from './helpers/receivers.ts';
import { startTestServer, testStorage } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';

/** Webhook delivery retried quickly, to loopback. */
const FAST = { PULSE_WEBHOOKS_ALLOW_PRIVATE: '1', PULSE_WEBHOOKS_RETRY_BASE_MS: '200', PULSE_WEBHOOKS_RETRY_MAX_MS: '1000', PULSE_WEBHOOKS_TIMEOUT_MS: '2000' };

/** Adds an endpoint straight in the storage the server processes use (as `pulse webhook add` does). */
async function addEndpoint(env: NodeJS.ProcessEnv, envId: string, url: string, events: string[]) {
  const options = optionsFromEnv(env);
  const context = await openContext(options);
  try {
    return await new WebhookService(context.store, options.webhooks!).add(envId, { url, events });
  } finally {
    await context.store.close();
  }
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`webhooks survive kill -9 and a receiver outage (${driver})`, () => {
    const storage = testStorage(driver);
    const children: ChildProcess[] = [];
    const receiver = new WebhookReceiver();
    afterAll(async () => {
      await Promise.all(children.map(killHard));
      await receiver.stop();
      await storage.cleanup();
    });

    it('delivers every acknowledged comment once the receiver is back, after kill -9, with stable ids', async () => {
      const env = cleanEnv({ ...storage.env, ...FAST });
      const first = await spawnServer(env);
      children.push(first.child);
      const { envId, secretKey } = firstRunKeys(first.output(), storage.dataDir);
      // The banner says private addresses are allowed (development only).
      expect(first.output()).toMatch(/Webhooks +may go to private and loopback addresses \(PULSE_WEBHOOKS_ALLOW_PRIVATE=1\)/);
      await receiver.start();
      const { secret } = await addEndpoint(env, envId, receiver.url, ['comment.created']);
      receiver.secret = secret;
      const call = async (url: string, method: string, path: string, body?: unknown) => {
        const res = await fetch(url + path, {
          method,
          headers: { authorization: `Bearer ${secretKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: (await res.json()) as any };
      };
      await call(first.url, 'PUT', '/api/v1/users/writer', { name: 'Writer' });
      const thread = (await call(first.url, 'POST', '/api/v1/rooms/durable-hooks/threads', { userId: 'writer', body: 'start' })).body.thread;
      // The server has seen the endpoint (control log) once a comment is delivered.
      await waitFor(async () => {
        await call(first.url, 'POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'writer', body: 'warm-up' });
        return receiver.received.length > 0;
      }, 5000, 'the first delivery');

      // The receiver goes down; comments keep being acknowledged.
      await receiver.stop();
      const acknowledged: string[] = [];
      for (let batch = 0; batch < 60; batch += 10) {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => call(first.url, 'POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'writer', body: `c${batch + i}` })),
        );
        for (const r of results) if (r.status === 201) acknowledged.push(r.body.comment.id);
      }
      expect(acknowledged).toHaveLength(60);
      await sleep(700); // some attempts fail against the closed port
      await killHard(first.child); // no graceful shutdown: claims and retries are left as they were

      // Which event ids were already assigned (and attempted) before the crash.
      const before = await (async () => {
        const context = await openContext(optionsFromEnv(env));
        try {
          const [endpoint] = await context.store.listWebhookEndpoints(envId);
          return await context.store.listWebhookDeliveries(envId, endpoint!.id, 200);
        } finally {
          await context.store.close();
        }
      })();
      expect(before.filter((d) => d.status === 'pending' && d.attempts > 0).length).toBeGreaterThan(0);

      await receiver.start();
      const second = await spawnServer(env);
      children.push(second.child);
      // On PostgreSQL a claim of the killed process is honoured until its lease ends (a few seconds here).
      // Every acknowledged comment, and every event attempted before the crash (warm-up ones too).
      await waitFor(() => {
        const seen = new Set(receiver.received.map((r) => r.payload.data.commentId));
        const ids = new Set(receiver.received.map((r) => r.id));
        return acknowledged.every((id) => seen.has(id)) && before.every((d) => ids.has(d.eventId));
      }, 30_000, 'every comment delivered after the restart');
      const delivered = new Map(receiver.received.map((r) => [r.payload.data.commentId as string, r.id]));
      for (const id of acknowledged) expect(delivered.has(id), id).toBe(true);
      // The ids receivers deduplicate on are those of the events written with the comments.
      for (const d of before) expect([...delivered.values()]).toContain(d.eventId);
      expect(receiver.rejected).toBe(0);
    }, 120_000);
  });
}

describe('a hung webhook receiver does not slow the write path', () => {
  it('keeps comment-ack p99 with three hung endpoints close to p99 without any', async () => {
    const t = await startTestServer('sqlite', { webhooks: optionsFromEnv({ ...FAST, PULSE_WEBHOOKS_TIMEOUT_MS: '10000' }).webhooks! });
    const hung = [new WebhookReceiver(), new WebhookReceiver(), new WebhookReceiver()];
    try {
      await t.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
      const thread = (await t.api('POST', '/api/v1/rooms/ack-latency/threads', { userId: 'ann', body: 'start' })).body.thread;
      const measure = async (n: number) => {
        const times: number[] = [];
        for (let i = 0; i < n; i += 4) {
          await Promise.all(
            Array.from({ length: 4 }, async () => {
              const start = performance.now();
              const r = await t.api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: `c${i}` });
              times.push(performance.now() - start);
              expect(r.status).toBe(201);
            }),
          );
        }
        return times;
      };
      await measure(40); // warm-up
      const without = await measure(200);
      for (const r of hung) {
        await r.start();
        r.mode = { kind: 'hang' };
        await t.server.ctx.webhooks.add(t.envId, { url: r.url });
      }
      const withHung = await measure(200);
      await waitFor(() => hung.every((r) => r.requests > 0), 5000, 'the receivers hanging');
      const p99 = { without: percentile(without, 99), withHung: percentile(withHung, 99) };
      console.log(`[webhooks] comment ack p99: ${p99.without.toFixed(1)} ms without endpoints, ${p99.withHung.toFixed(1)} ms with 3 hung endpoints`);
      // Hung receivers hold requests for 10 s; acks must not wait for them.
      expect(p99.withHung).toBeLessThan(Math.max(p99.without * 3, p99.without + 50));
      expect(Math.max(...withHung)).toBeLessThan(2000);
    } finally {
      for (const r of hung) await r.stop();
      await t.close();
    }
  }, 120_000);
});

describe('hung webhook receivers do not hold up the others', () => {
  it('delivers to an endpoint that answers while nineteen endpoints hang', async () => {
    // Timeout 10 s: before the hung requests time out, nineteen endpoints want 76 request slots (an environment has at most 20 endpoints).
    const t = await startTestServer('sqlite', { webhooks: optionsFromEnv({ ...FAST, PULSE_WEBHOOKS_TIMEOUT_MS: '10000' }).webhooks! });
    const hung = Array.from({ length: 19 }, () => new WebhookReceiver());
    const answering = new WebhookReceiver();
    try {
      for (const r of hung) {
        await r.start();
        r.mode = { kind: 'hang' };
        await t.server.ctx.webhooks.add(t.envId, { url: r.url, events: ['comment.created'] });
      }
      await answering.start();
      // Added last: its deliveries are handed over after the hung endpoints' ones.
      answering.secret = (await t.server.ctx.webhooks.add(t.envId, { url: answering.url, events: ['comment.created'] })).secret;
      await t.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
      const thread = (await t.api('POST', '/api/v1/rooms/hung-endpoints/threads', { userId: 'ann', body: 'start' })).body.thread;
      const started = Date.now();
      for (let i = 0; i < 10; i++) expect((await t.api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: `c${i}` })).status).toBe(201);
      await waitFor(() => answering.received.length === 10, 8000, 'every comment delivered to the endpoint that answers');
      // Before any hung request timed out.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(hung.reduce((n, r) => n + r.requests, 0)).toBeGreaterThanOrEqual(64);
      expect(answering.rejected).toBe(0);
    } finally {
      for (const r of [...hung, answering]) await r.stop();
      await t.close();
    }
  }, 60_000);
});

describe.skipIf(!postgresAvailable || !redisAvailable)('webhooks in a cluster', () => {
  let cluster: TestCluster | undefined;
  const receiver = new WebhookReceiver();
  afterAll(async () => {
    await cluster?.close();
    await receiver.stop();
  });

  it('delivers each event once although two nodes dispatch', async () => {
    cluster = await startCluster(2, FAST);
    const [a, b] = cluster.nodes as [NonNullable<TestCluster['nodes'][0]>, NonNullable<TestCluster['nodes'][0]>];
    await receiver.start();
    const { secret } = await addEndpoint(cluster.env, a.envId, receiver.url, ['comment.created']);
    receiver.secret = secret;
    await a.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const thread = (await a.api('POST', '/api/v1/rooms/cluster-hooks/threads', { userId: 'ann', body: 'start' })).body.thread;
    await sleep(600); // both nodes have read the control log
    const ids: string[] = [];
    for (let i = 0; i < 80; i += 8) {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, j) => (j % 2 ? a : b).api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: `c${i + j}` })),
      );
      for (const r of results) {
        expect(r.status).toBe(201);
        ids.push(r.body.comment.id);
      }
    }
    await waitFor(() => receiver.received.length >= 80, 15_000, 'every delivery');
    await sleep(1500); // a second copy would arrive by now
    const byComment = new Map<string, number>();
    for (const r of receiver.received) byComment.set(r.payload.data.commentId, (byComment.get(r.payload.data.commentId) ?? 0) + 1);
    expect([...byComment.keys()].sort()).toEqual([...ids].sort());
    expect([...byComment.values()].every((n) => n === 1)).toBe(true);
    expect(receiver.requests).toBe(80);
  }, 120_000);
});
