import { CLOSE_CODES } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** Presence timeouts, shortened: a socket that stops sending (no heartbeat) is dropped and leaves. */
describe('heartbeats', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite', { realtime: { leaveGraceMs: 100, offlineAfterMs: 600 } });
  });
  afterAll(() => t.close());

  it('closes a silent socket after the offline timeout and removes the user from presence', async () => {
    const watcher = await connectClient(t, 'watcher', 'hb');
    const silent = new RawSocket(t.wsUrl);
    await silent.auth(t, 'silent', 'hb');
    await waitFor(() => watcher.state.presence.some((p) => p.userId === 'silent'));
    const closed = await silent.waitClosed(4000);
    expect(closed.code).toBe(CLOSE_CODES.HEARTBEAT_TIMEOUT);
    await waitFor(() => !watcher.state.presence.some((p) => p.userId === 'silent'), 2000, 'silent to leave');
    watcher.disconnect();
  });

  it('keeps a socket that sends heartbeats', async () => {
    const s = new RawSocket(t.wsUrl);
    await s.auth(t, 'beating', 'hb');
    for (let i = 0; i < 6; i++) {
      s.send({ type: 'presence:heartbeat' });
      await sleep(250);
    }
    expect(s.closed).toBeUndefined();
    s.close();
  });
});
