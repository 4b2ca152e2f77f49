import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_ENV_CONFIG, WEBHOOK_EVENT_TYPES, WEBHOOK_EXAMPLE_ROOM, WEBHOOK_POLICY, webhookDataSchemas, type WebhookEventType } from '@pulse/protocol';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../src/options.ts';
import { endpointView, WebhookService } from '../src/webhooks/service.ts';
import { parseRetryAfter, pauseMs, sendWebhook } from '../src/webhooks/send.ts';
import { allowAll, blockedAddressReason, defaultAddressPolicy } from '../src/webhooks/ssrf.ts';
import { signWebhook } from '../src/webhooks/signing.ts';
import { retryDelayMs } from '../src/webhooks/settings.ts';
import { connectClient, sleep, waitFor } from './helpers/clients.ts';
import { WebhookReceiver } from './helpers/receivers.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const fastRetries = optionsFromEnv({
  PULSE_WEBHOOKS_ALLOW_PRIVATE: '1',
  PULSE_WEBHOOKS_RETRY_BASE_MS: '100',
  PULSE_WEBHOOKS_RETRY_MAX_MS: '400',
  PULSE_WEBHOOKS_TIMEOUT_MS: '1000',
}).webhooks!;

/** A server of its own with these webhook settings (on top of fastRetries), and a receiver: both stopped after `run`. */
async function withOwnServer(webhooks: Partial<typeof fastRetries>, run: (server: TestServer, receiver: WebhookReceiver) => Promise<void>): Promise<void> {
  const server = await startTestServer('sqlite', { webhooks: { ...fastRetries, ...webhooks } });
  try {
    const receiver = await new WebhookReceiver().start();
    try {
      await run(server, receiver);
    } finally {
      await receiver.stop();
    }
  } finally {
    await server.close();
  }
}

describe('webhooks: signing', () => {
  it('signs exactly as the standardwebhooks package verifies', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"type":"comment.created"}';
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook(secret, 'msg_1', ts, body);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const verified = new Webhook(secret).verify(body, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': signature });
    expect(verified).toEqual({ type: 'comment.created' });
    expect(() =>
      new Webhook(secret).verify(body + ' ', { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': signature }),
    ).toThrow();
  });

  it('backs off exponentially with jitter, capped', () => {
    const s = { firstRetryDelayMs: 30_000, maxRetryDelayMs: 6 * 3600_000 };
    expect(retryDelayMs(1, s, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(2, s, () => 0.5)).toBe(120_000);
    expect(retryDelayMs(3, s, () => 0.5)).toBe(480_000);
    expect(retryDelayMs(20, s, () => 0.5)).toBe(6 * 3600_000);
    expect(retryDelayMs(1, s, () => 0)).toBe(22_500);
    expect(retryDelayMs(1, s, () => 0.999)).toBeLessThan(37_500);
    // A receiver's Retry-After is a floor, within the cap.
    expect(retryDelayMs(1, s, () => 0.5, 600_000)).toBe(600_000);
    expect(retryDelayMs(3, s, () => 0.5, 1_000)).toBe(480_000);
    expect(retryDelayMs(1, s, () => 0.5, 30 * 24 * 3600_000)).toBe(6 * 3600_000);
    // The endpoint as a whole is left alone that long, up to a few minutes (then asked again).
    expect(pauseMs(20_000)).toBe(20_000);
    expect(pauseMs(6 * 3600_000)).toBe(WEBHOOK_POLICY.maxPauseMs);
    // About a day of attempts before the window closes.
    let total = 0;
    let n = 0;
    while (total < 24 * 3600_000) total += retryDelayMs(++n, s, () => 0.5);
    expect(n).toBeGreaterThanOrEqual(7);
    expect(n).toBeLessThanOrEqual(10);
  });
});

describe('webhooks: sending', () => {
  it('shows a rotated secret\'s overlap only while it lasts', () => {
    const record = { id: 'wh_1', environmentId: 'e', url: 'https://a.example', description: '', events: [], enabled: true, disabledReason: null, failingSince: null, secretPrefix: 'whsec_x', createdAt: 'x', updatedAt: 'x', secret: 'whsec_xyz' };
    const later = new Date(Date.now() + 3600_000).toISOString();
    expect(endpointView({ ...record, previousSecretExpiresAt: later })).toMatchObject({ previousSecretExpiresAt: later });
    expect(endpointView({ ...record, previousSecretExpiresAt: '2026-01-01T00:00:00.000Z' }).previousSecretExpiresAt).toBeNull();
    expect(endpointView({ ...record, previousSecretExpiresAt: later })).not.toHaveProperty('secret');
  });

  it('reads Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Fri, 04 Dec 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Fri, 04 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
  });

  it('times out a receiver that sends no status, across redirects, and stops at once on shutdown', async () => {
    let hops = 0;
    const server = createServer((req, res) => {
      if (req.url === '/hop') {
        hops++;
        setTimeout(() => res.writeHead(307, { location: '/silent' }).end(), 300);
        return;
      }
      if (req.url === '/silent') return; // reads the request, never answers
      // The status and the start of a body, then nothing.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const options = { timeoutMs: 800, policy: allowAll, maxRedirects: 3, responseChars: 100 };
    try {
      const silent = await sendWebhook(`http://127.0.0.1:${port}/silent`, '{}', {}, options);
      expect(silent).toMatchObject({ ok: false, statusCode: null, error: 'timed out after 800 ms' });
      expect(silent.latencyMs).toBeGreaterThanOrEqual(790);
      expect(silent.latencyMs).toBeLessThan(1500);
      // A 2xx is the answer, though the body never ends: delivered, with what came of the body.
      const stalled = await sendWebhook(`http://127.0.0.1:${port}/stall`, '{}', {}, { ...options, timeoutMs: 10_000 });
      expect(stalled).toMatchObject({ ok: true, statusCode: 200, error: null, response: 'partial' });
      expect(stalled.latencyMs).toBeLessThan(2500); // a second for the body, not the 10 s deadline
      // One deadline for the whole exchange: 300 ms in the redirect leaves 500 for the next hop.
      const redirected = await sendWebhook(`http://127.0.0.1:${port}/hop`, '{}', {}, options);
      expect(hops).toBe(1);
      expect(redirected.error).toBe('timed out after 800 ms');
      expect(redirected.latencyMs).toBeLessThan(1500);
      const shutdown = new AbortController();
      setTimeout(() => shutdown.abort(), 100);
      const aborted = await sendWebhook(`http://127.0.0.1:${port}/silent`, '{}', {}, { ...options, timeoutMs: 5000, signal: shutdown.signal });
      expect(aborted.error).toMatch(/aborted/);
      expect(aborted.latencyMs).toBeLessThan(1000);
      const already = await sendWebhook(`http://127.0.0.1:${port}/silent`, '{}', {}, { ...options, signal: shutdown.signal });
      expect(already.error).toMatch(/aborted/);
      // Stopping while a 2xx's body is still coming: answered, so not sent again after a restart.
      const late = new AbortController();
      setTimeout(() => late.abort(), 200);
      expect(await sendWebhook(`http://127.0.0.1:${port}/stall`, '{}', {}, { ...options, timeoutMs: 5000, signal: late.signal })).toMatchObject({ ok: true, statusCode: 200 });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('keeps a binary answer as text the database stores: no NUL character (PostgreSQL refuses it)', async () => {
    const server = createServer((_req, res) => res.writeHead(500, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0x62, 0x61, 0x64, 0x00, 0x1f, 0x8b, 0x00])));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const answer = await sendWebhook(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, '{}', {}, { timeoutMs: 2000, policy: allowAll, maxRedirects: 0, responseChars: 100 });
      expect(answer).toMatchObject({ ok: false, statusCode: 500 });
      expect(answer.response).toBe('bad\uFFFD\u001f\uFFFD\uFFFD');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('webhooks: SSRF guard', () => {
  it('refuses loopback, private, link-local, metadata and mapped addresses; allows public ones', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '[::1]']) {
      expect(blockedAddressReason(ip), ip).toBeDefined();
    }
    // IPv6 addresses that carry an IPv4 address are judged by it, in every notation.
    for (const ip of ['::ffff:7f00:1', '0:0:0:0:0:ffff:127.0.0.1', '::ffff:a9fe:a9fe', '::ffff:0:127.0.0.1', '::127.0.0.1', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '2002:7f00:1::', '2002:a00:1::1']) {
      expect(blockedAddressReason(ip), ip).toMatch(/\((127\.0\.0\.1|169\.254\.169\.254|10\.0\.0\.1) is a (loopback|link-local|private)/);
    }
    for (const ip of ['2001:db8::1', '2001:0:4136:e378::1', '64:ff9b:1::1', '100::1', 'fec0::1', '192.0.2.1', '198.51.100.7', '203.0.113.9', 'fe80::1%eth0', '::ffff:127.0.0.1%lo']) {
      expect(blockedAddressReason(ip), ip).toBeDefined();
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '172.32.0.1', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) expect(blockedAddressReason(ip), ip).toBeUndefined();
  });

  const send = (url: string) =>
    sendWebhook(url, '{}', {}, { timeoutMs: 2000, policy: defaultAddressPolicy, maxRedirects: 3, responseChars: 100 });

  it('refuses an IP literal and a name that resolves to loopback, before connecting', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const literal = await send(`http://127.0.0.1:${port}/`);
      expect(literal.ok).toBe(false);
      // Every refusal, wherever it is made, ends with the same hint.
      const hint = 'PULSE_WEBHOOKS_ALLOW_PRIVATE=1 on the server allows private addresses for local development';
      expect(literal.error).toBe(`refused: 127.0.0.1 is a loopback address; ${hint}`);
      const named = await send(`http://localhost:${port}/`);
      expect(named.ok).toBe(false);
      expect(named.error).toMatch(/^refused: localhost resolves to an address webhooks may not reach \(.* is a loopback address\); /);
      expect(named.error!.endsWith(`; ${hint}`)).toBe(true);
      const mapped = await send(`http://[::ffff:127.0.0.1]:${port}/`);
      expect(mapped.error).toMatch(/refused: ::ffff:7f00:1 \(127\.0\.0\.1 is a loopback address\)/);
      const metadata = await send('http://169.254.169.254/latest/meta-data/');
      expect(metadata.error).toMatch(/link-local \(cloud metadata\)/);
      const ftp = await send('ftp://example.com/');
      expect(ftp.error).toMatch(/http and https only/);
      expect(hits).toBe(0);
    } finally {
      server.close();
    }
  });

  it('fails an attempt redirected to a Location that is not a URL, without throwing', async () => {
    const redirector = createServer((_req, res) => res.writeHead(307, { location: 'http://[not-an-address' }).end());
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
    const port = (redirector.address() as AddressInfo).port;
    try {
      const result = await sendWebhook(`http://127.0.0.1:${port}/`, '{}', {}, { timeoutMs: 2000, policy: allowAll, maxRedirects: 3, responseChars: 100 });
      expect(result).toMatchObject({ ok: false, statusCode: 307, error: 'invalid redirect location: http://[not-an-address' });
    } finally {
      redirector.close();
    }
  });

  it('checks every redirect target like the first URL', async () => {
    let hits = 0;
    const redirector = createServer((_req, res) => {
      hits++;
      res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/iam' }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
    const port = (redirector.address() as AddressInfo).port;
    try {
      // The first hop is allowed by this policy (loopback), the redirect's target is not.
      const onlyMetadataBlocked = (ip: string) => (ip.startsWith('169.254.') ? `${ip} is a link-local (cloud metadata) address` : undefined);
      const result = await sendWebhook(`http://127.0.0.1:${port}/`, '{}', {}, { timeoutMs: 2000, policy: onlyMetadataBlocked, maxRedirects: 3, responseChars: 100 });
      expect(hits).toBe(1);
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/refused: 169\.254\.169\.254 is a link-local/);
    } finally {
      redirector.close();
    }
  });

  it('refuses to add an endpoint on a private address, or a name resolving to one, unless PULSE_WEBHOOKS_ALLOW_PRIVATE=1', async () => {
    const t = await startTestServer('sqlite');
    try {
      const strict = t.server.ctx.webhooks;
      for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://LOCALHOST./x', 'http://[::1]/x', 'http://169.254.169.254/', 'http://10.0.0.8/', 'http://[::ffff:127.0.0.1]:9/x', 'http://[::ffff:a9fe:a9fe]/']) {
        await expect(strict.add(t.envId, { url }), url).rejects.toMatchObject({ code: 'validation_failed' });
      }
      await expect(strict.add(t.envId, { url: 'ftp://example.com/' })).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(strict.add(t.envId, { url: 'https://user:pw@example.com/' })).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(strict.add(t.envId, { url: 'https://example.com/', events: ['comment.nope'] })).rejects.toMatchObject({ code: 'validation_failed' });
      const ok = await strict.add(t.envId, { url: 'https://hooks.example.com/pulse', events: ['comment.created'] });
      expect(ok.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const lenient = new WebhookService(t.server.ctx.store, { allowPrivate: true, retryWindowMs: 60_000 });
      await expect(lenient.add(t.envId, { url: 'http://127.0.0.1:9/x' })).resolves.toBeDefined();
      // A name is judged on what it resolves to now; one that does not resolve (yet) is taken.
      const names: Record<string, string[]> = { 'hooks.internal': ['8.8.4.4', '10.1.2.3'], 'hooks.public': ['93.184.215.14'] };
      const resolving = new WebhookService(t.server.ctx.store, {
        allowPrivate: false,
        retryWindowMs: 60_000,
        resolve: async (host) => names[host] ?? Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' })),
      });
      const internal = resolving.add(t.envId, { url: 'https://hooks.internal/x' });
      await expect(internal).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(internal).rejects.toThrow(
        'url: refused: hooks.internal resolves to an address webhooks may not reach (10.1.2.3 is a private address); webhooks go to public addresses (PULSE_WEBHOOKS_ALLOW_PRIVATE=1 on the server allows private addresses for local development)',
      );
      const taken = await resolving.add(t.envId, { url: 'https://hooks.public/x' });
      await expect(resolving.update(t.envId, taken.endpoint.id, { url: 'https://HOOKS.internal./y' })).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(resolving.add(t.envId, { url: 'https://not-yet-live.example/x' })).resolves.toBeDefined();
    } finally {
      await t.close();
    }
  });
});

describe('webhooks: delivery', () => {
  let t: TestServer;
  let receiver: WebhookReceiver;
  let service: WebhookService;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await t.api(method, path, body);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res;
  };

  beforeAll(async () => {
    // Due notifications (email, notification.unread) looked for every 100 ms.
    t = await startTestServer('sqlite', { webhooks: fastRetries, email: optionsFromEnv({ PULSE_EMAIL_POLL_MS: '100' }).email! });
    service = t.server.ctx.webhooks;
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(async () => {
    await receiver?.stop();
    for (const e of await service.list(t.envId)) await service.remove(t.envId, e.id);
  });

  async function subscribe(events?: WebhookEventType[]) {
    receiver = await new WebhookReceiver().start();
    const { endpoint, secret } = await service.add(t.envId, { url: receiver.url, ...(events ? { events } : {}) });
    receiver.secret = secret;
    return endpoint;
  }

  /** notification.unread after `emailDelaySeconds` instead of the default 600, for the length of `run`. */
  async function withUnreadDelay(emailDelaySeconds: number, run: () => Promise<void>) {
    await t.server.ctx.environments.updateConfig(t.envId, { emailDelaySeconds });
    try {
      await run();
    } finally {
      await t.server.ctx.environments.updateConfig(t.envId, { emailDelaySeconds: DEFAULT_ENV_CONFIG.emailDelaySeconds });
    }
  }

  it('delivers every event type, signed, with the object as the REST API returns it', () => withUnreadDelay(0, async () => {
    await subscribe();
    await api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    await api('PUT', '/api/v1/users/bob', { name: 'Bob' });
    const room = `room-${Date.now()}`;
    const thread = (await api('POST', `/api/v1/rooms/${room}/threads`, { userId: 'ann', body: 'Hello <b>Bob</b>', mentions: ['bob'] })).body.thread;
    const comment = (await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'bob', body: 'Hi Ann' })).body.comment;
    // Both notifications (Bob's mention, Ann's reply) stay unread: announced before they go with their comments.
    await waitFor(() => receiver.ofType('notification.unread').length === 2, 5000, 'notification.unread');
    const edited = (await api('PATCH', `/api/v1/comments/${comment.id}`, { body: 'Hi Ann!' })).body.comment;
    const reaction = (await api('POST', `/api/v1/comments/${comment.id}/reactions`, { userId: 'ann', emoji: '👍' })).body.reaction;
    await api('DELETE', `/api/v1/reactions/${reaction.id}`);
    await api('PATCH', `/api/v1/threads/${thread.id}`, { resolved: true });
    await api('PATCH', `/api/v1/threads/${thread.id}`, { resolved: false });
    await api('DELETE', `/api/v1/comments/${comment.id}`);
    await api('DELETE', `/api/v1/threads/${thread.id}`);
    // P2P shared data: the last peer leaving writes the room's state at once.
    await t.server.ctx.environments.updateConfig(t.envId, { allowP2P: true });
    const peer = await connectClient(t, 'ann', room);
    try {
      (await peer.p2p).sharedCounter('votes').increment(3);
      await sleep(100);
    } finally {
      peer.disconnect();
    }

    await waitFor(() => WEBHOOK_EVENT_TYPES.every((type) => receiver.ofType(type).length > 0), 10_000, 'every event type');
    expect(receiver.rejected).toBe(0);
    for (const type of WEBHOOK_EVENT_TYPES) {
      for (const r of receiver.ofType(type)) {
        const parsed = webhookDataSchemas[type].safeParse(r.payload.data);
        expect(parsed.success, `${type}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
        expect(r.id).toMatch(/^msg_[0-9a-f]{24}$/);
        expect(r.payload.data.environmentId).toBe(t.envId);
        expect(r.payload.data.roomId).toBe(room);
      }
    }
    const created = receiver.ofType('thread.created')[0]!.payload.data;
    expect(created.thread).toEqual(thread);
    expect(created.thread.comments[0].body).toBe('Hello <b>Bob</b>');
    expect(created.actor).toEqual({ type: 'backend' });
    const mention = receiver.ofType('notification.created').find((r) => r.payload.data.notification.kind === 'mention')!.payload.data;
    expect(mention.recipientId).toBe('bob');
    expect(mention.notification.roomId).toBe(room);
    const reply = receiver.ofType('notification.created').find((r) => r.payload.data.notification.kind === 'reply')!.payload.data;
    expect(reply.recipientId).toBe('ann');
    const unread = receiver.ofType('notification.unread').map((r) => r.payload.data);
    expect(unread.map((d) => [d.recipientId, d.notification.kind]).sort()).toEqual([['ann', 'reply'], ['bob', 'mention']]);
    expect(unread.find((d) => d.recipientId === 'bob')).toMatchObject({ ...mention, actor: { type: 'system' } });
    expect(receiver.ofType('comment.created')[0]!.payload.data.comment).toEqual(comment);
    expect(receiver.ofType('comment.edited')[0]!.payload.data.comment).toEqual(edited);
    expect(edited.body).toBe('Hi Ann!');
    expect(receiver.ofType('comment.deleted')[0]!.payload.data).toMatchObject({ commentId: comment.id, threadDeleted: false });
    expect(receiver.ofType('reaction.added')[0]!.payload.data).toMatchObject({ threadId: thread.id, reaction: { emoji: '👍', userId: 'ann', targetId: comment.id } });
    expect(receiver.ofType('reaction.removed')[0]!.payload.data).toMatchObject({ threadId: thread.id, commentId: comment.id });
    // Made through REST with the secret key: the backend acted, whoever the reaction is for.
    for (const type of ['thread.created', 'comment.created', 'comment.edited', 'comment.deleted', 'reaction.added', 'reaction.removed', 'thread.deleted'] as const) {
      for (const r of receiver.ofType(type)) expect(r.payload.data.actor, type).toEqual({ type: 'backend' });
    }
    expect(receiver.ofType('thread.deleted')[0]!.payload.data.thread.id).toBe(thread.id);
    expect(receiver.ofType('room.created')[0]!.payload.data.room).toMatchObject({ id: room, environmentId: t.envId });
    const persisted = receiver.ofType('p2p.state.persisted')[0]!.payload.data;
    const stored = await t.server.ctx.store.getSharedState(t.envId, room);
    expect(persisted.actor).toEqual({ type: 'system' });
    expect(persisted.sharedState).toEqual({ roomId: room, bytes: stored!.bytes, version: stored!.version, updatedAt: stored!.updatedAt, expiresAt: stored!.expiresAt });
    // Each event once, each with its own id.
    const ids = receiver.received.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  }));

  it('sends thread.deleted when a thread goes with its last comment', async () => {
    await subscribe(['comment.deleted', 'thread.deleted']);
    await api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const room = `last-${Date.now()}`;
    const thread = (await api('POST', `/api/v1/rooms/${room}/threads`, { userId: 'ann', body: 'alone' })).body.thread;
    const stored = (await api('GET', `/api/v1/threads/${thread.id}`)).body.thread;
    expect((await api('DELETE', `/api/v1/comments/${thread.comments[0].id}`)).status).toBe(200);
    await waitFor(() => receiver.ofType('thread.deleted').length === 1 && receiver.ofType('comment.deleted').length === 1, 5000, 'both events');
    expect(receiver.ofType('comment.deleted')[0]!.payload.data).toMatchObject({ commentId: thread.comments[0].id, threadDeleted: true });
    const deleted = receiver.ofType('thread.deleted')[0]!.payload.data;
    expect(webhookDataSchemas['thread.deleted'].safeParse(deleted).success).toBe(true);
    const { comments: _comments, ...asItWas } = stored;
    expect(deleted).toMatchObject({ threadId: thread.id, roomId: room, thread: asItWas, actor: { type: 'backend' } });
    // A comment that is not the last one: no thread.deleted.
    const kept = (await api('POST', `/api/v1/rooms/${room}/threads`, { userId: 'ann', body: 'one' })).body.thread;
    const second = (await api('POST', `/api/v1/threads/${kept.id}/comments`, { userId: 'ann', body: 'two' })).body.comment;
    await api('DELETE', `/api/v1/comments/${second.id}`);
    await waitFor(() => receiver.ofType('comment.deleted').length === 2, 5000, 'the second comment.deleted');
    await sleep(200);
    expect(receiver.ofType('thread.deleted')).toHaveLength(1);
  });

  it('sends notification.unread once for a notification still unread after emailDelaySeconds, none for one read in time', () =>
    withUnreadDelay(1, async () => {
      await subscribe(['notification.unread']);
      for (const id of ['ann', 'bob', 'cid']) await api('PUT', `/api/v1/users/${id}`, { name: id });
      const made = Date.now();
      const thread = (await api('POST', `/api/v1/rooms/unread-${made}/threads`, { userId: 'ann', body: 'Look, @bob @cid', mentions: ['bob', 'cid'] })).body.thread;
      await t.server.ctx.collab.markNotificationsRead(t.envId, 'bob', 'all');
      await waitFor(() => receiver.received.length >= 1, 5000, 'notification.unread');
      expect(Date.now() - made).toBeGreaterThanOrEqual(1000);
      await sleep(600);
      expect(receiver.rejected).toBe(0);
      expect(receiver.received).toHaveLength(1);
      const data = receiver.received[0]!.payload.data;
      expect(webhookDataSchemas['notification.unread'].safeParse(data).success).toBe(true);
      expect(data).toMatchObject({ recipientId: 'cid', threadId: thread.id, actor: { type: 'system' }, notification: { kind: 'mention', read: false, actorId: 'ann' } });
    }));

  it('sends only the subscribed types, and nothing while the endpoint is disabled', async () => {
    const endpoint = await subscribe(['comment.created']);
    await api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const thread = (await api('POST', `/api/v1/rooms/filter-${Date.now()}/threads`, { userId: 'ann', body: 'one' })).body.thread;
    await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: 'two' });
    await waitFor(() => receiver.received.length >= 1, 5000);
    await sleep(300);
    expect(receiver.received.map((r) => r.payload.type)).toEqual(['comment.created']);
    await service.update(t.envId, endpoint.id, { enabled: false });
    await sleep(400);
    const since = new Date().toISOString();
    await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: 'three' });
    await sleep(700);
    expect(receiver.received).toHaveLength(1);

    // Recovering: what it missed while disabled, once enabled again; the same webhook-id forever.
    await service.update(t.envId, endpoint.id, { enabled: true });
    expect(await service.recover(t.envId, endpoint.id, { since })).toMatchObject({ recovered: 1, since });
    await waitFor(() => receiver.received.length === 2, 5000, 'the recovered event');
    expect(receiver.received[1]!.payload.data.comment.body).toBe('three');
    expect(await service.recover(t.envId, endpoint.id, { since })).toMatchObject({ recovered: 0 });
    const refused = async (input: unknown) => (await service.recover(t.envId, endpoint.id, input).catch((err: unknown) => err)) as { code: string; message: string };
    expect(await refused({ since: 'yesterday' })).toMatchObject({ code: 'validation_failed' });
    expect(await refused({ since: new Date(Date.now() + 60_000).toISOString() })).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/future/) });
    expect(await refused({ since: new Date(Date.now() - 31 * 86_400_000).toISOString() })).toMatchObject({ message: expect.stringMatching(/kept 30 days/) });
  });

  it('sends an example event of any type on request, whatever the filter, signed like a real one', async () => {
    const endpoint = await subscribe(['thread.created']);
    for (const type of ['comment.created', 'notification.created'] as const) {
      const queued = await service.sendTest(t.envId, endpoint.id, { type });
      expect(queued).toMatchObject({ eventType: type, status: 'pending' });
    }
    await waitFor(() => receiver.received.length === 2, 5000, 'two example events');
    for (const { payload } of receiver.received) {
      expect(payload.example).toBe(true);
      expect(webhookDataSchemas[payload.type as WebhookEventType].parse(payload.data)).toEqual(payload.data);
      expect(payload.data).toMatchObject({ environmentId: t.envId, roomId: WEBHOOK_EXAMPLE_ROOM });
    }
    expect(receiver.rejected).toBe(0);
    const refused = async (input: unknown) => (await service.sendTest(t.envId, endpoint.id, input).catch((err: unknown) => err)) as { code: string; message: string };
    expect(await refused({ type: 'comment.exploded' })).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('type') });
    expect(await refused({ type: 'comment.created', extra: 1 })).toMatchObject({ code: 'validation_failed' });
  });

  it('retries a failing receiver with the same webhook-id until it answers 2xx', async () => {
    const endpoint = await subscribe(['comment.created']);
    receiver.mode = { kind: 'fail', status: 503 };
    await api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const thread = (await api('POST', `/api/v1/rooms/retry-${Date.now()}/threads`, { userId: 'ann', body: 'one' })).body.thread;
    for (let i = 0; i < 5; i++) await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: `c${i}` });
    await waitFor(() => receiver.requests >= 10, 8000, 'failed attempts');
    // Outcomes are written in batches, a moment after the receiver answered.
    let deliveries = await waitFor(async () => {
      const list = await service.deliveries(t.envId, endpoint.id);
      return list.some((d) => d.attempts >= 2) ? list : undefined;
    }, 3000, 'a second attempt recorded');
    expect(deliveries.every((d) => d.status === 'pending')).toBe(true);
    expect(deliveries.some((d) => d.attempts >= 2 && d.lastStatusCode === 503 && d.lastResponse === 'failing on purpose (503)')).toBe(true);
    expect((await service.get(t.envId, endpoint.id)).failingSince).not.toBeNull();
    receiver.mode = { kind: 'ok' };
    await waitFor(() => receiver.received.length >= 5, 8000, 'deliveries after recovery');
    // Outcomes are written in batches, a moment after the receiver answered.
    deliveries = await waitFor(async () => {
      const list = await service.deliveries(t.envId, endpoint.id);
      return list.every((d) => d.status === 'succeeded') ? list : undefined;
    }, 3000, 'the outcomes recorded');
    expect(deliveries).toHaveLength(5);
    expect(new Set(receiver.received.map((r) => r.id))).toEqual(new Set(deliveries.map((d) => d.eventId)));
    expect((await service.get(t.envId, endpoint.id)).failingSince).toBeNull();
  });

  it('drains a backlog to a slow receiver with at most 4 requests open at once', async () => {
    await subscribe(['comment.created']);
    receiver.mode = { kind: 'slow', ms: 30 };
    await api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const thread = (await api('POST', `/api/v1/rooms/backlog-${Date.now()}/threads`, { userId: 'ann', body: 'one' })).body.thread;
    const comments = 60;
    for (let i = 0; i < comments; i++) await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: `c${i}` });
    await waitFor(() => receiver.received.length >= comments, 15_000, 'every comment delivered');
    expect(receiver.maxConcurrent).toBeLessThanOrEqual(WEBHOOK_POLICY.concurrencyPerEndpoint);
    expect(receiver.maxConcurrent).toBeGreaterThan(1);
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(comments);
  });

  it('times out a hung receiver, and resend / send-test deliver again', async () => {
    const endpoint = await subscribe(['comment.created']);
    receiver.mode = { kind: 'hang' };
    const test = await service.sendTest(t.envId, endpoint.id);
    await waitFor(async () => (await service.deliveries(t.envId, endpoint.id))[0]?.lastError?.includes('timed out'), 5000, 'a timeout');
    receiver.mode = { kind: 'ok' };
    await waitFor(() => receiver.ofType('webhook.test').length === 1, 5000, 'the test event');
    expect(receiver.received[0]!.id).toBe(test.eventId);
    await waitFor(async () => (await service.deliveries(t.envId, endpoint.id))[0]?.status === 'succeeded', 5000, 'the attempt recorded');
    expect(await service.resend(t.envId, endpoint.id, test.id)).toMatchObject({ status: 'pending', eventId: test.eventId });
    await waitFor(() => receiver.ofType('webhook.test').length === 2, 5000, 'the resent event');
    expect(receiver.received[1]!.id).toBe(test.eventId);
  });

  it('lets a request already sent finish when the server stops, so a restart does not send it again', async () => {
    const s = await startTestServer('sqlite', { webhooks: fastRetries });
    const r = await new WebhookReceiver().start();
    try {
      const svc = s.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(s.envId, { url: r.url });
      r.secret = secret;
      r.mode = { kind: 'slow', ms: 400 };
      const queued = await svc.sendTest(s.envId, endpoint.id);
      await waitFor(() => r.requests === 1, 5000, 'the request sent');
      await s.restart(); // closes while the receiver is still answering
      const [delivery] = await s.server.ctx.webhooks.deliveries(s.envId, endpoint.id); // the restarted server's
      expect(delivery).toMatchObject({ id: queued.id, status: 'succeeded', attempts: 1, lastStatusCode: 204 });
      await sleep(800);
      expect(r.requests).toBe(1);
    } finally {
      await r.stop();
      await s.close();
    }
  });

  it('marks a delivery failed when its retry window is over', () =>
    // Retries come every 100–400 ms; the window leaves room for three attempts on a loaded machine
    // (in a full CI run, 1.5 s once held only two).
    withOwnServer({ retryWindowMs: 3000 }, async (short, r) => {
      const svc = short.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(short.envId, { url: r.url });
      r.secret = secret;
      r.mode = { kind: 'fail', status: 500 };
      await svc.sendTest(short.envId, endpoint.id);
      const [failed] = await waitFor(async () => {
        const list = await svc.deliveries(short.envId, endpoint.id);
        return list[0]?.status === 'failed' ? list : undefined;
      }, 10_000, 'a failed delivery');
      expect(failed).toMatchObject({ status: 'failed', lastStatusCode: 500, nextAttemptAt: null });
      expect(failed!.attempts).toBeGreaterThanOrEqual(3);
    }));

  it('sends what waits for a later retry as soon as the endpoint works or is enabled again, not hours later', () =>
    withOwnServer({ firstRetryDelayMs: 3_600_000, maxRetryDelayMs: 6 * 3_600_000, outageMs: 300 }, async (own, r) => {
      const svc = own.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(own.envId, { url: r.url });
      r.secret = secret;
      r.mode = { kind: 'fail', status: 503 };
      for (let i = 0; i < 3; i++) await svc.sendTest(own.envId, endpoint.id);
      const waiting = await waitFor(async () => {
        const list = await svc.deliveries(own.envId, endpoint.id);
        return list.length === 3 && list.every((d) => d.attempts === 1 && d.nextAttemptAt) ? list : undefined;
      }, 5000, 'three failed attempts recorded');
      // Backoff: the next attempts are an hour or more away.
      expect(waiting.every((d) => Date.parse(d.nextAttemptAt!) > Date.now() + 30 * 60_000)).toBe(true);
      await sleep(400); // failing for longer than outageMs: an outage
      r.mode = { kind: 'ok' };
      // A new event goes at once; its success brings the waiting three forward.
      await svc.sendTest(own.envId, endpoint.id);
      await waitFor(() => r.received.length === 4, 5000, 'the backlog after the endpoint recovered');
      expect(new Set(r.received.map((m) => m.id)).size).toBe(4);
      await waitFor(async () => ((await svc.deliveries(own.envId, endpoint.id)).every((d) => d.status === 'succeeded') ? true : undefined), 3000, 'all recorded as sent');
      // Enabled again after Pulse disabled it: what waited goes at once too.
      r.mode = { kind: 'fail', status: 410 };
      await svc.sendTest(own.envId, endpoint.id);
      await waitFor(async () => ((await svc.get(own.envId, endpoint.id)).enabled ? undefined : true), 5000, 'the endpoint disabled');
      r.mode = { kind: 'ok' };
      await svc.update(own.envId, endpoint.id, { enabled: true });
      await waitFor(() => r.received.length === 5, 5000, 'the waiting delivery once enabled');
    }));

  it('disables an endpoint that keeps failing, saying why; enabling it clears the reason', () =>
    withOwnServer({ disableAfterFailingMs: 200 }, async (short, r) => {
      const svc = short.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(short.envId, { url: r.url });
      r.secret = secret;
      r.mode = { kind: 'fail', status: 500 };
      await svc.sendTest(short.envId, endpoint.id);
      const after = await waitFor(async () => {
        const e = await svc.get(short.envId, endpoint.id);
        return e.enabled ? undefined : e;
      }, 6000, 'the endpoint disabled');
      expect(after.disabledReason).toMatch(/every delivery has failed since .*HTTP 500/);
      // The audit log says so too, as Pulse's own doing.
      const logged = await waitFor(async () => {
        const { items } = await short.server.ctx.store.listAudit(short.envId, { offset: 0, limit: 20 });
        return items.find((e) => e.action === 'webhook.disabled');
      }, 3000, 'the audit entry');
      expect(logged).toMatchObject({ actorName: 'Pulse', actorId: null, actorEmail: null, detail: `${endpoint.id} → ${r.url}: ${after.disabledReason}` });
      // Its pending delivery waits, and resumes once the endpoint is enabled again.
      expect((await svc.deliveries(short.envId, endpoint.id))[0]!.status).toBe('pending');
      r.mode = { kind: 'ok' };
      const { after: enabled } = await svc.update(short.envId, endpoint.id, { enabled: true });
      expect(enabled).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
      await waitFor(() => r.received.length === 1, 5000, 'the delivery after enabling');
    }));

  it('recovers what failed since a time: sent again with its webhook-id, once', () =>
    withOwnServer({ retryWindowMs: 1500 }, async (short, r) => {
      const svc = short.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(short.envId, { url: r.url, events: ['thread.created'] });
      r.secret = secret;
      r.mode = { kind: 'fail', status: 500 };
      const since = new Date().toISOString();
      await short.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
      await short.api('POST', '/api/v1/rooms/recovering/threads', { userId: 'ann', body: 'Lost?' });
      const [failed] = await waitFor(async () => {
        const list = await svc.deliveries(short.envId, endpoint.id);
        return list[0]?.status === 'failed' ? list : undefined;
      }, 6000, 'the delivery failed');
      r.mode = { kind: 'ok' };
      // Not while the endpoint no longer subscribes to that type.
      await svc.update(short.envId, endpoint.id, { events: ['comment.created'] });
      expect(await svc.recover(short.envId, endpoint.id, { since })).toMatchObject({ recovered: 0 });
      await svc.update(short.envId, endpoint.id, { events: ['thread.created'] });
      expect(await svc.recover(short.envId, endpoint.id, { since })).toMatchObject({ recovered: 1 });
      await waitFor(() => r.received.length === 1, 5000, 'the recovered event');
      expect(r.received[0]).toMatchObject({ id: failed!.eventId, payload: { type: 'thread.created' } });
      // Delivered now: nothing is left to recover.
      await waitFor(async () => (await svc.deliveries(short.envId, endpoint.id))[0]?.status === 'succeeded', 3000, 'the delivery recorded');
      expect(await svc.recover(short.envId, endpoint.id, { since })).toMatchObject({ recovered: 0 });
    }));

  it('fails, without sending, what waited past its window while the endpoint was disabled', () =>
    withOwnServer({ retryWindowMs: 3000 }, async (short, r) => {
      const svc = short.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(short.envId, { url: r.url });
      r.secret = secret;
      r.mode = { kind: 'fail', status: 410 }; // disables the endpoint at once
      await svc.sendTest(short.envId, endpoint.id);
      await waitFor(async () => !(await svc.get(short.envId, endpoint.id)).enabled, 5000, 'the endpoint disabled');
      // Its first attempt came in time for a retry (a cold sending thread can take a second to start)...
      const [waiting] = await svc.deliveries(short.envId, endpoint.id);
      expect(waiting).toMatchObject({ status: 'pending', attempts: 1 });
      // ...and the delivery's window ends while the endpoint is disabled.
      await sleep(Date.parse(waiting!.createdAt) + 3200 - Date.now());
      r.mode = { kind: 'ok' };
      await svc.update(short.envId, endpoint.id, { enabled: true });
      const [delivery] = await svc.deliveries(short.envId, endpoint.id);
      expect(delivery).toMatchObject({ status: 'failed', attempts: 1, nextAttemptAt: null, lastError: 'the endpoint was disabled until the retry window ended' });
      await sleep(500);
      expect(r.received).toHaveLength(0);
      // Enabling an endpoint that is enabled fails nothing: a late delivery still gets its attempt.
      const late = await short.server.ctx.store.enqueueWebhookDelivery(
        short.envId,
        endpoint.id,
        { id: 'msg_late', type: 'webhook.test', payload: JSON.stringify({ type: 'webhook.test', timestamp: new Date().toISOString(), data: {} }), createdAt: new Date().toISOString() },
        new Date(Date.now() - 60_000).toISOString(),
      );
      await svc.update(short.envId, endpoint.id, { enabled: true });
      expect((await svc.deliveries(short.envId, endpoint.id)).find((d) => d.id === late.id)?.status).not.toBe('failed');
    }));

  it('disables an endpoint at once when the receiver answers 410 Gone', async () => {
    const endpoint = await subscribe();
    receiver.mode = { kind: 'fail', status: 410 };
    await service.sendTest(t.envId, endpoint.id);
    const after = await waitFor(async () => {
      const e = await service.get(t.envId, endpoint.id);
      return e.enabled ? undefined : e;
    }, 5000, 'the endpoint disabled');
    expect(after.disabledReason).toMatch(/410 Gone/);
    expect((await service.deliveries(t.envId, endpoint.id))[0]).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 410 });
  });

  it("waits as long as a refusing receiver's Retry-After asks before trying again", async () => {
    const slow = await startTestServer('sqlite', { webhooks: { ...fastRetries, maxRetryDelayMs: 5_000 } });
    const r = await new WebhookReceiver().start();
    try {
      const svc = slow.server.ctx.webhooks;
      const { endpoint, secret } = await svc.add(slow.envId, { url: r.url });
      r.secret = secret;
      const attempts = r.requestTimes;
      r.mode = { kind: 'fail', status: 503, headers: { 'retry-after': '1' } };
      await svc.sendTest(slow.envId, endpoint.id);
      await waitFor(() => attempts.length >= 2, 5000, 'the second attempt');
      // Without the header the next attempt would come after ~100 ms (the first backoff).
      expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(950);
    } finally {
      await r.stop();
      await slow.close();
    }
  });

  it('signs with the previous secret too for a day after a rotation, unless it is expired at once', async () => {
    const endpoint = await subscribe();
    const { secret, endpoint: rotated } = await service.rotateSecret(t.envId, endpoint.id);
    expect(Date.parse(rotated.previousSecretExpiresAt!) - Date.now()).toBeGreaterThan(WEBHOOK_POLICY.secretOverlapMs - 60_000);
    // A receiver still on the old secret verifies, and so does one on the new.
    await service.sendTest(t.envId, endpoint.id);
    await waitFor(() => receiver.ofType('webhook.test').length === 1, 5000, 'the test event, verified with the old secret');
    expect(receiver.received[0]!.signature.split(' ')).toHaveLength(2);
    receiver.secret = secret;
    await service.sendTest(t.envId, endpoint.id);
    await waitFor(() => receiver.ofType('webhook.test').length === 2, 5000, 'the test event, verified with the new secret');

    // A leaked secret: the next one alone signs, at once.
    const { endpoint: expired } = await service.rotateSecret(t.envId, endpoint.id, { expirePrevious: true });
    expect(expired.previousSecretExpiresAt).toBeNull();
    const rejected = receiver.rejected;
    await service.sendTest(t.envId, endpoint.id);
    await waitFor(() => receiver.rejected > rejected, 5000, 'the test event refused with the old secret');
    await expect(service.rotateSecret(t.envId, endpoint.id, { expirePrevious: 'yes' })).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('takes a secret of your own when adding or rotating, as Svix does (a receiver moved over keeps its secret)', async () => {
    const own = `whsec_${randomBytes(24).toString('base64')}`;
    receiver = await new WebhookReceiver().start();
    const { endpoint, secret } = await service.add(t.envId, { url: receiver.url, secret: own });
    expect(secret).toBe(own);
    receiver.secret = own;
    await service.sendTest(t.envId, endpoint.id);
    await waitFor(() => receiver.ofType('webhook.test').length === 1, 5000, 'the test event, signed with the secret given');
    // Without the prefix it is the same secret; the answer gives it with the prefix.
    const bare = randomBytes(32).toString('base64');
    const rotated = await service.rotateSecret(t.envId, endpoint.id, { secret: bare, expirePrevious: true });
    expect(rotated.secret).toBe(`whsec_${bare}`);
    receiver.secret = rotated.secret;
    await service.sendTest(t.envId, endpoint.id);
    await waitFor(() => receiver.ofType('webhook.test').length === 2, 5000, 'the test event, signed with the rotated secret');
    for (const bad of ['whsec_', 'whsec_c2hvcnQ=', `whsec_${randomBytes(65).toString('base64')}`, 'whsec_not base64!!', `whsec_${randomBytes(24).toString('base64url')}-_`, 42]) {
      await expect(service.add(t.envId, { url: receiver.url, secret: bad }), String(bad)).rejects.toMatchObject({ code: 'validation_failed', message: expect.stringContaining('secret') });
      await expect(service.rotateSecret(t.envId, endpoint.id, { secret: bad })).rejects.toMatchObject({ code: 'validation_failed' });
    }
  });

  it("follows a redirect within the endpoint's origin, never to another (the signed body would go with it)", async () => {
    await subscribe(['comment.created']);
    const elsewhere = await new WebhookReceiver().start();
    try {
      const endpoint = (await service.list(t.envId))[0]!;
      const { secret } = await service.rotateSecret(t.envId, endpoint.id);
      receiver.secret = secret;
      elsewhere.secret = secret;
      const received = receiver.received.length;
      receiver.mode = { kind: 'redirect', location: '/moved' };
      await service.sendTest(t.envId, endpoint.id);
      await waitFor(() => receiver.received.length === received + 1, 5000, 'the delivery redirected on the same origin');
      // Another port is another origin: an open redirect on the receiver's site must not pass on the signed body.
      receiver.mode = { kind: 'redirect', location: `${elsewhere.url}/moved` };
      await service.sendTest(t.envId, endpoint.id);
      await waitFor(async () => (await service.deliveries(t.envId, endpoint.id))[0]?.lastError?.includes('another origin'), 5000, 'the refused redirect');
      const [refused] = await service.deliveries(t.envId, endpoint.id);
      expect(refused).toMatchObject({ lastStatusCode: 307 });
      expect(refused!.lastError).toBe(`refused: redirected to another origin (${new URL(elsewhere.url).origin}); point the endpoint at the final URL`);
      expect(elsewhere.requests).toBe(0);
    } finally {
      receiver.mode = { kind: 'ok' };
      await elsewhere.stop();
    }
  });
});
