import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { clientAddressOf } from '../src/http-limits.ts';
import { optionsFromEnv } from '../src/options.ts';
import { ADDRESS_BACKOFF, EMAIL_BACKOFF } from '../src/panel-api/limits.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { PanelClient } from './panel-client.ts';

/**
 * Issue 11: with `trustProxy: true` the login throttle's client address came from
 * X-Forwarded-For, so rotating it walked around the per-address limit; and 5 failures from
 * rotating addresses locked any admin out for 15 minutes, even with the right password.
 */

const ADMIN = { email: 'admin@example.com', password: 'the right password' };
const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

async function withAdmin(overrides: Parameters<typeof startTestServer>[1]) {
  const t = await startTestServer('sqlite', overrides);
  const c = new PanelClient(t.url);
  await c.get('/setup');
  const res = await c.post('/setup', { token: t.server.setupToken, email: ADMIN.email, name: 'Admin', password: ADMIN.password });
  if (res.status !== 201) throw new Error(`setup failed: ${JSON.stringify(res.body)}`);
  return { t, browser: c };
}

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((t) => t.close()));
});

describe('X-Forwarded-For is not trusted by default', () => {
  it('rotating X-Forwarded-For does not rotate the throttled address', async () => {
    const { t } = await withAdmin({});
    servers.push(t);
    const attacker = new PanelClient(t.url);
    await attacker.get('/setup');
    for (let i = 0; i < ADDRESS_BACKOFF.freeFailures; i++) {
      const res = await attacker.post('/login', { email: `spray-${i}@example.com`, password: 'password1' }, from(`203.0.113.${i}`));
      expect(res.status).toBe(401);
    }
    // Before the fix each new header value was a fresh address; now they are all the socket's.
    const next = await attacker.post('/login', { email: 'spray-x@example.com', password: 'password1' }, from('198.51.100.77'));
    expect(next.status).toBe(429);
    expect(next.body.error.message).toContain('your address');
    const keys = await t.server.ctx.store.loginFailures('ip:127.0.0.1', new Date(0).toISOString());
    expect(keys.count).toBe(ADDRESS_BACKOFF.freeFailures);
    expect((await t.server.ctx.store.loginFailures('ip:203.0.113.1', new Date(0).toISOString())).count).toBe(0);
  });

  it('X-Forwarded-Proto from an untrusted peer does not mark cookies Secure', async () => {
    const t = await startTestServer('sqlite');
    servers.push(t);
    const c = new PanelClient(t.url);
    const res = await c.get('/setup', { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.setCookies.find((x) => x.startsWith('pulse_csrf='))).not.toMatch(/Secure/);
  });

  it('PULSE_TRUST_PROXY takes a hop count or addresses, never "true"', () => {
    expect(optionsFromEnv({}).trustProxy).toBe(false);
    expect(optionsFromEnv({ PULSE_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(optionsFromEnv({ PULSE_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,loopback,::1' }).trustProxy).toBe('10.0.0.5,10.1.0.0/16,loopback,::1');
    expect(() => optionsFromEnv({ PULSE_TRUST_PROXY: 'true' })).toThrow(/any client choose its own address/);
    expect(() => optionsFromEnv({ PULSE_TRUST_PROXY: 'proxy.local' })).toThrow(/not an IP address/);
    expect(() => optionsFromEnv({ PULSE_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/not an IP address/);
  });
});

describe('behind a trusted proxy', () => {
  it('with a hop count, the client is the address the proxy appended, not what the client sent', async () => {
    const { t } = await withAdmin({ trustProxy: 1 });
    servers.push(t);
    const attacker = new PanelClient(t.url);
    await attacker.get('/setup');
    for (let i = 0; i <= ADDRESS_BACKOFF.freeFailures; i++) {
      // The attacker's own X-Forwarded-For, then what the proxy appends: its real address.
      const res = await attacker.post('/login', { email: `spray-${i}@example.com`, password: 'password1' }, from(`203.0.113.${i}, 192.0.2.10`));
      expect(res.status).toBe(i < ADDRESS_BACKOFF.freeFailures ? 401 : 429);
    }
    expect((await t.server.ctx.store.loginFailures('ip:192.0.2.10', new Date(0).toISOString())).count).toBe(ADDRESS_BACKOFF.freeFailures);
  });

  it('failing on purpose does not lock the admin out: the right password from a known browser or address gets in', async () => {
    const { t, browser } = await withAdmin({ trustProxy: '127.0.0.1' });
    servers.push(t);
    const { store } = t.server.ctx;
    // The admin signed in before from her browser at the office.
    await browser.post('/logout');
    expect((await browser.post('/login', ADMIN, from('192.0.2.50'))).status).toBe(200);
    expect(browser.cookies.get('pulse_known')).toBeTruthy();

    // The attack: failures for her email from many addresses. Beyond the free ones the attacker
    // is slowed down; a sustained attack (recorded directly here) reaches the cap.
    const attacker = new PanelClient(t.url);
    await attacker.get('/setup');
    for (let i = 0; i < EMAIL_BACKOFF.freeFailures; i++) {
      expect((await attacker.post('/login', { email: ADMIN.email, password: `guess-${i}` }, from(`203.0.113.${i}`))).status).toBe(401);
    }
    const slowed = await attacker.post('/login', { email: ADMIN.email, password: 'guess-x' }, from('203.0.113.200'));
    expect(slowed.status).toBe(429);
    expect(Number(slowed.headers.get('retry-after'))).toBe(EMAIL_BACKOFF.baseMs / 1000);
    for (let i = 0; i < 30; i++) await store.recordLoginFailure(`email:${ADMIN.email}`, new Date().toISOString());

    // A stranger's browser on a new address waits, for at most the cap: a delay, not a lock-out.
    const stranger = new PanelClient(t.url);
    await stranger.get('/setup');
    const waits = await stranger.post('/login', ADMIN, from('198.51.100.1'));
    expect(waits.status).toBe(429);
    expect(Number(waits.headers.get('retry-after'))).toBe(EMAIL_BACKOFF.maxMs / 1000);

    // Her browser (signed cookie) gets in from anywhere…
    await browser.post('/logout');
    expect((await browser.post('/login', ADMIN, from('198.51.100.2'))).status).toBe(200);
    // …and so does any browser at the address she signed in from before.
    const colleague = new PanelClient(t.url);
    await colleague.get('/setup');
    expect((await colleague.post('/login', ADMIN, from('192.0.2.50'))).status).toBe(200);

    // The bypass is only for the right password: a wrong one from her browser is refused and counted.
    await browser.post('/logout');
    const before = (await store.loginFailures(`email:${ADMIN.email}`, new Date(0).toISOString())).count;
    expect((await browser.post('/login', { ...ADMIN, password: 'wrong one' }, from('198.51.100.3'))).status).toBe(401);
    expect((await store.loginFailures(`email:${ADMIN.email}`, new Date(0).toISOString())).count).toBe(before + 1);

    // A forged or borrowed cookie does not help the attacker.
    const forger = new PanelClient(t.url);
    await forger.get('/setup');
    const real = browser.cookies.get('pulse_known')!;
    const [id, issued] = real.split('.');
    forger.cookies.set('pulse_known', `${id}.${issued}.${'A'.repeat(43)}`);
    expect((await forger.post('/login', ADMIN, from('198.51.100.4'))).status).toBe(429);
    forger.cookies.set('pulse_known', `adm_other.${issued}.${real.split('.')[2]}`);
    expect((await forger.post('/login', ADMIN, from('198.51.100.5'))).status).toBe(429);
  });

  it('delays grow exponentially per email and are capped', async () => {
    const t = await startTestServer('sqlite', { trustProxy: '127.0.0.1' });
    servers.push(t);
    const { store } = t.server.ctx;
    const c = new PanelClient(t.url);
    await c.get('/setup');
    const seen: number[] = [];
    for (const extra of [0, 1, 2, 3, 20]) {
      const email = `grow-${extra}@example.com`;
      for (let i = 0; i < EMAIL_BACKOFF.freeFailures + extra; i++) await store.recordLoginFailure(`email:${email}`, new Date().toISOString());
      const res = await c.post('/login', { email, password: 'password1' }, from(`192.0.2.${100 + extra}`));
      expect(res.status).toBe(429);
      seen.push(Number(res.headers.get('retry-after')));
    }
    expect(seen).toEqual([1, 2, 4, 8, EMAIL_BACKOFF.maxMs / 1000]);
  });
});


describe('WebSocket upgrades behind a trusted proxy', () => {
  /** Opens a WebSocket as if through the proxy for `client`; resolves with the upgrade's status. */
  const upgrade = (url: string, client: string) =>
    new Promise<{ status: number; ws: WebSocket }>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { 'x-forwarded-for': client } });
      ws.once('open', () => resolve({ status: 101, ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, ws }));
      ws.once('error', reject);
    });

  it('counts unauthenticated sockets per client, not per proxy', async () => {
    const t = await startTestServer('sqlite', { trustProxy: 'loopback', realtime: { unauthenticatedPerAddress: 3 } });
    servers.push(t);
    const opened: WebSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const { status, ws } = await upgrade(t.wsUrl, '6.6.6.6');
        opened.push(ws);
        expect(status).toBe(101);
      }
      // One client used up its allowance; another behind the same proxy still gets in.
      expect((await upgrade(t.wsUrl, '6.6.6.6')).status).toBe(429);
      const other = await upgrade(t.wsUrl, '7.7.7.7');
      opened.push(other.ws);
      expect(other.status).toBe(101);
    } finally {
      for (const ws of opened) ws.terminate();
    }
  });

  it('reads the client from X-Forwarded-For as Fastify does', () => {
    const request = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as never;
    expect(clientAddressOf(false)(request('127.0.0.1', '6.6.6.6'))).toBe('127.0.0.1');
    expect(clientAddressOf('loopback')(request('::ffff:127.0.0.1', '6.6.6.6'))).toBe('6.6.6.6');
    expect(clientAddressOf('loopback')(request('203.0.113.9', '6.6.6.6'))).toBe('203.0.113.9');
    // The nearest untrusted hop: a client cannot choose its address by writing the header first.
    expect(clientAddressOf('loopback,10.0.0.0/8')(request('127.0.0.1', '1.2.3.4, 6.6.6.6, 10.0.0.7'))).toBe('6.6.6.6');
    expect(clientAddressOf(1)(request('127.0.0.1', '1.2.3.4, 6.6.6.6'))).toBe('6.6.6.6');
    expect(clientAddressOf(2)(request('127.0.0.1', '1.2.3.4, 6.6.6.6'))).toBe('1.2.3.4');
  });
});
