import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * The database briefly unavailable (argued at unit level: the suites share one PostgreSQL, so it
 * is not stopped here). A store that fails stands in for it: durable writes must fail with an
 * error and never be acknowledged or broadcast; sockets stay open; /healthz reports it; once the
 * store answers again everything works without a restart.
 */
describe('database outage', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite', { realtime: { leaveGraceMs: 100 } });
  });
  afterAll(() => t.close());

  it('refuses durable writes it could not commit, keeps sockets open, reports it and recovers', async () => {
    const store = t.server.ctx.store;
    const author = new RawSocket(t.wsUrl);
    await author.auth(t, 'alice', 'outage');
    const peer = await connectClient(t, 'bob', 'outage');
    author.send({ type: 'thread:create', ref: 't1', id: 'before', body: 'first', mentions: [], position: null });
    await author.next('ack', 3000, (m) => m.ref === 't1');

    const realCreate = store.createComment.bind(store);
    const realPing = store.ping.bind(store);
    const down = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    store.createComment = down as never;
    store.ping = down as never;
    try {
      author.send({ type: 'comment:create', ref: 'c1', id: 'during', threadId: 'before', body: 'lost?' });
      const error = await author.next('error', 3000, (m) => m.ref === 'c1');
      // A database that cannot be reached is "try again later", not a server bug.
      expect(error.code).toBe('service_unavailable');
      expect(author.messages.some((m) => m.type === 'ack' && m.ref === 'c1')).toBe(false);
      const rest = await t.api('POST', '/api/v1/threads/before/comments', { userId: 'alice', body: 'over REST' });
      expect(rest.status).toBe(503);
      expect(rest.body.error.code).toBe('service_unavailable');
      const health = await fetch(`${t.url}/healthz`);
      expect(health.status).toBe(503);
      expect((await health.json()).checks.database).toContain('ECONNREFUSED');
      await sleep(100);
      expect(peer.state.thread('before')!.comments).toHaveLength(1); // nothing was announced
      expect(author.closed).toBeUndefined();
      expect(peer.connectionState).toBe('connected');
    } finally {
      store.createComment = realCreate;
      store.ping = realPing;
    }
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    author.send({ type: 'comment:create', ref: 'c2', id: 'after', threadId: 'before', body: 'back' });
    await author.next('ack', 3000, (m) => m.ref === 'c2');
    await waitFor(() => peer.state.comment('after'));
    expect((await t.api('GET', '/api/v1/threads/before/comments')).body.items.map((c: any) => c.id)).toEqual([expect.any(String), 'after']);
    author.close();
    peer.disconnect();
  });
});
