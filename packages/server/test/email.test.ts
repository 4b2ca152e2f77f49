import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigCache } from '../src/domain/config-cache.ts';
import { UnsubscribeLinks } from '../src/email/unsubscribe.ts';
import { EmailWorker } from '../src/email/worker.ts';
import { optionsFromEnv } from '../src/options.ts';
import { openContext } from '../src/server.ts';
import { RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { redisAvailable, startCluster, type ClusterNode, type TestCluster } from './helpers/cluster.ts';
import { postgresAvailable } from './helpers/services.ts';
import { decodeQuotedPrintable, SmtpReceiver } from './helpers/smtp.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** Email notifications against a real SMTP server on loopback. */
describe('email notifications', () => {
  let t: TestServer;
  const smtp = new SmtpReceiver();
  const DELAY_S = 1;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await t.api(method, path, body);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  };
  const user = (id: string, email?: string) => api('PUT', `/api/v1/users/${id}`, { name: id[0]!.toUpperCase() + id.slice(1), ...(email ? { email } : {}) });
  const mention = async (room: string, to: string, body: string) =>
    (await api('POST', `/api/v1/rooms/${room}/threads`, { userId: 'ann', body, mentions: [to] })).thread as { id: string };

  /** With the SMTP server refusing from now on: a mention of a new user with an address, once its email was refused. */
  const mentionRefused = async (to: string, room: string, body: string) => {
    await user(to, `${to}@example.com`);
    smtp.failing = true;
    const refused = smtp.refused;
    await mention(room, to, body);
    await waitFor(() => smtp.refused > refused, 8000, 'a refused attempt');
  };

  beforeAll(async () => {
    await smtp.start();
    t = await startTestServer('sqlite', { email: { smtpUrl: smtp.url, from: 'Pulse <pulse@example.com>', pollMs: 200, retryBaseMs: 300 } });
    await t.server.ctx.environments.updateConfig(t.envId, {
      emailNotifications: true,
      emailDelaySeconds: DELAY_S,
      emailLinkTemplate: 'https://app.example.com/rooms/{roomId}#thread-{threadId}',
    });
    await user('ann', 'ann@example.com');
  });
  afterAll(async () => {
    await t?.close();
    await smtp.stop();
  });

  it('stores an email from PUT /users and the token body, and never returns it', async () => {
    const bad = await t.api('PUT', '/api/v1/users/x', { name: 'X', email: 'not an email' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^email: must be an email address/);
    const put = await api('PUT', '/api/v1/users/zoe', { name: 'Zoe', email: 'zoe@example.com' });
    expect(JSON.stringify(put)).not.toContain('zoe@example.com');
    const minted = await api('POST', '/auth/token', { userId: 'yan', name: 'Yan', email: 'yan@example.com' });
    expect(JSON.stringify(minted)).not.toContain('yan@example.com');
    expect(await t.server.ctx.store.emailRecipient(t.envId, 'yan')).toMatchObject({ email: 'yan@example.com', optOut: false });
    const list = await api('GET', '/api/v1/users?limit=100');
    expect(JSON.stringify(list)).not.toMatch(/@example\.com/);
    // Nor does the widget's directory, nor what a socket receives.
    const { token } = await api('POST', '/auth/token', { userId: 'ann', name: 'Ann' });
    const dirHeaders = { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token };
    for (const q of ['ids=zoe,yan,ann', 'q=y']) {
      const dir = await (await fetch(`${t.url}/api/v1/directory/users?${q}`, { headers: dirHeaders })).text();
      expect(dir).toContain('"name"');
      expect(dir).not.toMatch(/@example\.com/);
    }
    const socket = new RawSocket(t.wsUrl);
    try {
      const ok = await socket.auth(t, 'yan', 'email-privacy');
      expect(JSON.stringify(ok)).not.toMatch(/@example\.com/);
      // Connecting with a token (which has no email) keeps the stored address.
      expect((await t.server.ctx.store.emailRecipient(t.envId, 'yan'))!.email).toBe('yan@example.com');
    } finally {
      socket.close();
    }
    // Updating without an email keeps it; null removes it.
    await api('PUT', '/api/v1/users/zoe', { name: 'Zoe Z' });
    expect((await t.server.ctx.store.emailRecipient(t.envId, 'zoe'))!.email).toBe('zoe@example.com');
    await api('PUT', '/api/v1/users/zoe', { name: 'Zoe', email: null });
    expect((await t.server.ctx.store.emailRecipient(t.envId, 'zoe'))!.email).toBeNull();
  });

  it('sends one email per user per window, batching their notifications by thread, escaped, with a signed unsubscribe', async () => {
    await user('bob');
    const first = await mention('design-review', 'bob', 'Look at <script>alert("x")</script> & tell me');
    const second = await mention('pricing', 'bob', 'Second thread for @bob');
    await api('POST', `/api/v1/threads/${second.id}/comments`, { userId: 'ann', body: 'and a follow-up', mentions: ['bob'] });
    // All three due by now: the address given, they go out together.
    await sleep(DELAY_S * 1000 + 100);
    await user('bob', 'bob@example.com');
    const [mail] = await waitFor(() => (smtp.to('bob@example.com').length ? smtp.to('bob@example.com') : undefined), 8000, "bob's email");
    await sleep(DELAY_S * 1000 + 800);
    expect(smtp.to('bob@example.com')).toHaveLength(1);
    const raw = decodeQuotedPrintable(mail!.raw);
    expect(raw).toMatch(/^Subject: 3 new mentions and replies in 2 threads/m);
    // HTML part escaped; the plain-text part carries the text as written.
    const html = raw.slice(raw.indexOf('Content-Type: text/html'));
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; tell me');
    expect(html).not.toContain('<script>alert');
    expect(raw.slice(0, raw.indexOf('Content-Type: text/html'))).toContain('Look at <script>alert("x")</script> & tell me');
    expect(raw).toContain(`https://app.example.com/rooms/design-review#thread-${first.id}`);
    expect(raw).toContain('and a follow-up');
    // Mentions read as in the widget, with the name.
    expect(raw).toContain('Second thread for @Bob');
    expect(raw).not.toContain('Second thread for @bob');
    expect(raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/m);
    expect(raw).toMatch(/^Auto-Submitted: auto-generated/m);
    // From the headers as sent: quoted-printable decoding would turn a signature starting "=4F…" into "O…".
    const unsubscribe = /^List-Unsubscribe: <([^>]+)>/m.exec(mail!.raw.replace(/\r?\n\s+/g, ' '))![1]!;
    expect(unsubscribe).toContain(`${t.url}/email/unsubscribe?`);

    // The link: GET asks, a tampered signature is refused, the one-click POST unsubscribes.
    const page = await fetch(unsubscribe);
    expect(page.status).toBe(200);
    // Its button unsubscribes: no other site may frame it.
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const envName = (await t.server.ctx.store.getEnvironment(t.envId))!.name;
    const asked = await page.text();
    expect(asked).toContain('<form method="post"');
    expect(asked).toContain(`from <strong>${envName}</strong>`); // which site's emails, for someone on several
    expect((await fetch(unsubscribe.replace(/sig=[^&]+/, 'sig=forged'), { method: 'POST' })).status).toBe(400);
    // As RFC 8058 asks mail clients to post it: multipart/form-data (other bodies: src/email/routes.test.ts).
    const oneClick = new FormData();
    oneClick.set('List-Unsubscribe', 'One-Click');
    const done = await fetch(unsubscribe, { method: 'POST', body: oneClick });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain(`You will no longer get notification emails from <strong>${envName}</strong>.`);
    expect((await t.server.ctx.store.emailRecipient(t.envId, 'bob'))!.optOut).toBe(true);
    await mention('after-unsubscribe', 'bob', 'you will not hear of this');
    await sleep(DELAY_S * 1000 + 1200);
    expect(smtp.to('bob@example.com')).toHaveLength(1);
  }, 30_000);

  it('leaves a notification that has not waited emailDelaySeconds for the next window, where it can still be read in time', async () => {
    // A longer delay here: the late one is 1.5 s from due when the early one goes, however slow the machine.
    await t.server.ctx.environments.updateConfig(t.envId, { emailDelaySeconds: 3 });
    try {
      await user('erin', 'erin@example.com');
      await mention('early', 'erin', 'the early one');
      await sleep(1500);
      await mention('late', 'erin', 'the late one');
      const [first] = await waitFor(() => (smtp.to('erin@example.com').length ? smtp.to('erin@example.com') : undefined), 8000, "erin's email");
      const raw = decodeQuotedPrintable(first!.raw);
      expect(raw).toContain('the early one');
      expect(raw).not.toContain('the late one');
      const mails = await waitFor(() => (smtp.to('erin@example.com').length === 2 ? smtp.to('erin@example.com') : undefined), 10_000, "erin's second email");
      expect(decodeQuotedPrintable(mails[1]!.raw)).toContain('the late one');
    } finally {
      await t.server.ctx.environments.updateConfig(t.envId, { emailDelaySeconds: DELAY_S });
    }
  }, 30_000);

  it('sends nothing for notifications read in time', async () => {
    await user('carol', 'carol@example.com');
    await mention('read-in-time', 'carol', 'quick question');
    await t.server.ctx.collab.markNotificationsRead(t.envId, 'carol', 'all');
    await sleep(DELAY_S * 1000 + 1200);
    expect(smtp.to('carol@example.com')).toHaveLength(0);
  }, 20_000);

  it("lets a signed-in user turn their emails off and on (the widget's setting)", async () => {
    await user('erin', 'erin@example.com');
    const { token } = await api('POST', '/auth/token', { userId: 'erin', name: 'Erin' });
    const path = `${t.url}/api/v1/me/email-notifications`;
    const headers = { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token, 'content-type': 'application/json' };
    expect(await (await fetch(path, { headers })).json()).toEqual({ available: true, hasEmail: true, enabled: true });
    const off = await fetch(path, { method: 'PUT', headers, body: JSON.stringify({ enabled: false }) });
    expect(await off.json()).toEqual({ available: true, hasEmail: true, enabled: false });
    expect((await t.server.ctx.store.emailRecipient(t.envId, 'erin'))!.optOut).toBe(true);
    await fetch(path, { method: 'PUT', headers, body: JSON.stringify({ enabled: true }) });
    expect((await t.server.ctx.store.emailRecipient(t.envId, 'erin'))!.optOut).toBe(false);
    const bad = await fetch(path, { method: 'PUT', headers, body: JSON.stringify({ enabled: 'yes' }) });
    expect(bad.status).toBe(400);
    expect((await fetch(path)).status).toBe(401);
    expect((await fetch(path, { headers: { ...headers, 'x-pulse-token': 'forged' } })).status).toBe(401);
  });

  it('retries an email the SMTP server refused, and sends it once', async () => {
    await user('fay', 'fay@example.com');
    smtp.failing = true;
    await mention('smtp-down', 'fay', 'while the mail server is down');
    await waitFor(() => smtp.refused >= 2, 8000, 'two refused attempts');
    expect(smtp.to('fay@example.com')).toHaveLength(0);
    smtp.failing = false;
    await waitFor(() => smtp.to('fay@example.com').length === 1, 8000, "fay's email after the retry");
    await sleep(1500);
    expect(smtp.to('fay@example.com')).toHaveLength(1);
    expect(decodeQuotedPrintable(smtp.to('fay@example.com')[0]!.raw)).toContain('while the mail server is down');
  }, 30_000);

  it('after an SMTP outage, sends one email per window, not a burst of the batches that waited', async () => {
    await mentionRefused('gil', 'outage-1', 'first while down');
    // Due while the first email waits for its retry: it waits for the window after that email.
    await mention('outage-2', 'gil', 'second while down');
    await sleep(DELAY_S * 1000 + 1500);
    smtp.failing = false;
    await waitFor(() => smtp.to('gil@example.com').length === 2, 10_000, "gil's two emails");
    const [first, second] = smtp.to('gil@example.com');
    expect(decodeQuotedPrintable(first!.raw)).toContain('first while down');
    expect(decodeQuotedPrintable(first!.raw)).not.toContain('second while down');
    expect(decodeQuotedPrintable(second!.raw)).toContain('second while down');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(DELAY_S * 1000 - 100);
  }, 30_000);

  it('emails what was waiting for a retry when the user unsubscribed, once they turn email back on', async () => {
    await mentionRefused('hal', 'retry-opt-out', 'sent while the mail server was down');
    await t.server.ctx.store.setEmailOptOut(t.envId, 'hal', true);
    // The retry comes due while unsubscribed: nothing is sent, and nothing is marked sent.
    await sleep(1500);
    smtp.failing = false;
    await sleep(DELAY_S * 1000 + 500);
    expect(smtp.to('hal@example.com')).toHaveLength(0);
    await t.server.ctx.store.setEmailOptOut(t.envId, 'hal', false);
    await waitFor(() => smtp.to('hal@example.com').length === 1, 8000, "hal's email");
    expect(decodeQuotedPrintable(smtp.to('hal@example.com')[0]!.raw)).toContain('sent while the mail server was down');
  }, 30_000);

  it('never emails a notification twice across a restart', async () => {
    await user('dave', 'dave@example.com');
    await mention('restart', 'dave', 'before the restart');
    await waitFor(() => smtp.to('dave@example.com').length === 1, 8000, "dave's email");
    await t.restart();
    await sleep(DELAY_S * 1000 + 1200);
    expect(smtp.to('dave@example.com')).toHaveLength(1);
    // One that is due after the restart is sent once, by the restarted server.
    await mention('restart-2', 'dave', 'after the restart');
    await waitFor(() => smtp.to('dave@example.com').length === 2, 8000, "dave's second email");
    await sleep(DELAY_S * 1000 + 800);
    expect(smtp.to('dave@example.com')).toHaveLength(2);
  }, 30_000);
});

describe('email notifications from two workers and a slow SMTP server', () => {
  const smtp = new SmtpReceiver();
  let t: TestServer | undefined;
  let other: EmailWorker | undefined;
  afterAll(async () => {
    await other?.close();
    await t?.close();
    await smtp.stop();
  });

  it('keeps the batches whose sending outlasts their lease, so another worker never sends them too', async () => {
    await smtp.start();
    smtp.delayMs = 1200;
    // Three emails in one pass take 3.6 s; the lease is a tenth of a send: only renewing keeps them.
    const settings = { smtpUrl: smtp.url, from: 'Pulse <pulse@example.com>', pollMs: 100, leaseMs: 400 };
    t = await startTestServer('sqlite', { email: settings });
    const { store, environments } = t.server.ctx;
    await environments.updateConfig(t.envId, { emailNotifications: true, emailDelaySeconds: 1 });
    const users = ['u0', 'u1', 'u2'];
    for (const u of ['ann', ...users]) expect((await t.api('PUT', `/api/v1/users/${u}`, { name: u, email: `${u}@example.com` })).status).toBe(200);
    for (const u of users) expect((await t.api('POST', `/api/v1/rooms/slow-${u}/threads`, { userId: 'ann', body: `hello ${u}`, mentions: [u] })).status).toBe(201);
    // Another node's worker on the same database, looking for due batches as often.
    other = new EmailWorker(store, new ConfigCache(store), settings, new UnsubscribeLinks('another node', () => 'http://127.0.0.1'), { warn: () => {} });
    other.start();
    await waitFor(() => users.every((u) => smtp.to(`${u}@example.com`).length > 0), 20_000, 'every email');
    await sleep(3000);
    for (const u of users) expect(smtp.to(`${u}@example.com`), u).toHaveLength(1);
  }, 40_000);
});

describe.skipIf(!postgresAvailable || !redisAvailable)('email notifications in a cluster', () => {
  let cluster: TestCluster | undefined;
  const smtp = new SmtpReceiver();
  afterAll(async () => {
    await cluster?.close();
    await smtp.stop();
  });

  it('emails each notification once although two nodes look for due ones', async () => {
    await smtp.start();
    cluster = await startCluster(2, { PULSE_SMTP_URL: smtp.url, PULSE_EMAIL_FROM: 'Pulse <pulse@example.com>', PULSE_EMAIL_POLL_MS: '100' });
    const [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    const context = await openContext(optionsFromEnv(cluster.env));
    try {
      await context.environments.updateConfig(a.envId, { emailNotifications: true, emailDelaySeconds: 1 });
    } finally {
      await context.store.close();
    }
    await a.api('PUT', '/api/v1/users/ann', { name: 'Ann', email: 'ann@example.com' });
    const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
    for (const u of users) await b.api('PUT', `/api/v1/users/${u}`, { name: u, email: `${u}@example.com` });
    for (const [i, u] of users.entries()) {
      const node = i % 2 ? a : b;
      const r = await node.api('POST', `/api/v1/rooms/cluster-mail-${i}/threads`, { userId: 'ann', body: `hello ${u}`, mentions: [u] });
      expect(r.status).toBe(201);
    }
    await waitFor(() => users.every((u) => smtp.to(`${u}@example.com`).length > 0), 15_000, 'every email');
    await sleep(2500);
    for (const u of users) expect(smtp.to(`${u}@example.com`), u).toHaveLength(1);
  }, 90_000);
});
