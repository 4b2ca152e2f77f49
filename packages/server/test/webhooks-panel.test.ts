import { webhookDataSchemas } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../src/options.ts';
import { waitFor } from './helpers/clients.ts';
import { WebhookReceiver } from './helpers/receivers.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { PanelClient, signedInAdmin } from './panel-client.ts';

describe('panel API: webhooks', () => {
  let t: TestServer;
  let receiver: WebhookReceiver;
  let admin: PanelClient;
  let member: PanelClient;

  beforeAll(async () => {
    t = await startTestServer('sqlite', { webhooks: optionsFromEnv({ PULSE_WEBHOOKS_ALLOW_PRIVATE: '1', PULSE_WEBHOOKS_RETRY_BASE_MS: '100' }).webhooks! });
    receiver = await new WebhookReceiver().start();
    admin = await signedInAdmin(t, 'admin@example.com', 'admin');
    member = await signedInAdmin(t, 'member@example.com', 'member');
  });
  afterAll(async () => {
    await receiver?.stop();
    await t?.close();
  });

  it('lets Admins manage endpoints, shows deliveries, and audits every change', async () => {
    const base = `/environments/${t.envId}/webhooks`;
    const created = await admin.post(base, { url: receiver.url, description: 'Orders service', events: ['comment.created'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    expect(created.body.webhook).toMatchObject({ url: receiver.url, description: 'Orders service', events: ['comment.created'], enabled: true });
    expect(created.body.webhook.secret).toBeUndefined();
    const id = created.body.webhook.id as string;
    receiver.secret = created.body.secret;

    // An action takes no fields: one sent is refused, like an unknown field anywhere else.
    const stray = await admin.post(`${base}/${id}/test`, { foo: 1 });
    expect(stray.status).toBe(400);
    expect(stray.body.error).toMatchObject({ code: 'validation_failed', message: 'body: unknown field "foo"' });
    const test = await admin.post(`${base}/${id}/test`, {});
    expect(test.status).toBe(202);
    await waitFor(() => receiver.ofType('webhook.test').length === 1, 5000, 'the test event');
    expect(webhookDataSchemas['webhook.test'].safeParse(receiver.ofType('webhook.test')[0]!.payload.data).success).toBe(true);
    // An example event of a type asked for; the audit log says which.
    const example = await admin.post(`${base}/${id}/test`, { type: 'reaction.added' });
    expect(example.status, JSON.stringify(example.body)).toBe(202);
    expect(example.body.delivery).toMatchObject({ eventType: 'reaction.added' });
    await waitFor(() => receiver.ofType('reaction.added').length === 1, 5000, 'the example event');
    expect((await admin.post(`${base}/${id}/test`, { type: 'webhook.nope' })).body.error).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('type') });
    const shown = await waitFor(async () => {
      const r = await member.get(`${base}/${id}`);
      return r.body.deliveries.every((d: { status: string }) => d.status === 'succeeded') && r.body;
    }, 5000, 'the deliveries recorded');
    // Newest first: the example, then the test event.
    expect(shown.deliveries.map((d: { eventType: string }) => d.eventType)).toEqual(['reaction.added', 'webhook.test']);
    shown.deliveries.shift();
    expect(shown.deliveries[0]).toMatchObject({ eventType: 'webhook.test', attempts: 1, lastStatusCode: 204 });
    expect(JSON.stringify(shown)).not.toContain(created.body.secret);

    // A delivery is resent through its own endpoint only.
    const other = await admin.post(base, { url: `${receiver.url}?other`, events: ['comment.created'] });
    const elsewhere = await admin.post(`${base}/${other.body.webhook.id}/deliveries/${shown.deliveries[0].id}/resend`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.error.code).toBe('not_found');
    expect((await admin.delete(`${base}/${other.body.webhook.id}`)).status).toBe(204);
    const resent = await admin.post(`${base}/${id}/deliveries/${shown.deliveries[0].id}/resend`);
    expect(resent.status).toBe(202);
    await waitFor(() => receiver.ofType('webhook.test').length === 2, 5000, 'the resent event');
    expect(receiver.ofType('webhook.test')[1]!.id).toBe(receiver.ofType('webhook.test')[0]!.id);

    const empty = await admin.patch(`${base}/${id}`, {});
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/nothing to change/);
    const patched = await admin.patch(`${base}/${id}`, { enabled: false, events: [] });
    expect(patched.body.webhook).toMatchObject({ enabled: false, events: [] });
    // A disabled endpoint gets no test event and no resend (they would never be sent).
    const refused = await admin.post(`${base}/${id}/test`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'endpoint_disabled', message: expect.stringMatching(/is disabled: enable it/) });
    const notResent = await admin.post(`${base}/${id}/deliveries/${shown.deliveries[0].id}/resend`);
    expect(notResent.status).toBe(409);
    expect(notResent.body.error.code).toBe('endpoint_disabled');
    const recovered = await admin.post(`${base}/${id}/recover`, { since: new Date(Date.now() - 3600_000).toISOString() });
    expect(recovered.status).toBe(202);
    expect(recovered.body).toMatchObject({ recovered: expect.any(Number), since: expect.any(String) });
    const today = new Date().toISOString().slice(0, 10);
    const byDate = await admin.post(`${base}/${id}/recover`, { since: today });
    expect(byDate.status).toBe(202);
    expect(byDate.body.since).toBe(`${today}T00:00:00.000Z`);
    const badSince = await admin.post(`${base}/${id}/recover`, { since: 'last week' });
    expect(badSince.status).toBe(400);
    expect(badSince.body.error.code).toBe('validation_failed');
    const rotated = await admin.post(`${base}/${id}/rotate-secret`);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    // After a leak: the previous secret stops at once, and the audit log says so.
    expect((await admin.post(`${base}/${id}/rotate-secret`, { expirePrevious: true })).body.webhook.previousSecretExpiresAt).toBeNull();
    const rotations = (await admin.get(`/environments/${t.envId}/audit`)).body.items.filter((e: { action: string }) => e.action === 'webhook.secret_rotated');
    expect(rotations.map((e: { detail: string }) => e.detail.replace(/.*; /, '').replace(/until \S+/, 'until …'))).toEqual([
      'the previous secret stopped signing at once',
      'the previous secret signs until …',
    ]);

    // Members read, never change.
    expect((await member.get(base)).body.webhooks).toHaveLength(1);
    for (const [method, path, body] of [
      ['POST', base, { url: receiver.url }],
      ['PATCH', `${base}/${id}`, { enabled: true }],
      ['DELETE', `${base}/${id}`, undefined],
      ['POST', `${base}/${id}/rotate-secret`, undefined],
      ['POST', `${base}/${id}/test`, undefined],
      ['POST', `${base}/${id}/recover`, { since: new Date().toISOString() }],
    ] as const) {
      const r = await member.request(method, `/panel/api${path}`, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
    }
    // No session: 401; no CSRF token: 403.
    const anonymous = new PanelClient(t.url);
    expect((await anonymous.get(base)).status).toBe(401);
    const noCsrf = await admin.post(base, { url: receiver.url }, { csrf: false });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.error.code).toBe('csrf_failed');
    // Bad input: a clear error.
    const bad = await admin.post(base, { url: 'gopher://example.com' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/^url: /) });
    // A secret of your own must be one (base64 of 24 bytes or more): 'mine' is not.
    expect((await admin.post(base, { url: receiver.url, secret: 'mine' })).body.error).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/^secret: must be whsec_/) });
    // Line breaks, escapes and bidirectional overrides would forge lines of the audit log and of the CLI's output.
    for (const body of [{ url: `${receiver.url}\n2026-12-06 webhook.deleted` }, { url: `${receiver.url}\u202e` }, { url: receiver.url, description: 'd\u001b[31m' }]) {
      const refused = await admin.post(base, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/^(url|description): must not contain control characters/) });
    }
    expect((await admin.get(`${base}/wh_nope`)).status).toBe(404);
    expect((await admin.get(`/environments/env_nope/webhooks`)).status).toBe(404);

    expect((await admin.delete(`${base}/${id}`)).status).toBe(204);
    const audit = await admin.get(`/environments/${t.envId}/audit`);
    const actions = JSON.stringify(audit.body);
    for (const action of ['webhook.created', 'webhook.test_sent', 'webhook.resent', 'webhook.updated', 'webhook.secret_rotated', 'webhook.deleted']) {
      expect(actions).toContain(action);
    }
    expect(actions).toContain(`${id}: an example reaction.added`);
  });
});
