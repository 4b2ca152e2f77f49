import { CLOSE_CODES, LIMITS } from '@pulse/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mintToken, RawSocket, sleep } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** `[[[…]]]` nested `depth` deep, padded with flat text to `length` characters. */
const nested = (depth: number, length = 0) => '['.repeat(depth) + ']'.repeat(depth) + ' '.repeat(Math.max(0, length - 2 * depth));

describe('realtime hardening: deeply nested JSON is refused before it is parsed', () => {
  let t: TestServer;
  const open: RawSocket[] = [];
  const socket = () => {
    const s = new RawSocket(t.wsUrl);
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    t = await startTestServer('sqlite', { realtime: { authTimeoutMs: 5000 } });
    await t.server.ctx.environments.updateConfig(t.envId, { allowP2P: true });
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers an authenticated frame nested deeper than wsJsonDepth with invalid_message, as a strike', async () => {
    const s = socket();
    await s.auth(t, 'mallory', 'r-nested');
    // As deep as a frame may be, with the brackets inside a string not counted: parsed (and refused for what it is).
    s.send(`{"type":"cursor:move","ref":"ok","position":${nested(LIMITS.wsJsonDepth - 1)},"s":"${'['.repeat(500)}"}`);
    expect(await s.next('error', 3000, (m) => m.ref === 'ok')).toMatchObject({ code: 'invalid_message', message: expect.not.stringContaining('nested') });
    s.send(`{"type":"cursor:move","ref":"deep","position":${nested(LIMITS.wsJsonDepth, 60_000)}}`);
    expect(await s.next('error', 3000, (m) => m.ref === 'deep')).toMatchObject({ code: 'invalid_message', message: expect.stringContaining(`more than ${LIMITS.wsJsonDepth} levels`) });
    for (let i = 0; i < LIMITS.strikesPerConnection; i++) s.send(nested(30_000));
    expect((await s.waitClosed()).code).toBe(CLOSE_CODES.RATE_LIMITED);
  });

  it('ends an unauthenticated socket whose first frame is nested too deeply', async () => {
    const s = socket();
    await s.opened;
    s.send(`{"type":"auth","apiKey":${nested(100, 8000)}}`);
    expect(await s.next('auth:error')).toMatchObject({ code: 'invalid_message', message: expect.stringContaining('levels') });
    expect((await s.waitClosed()).code).toBe(CLOSE_CODES.BAD_REQUEST);
  });

  it('refuses a chunked P2P frame whose joined text is nested too deeply, as a strike', async () => {
    const s = socket();
    await s.auth(t, 'mallory', 'r-nested-p2p');
    // Before joining, a connection may send one chunked frame (its p2p:join): refused unparsed.
    const text = `{"type":"p2p:join","stateVector":${nested(5000)}}`;
    const send = (id: string) => s.send({ type: 'p2p:chunk', ref: id, id, index: 0, count: 1, data: text });
    send('c0');
    expect(await s.next('p2p:error', 3000, (m) => m.ref === 'c0')).toMatchObject({ code: 'invalid_message', message: expect.stringContaining('levels') });
    for (let i = 1; i <= LIMITS.strikesPerConnection; i++) send(`c${i}`);
    expect((await s.waitClosed()).code).toBe(CLOSE_CODES.RATE_LIMITED);
  });

  it('answers a REST body nested deeper than restJsonDepth with 400 invalid_json', async () => {
    const res = await fetch(`${t.url}/api/v1/rooms/r-nested/threads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'application/json' },
      body: `{"userId":"u1","body":"hi","metadata":${nested(LIMITS.restJsonDepth, 200_000)}}`,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_json', message: expect.stringContaining(`${LIMITS.restJsonDepth} levels`) } });
  });
});

describe('realtime hardening: pre-auth slots', () => {
  let t: TestServer;
  afterAll(async () => {
    await t?.close();
  });

  it('gives a socket that closes while its auth is under way its address slot back', async () => {
    const allowance = 2;
    t = await startTestServer('sqlite', { limitLoopback: true, realtime: { unauthenticatedPerAddress: allowance } });
    const token = await mintToken(t, 'alice');
    // Auth takes a while here (as it may on PostgreSQL): the socket closes after the server has
    // taken its identity and before auth:ok.
    const store = t.server.ctx.store;
    const listNotifications = store.listNotifications.bind(store);
    store.listNotifications = async (...args) => {
      await sleep(300);
      return listNotifications(...args);
    };
    for (let i = 0; i < allowance + 2; i++) {
      const ws = new WebSocket(t.wsUrl);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ type: 'auth', apiKey: t.publishableKey, token, room: 'r-slots' }));
      await sleep(100);
      ws.terminate();
      await sleep(50);
    }
    store.listNotifications = listNotifications;
    await sleep(400); // every auth under way has ended
    const s = new RawSocket(t.wsUrl);
    try {
      expect((await s.auth(t, 'alice', 'r-slots')).type).toBe('auth:ok');
    } finally {
      s.close();
    }
    // And the allowance itself still holds.
    const idle = await Promise.all(Array.from({ length: allowance }, () => new RawSocket(t.wsUrl)).map(async (r) => (await r.opened, r)));
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(t.wsUrl);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
    });
    for (const r of idle) r.close();
    expect(refused).toBe(429);
  });
});
