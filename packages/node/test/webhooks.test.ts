import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../../server/src/options.ts';
import { startTestServer, type TestServer } from '../../server/test/helpers/server.ts';
import { waitFor } from '../../server/test/helpers/clients.ts';
import { verifyWebhook, WebhookVerificationError, type PulseWebhookEvent } from '../src/index.ts';

const SECRET = `whsec_${Buffer.from('a 32-byte secret for these tests').toString('base64')}`;
const OTHER = `whsec_${Buffer.from('another secret, after a rotation').toString('base64')}`;

/** A delivery signed by the reference Standard Webhooks library. */
function signed(body: string, secret = SECRET, at = new Date()) {
  const id = 'msg_0123456789abcdef01234567';
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) };
}

describe('verifyWebhook', () => {
  const body = JSON.stringify({ type: 'comment.created', timestamp: '2026-12-05T10:00:00.000Z', data: { commentId: 'c1' } });

  it('accepts what Standard Webhooks signs, from Node headers or a Headers object', () => {
    const headers = signed(body);
    expect(verifyWebhook(SECRET, body, headers)).toMatchObject({ type: 'comment.created', data: { commentId: 'c1' } });
    expect(verifyWebhook(SECRET, Buffer.from(body), new Headers(headers)).type).toBe('comment.created');
    // Header names in any case, as some platforms hand them over.
    const capitalised = { 'Webhook-Id': headers['webhook-id'], 'Webhook-Timestamp': headers['webhook-timestamp'], 'Webhook-Signature': headers['webhook-signature'] };
    expect(verifyWebhook(SECRET, body, capitalised).type).toBe('comment.created');
    // An empty secret is a setup mistake, not a forged delivery.
    expect(() => verifyWebhook('whsec_', body, headers)).toThrow(TypeError);
    // So is a missing one, checked before the delivery (an unset variable fails every request alike).
    expect(() => verifyWebhook(process.env.PULSE_UNSET_SECRET as string, body, {})).toThrow(/undefined \(an unset environment variable\?\)/);
    expect(() => verifyWebhook([], body, headers)).toThrow(TypeError);
  });

  it('types the flag of an example event', () => {
    const example = JSON.stringify({ type: 'comment.created', timestamp: '2026-12-05T10:00:00.000Z', example: true, data: { commentId: 'comment_example' } });
    const flag: true | undefined = verifyWebhook(SECRET, example, signed(example)).example;
    expect(flag).toBe(true);
    expect(verifyWebhook(SECRET, body, signed(body)).example).toBeUndefined();
  });

  it('accepts either of two signatures (a rotation) and either of two secrets', () => {
    const headers = signed(body, OTHER);
    const both = { ...headers, 'webhook-signature': `${signed(body, SECRET)['webhook-signature']} ${headers['webhook-signature']}` };
    expect(verifyWebhook(OTHER, body, both).type).toBe('comment.created');
    expect(verifyWebhook([SECRET, OTHER], body, headers).type).toBe('comment.created');
  });

  it('refuses a changed body, a wrong secret, an old timestamp and missing headers', () => {
    const headers = signed(body);
    const refused = (fn: () => unknown, message: RegExp) => expect(fn).toThrow(expect.objectContaining({ name: 'WebhookVerificationError', message: expect.stringMatching(message) }));
    refused(() => verifyWebhook(SECRET, body.replace('c1', 'c2'), headers), /no valid signature/);
    refused(() => verifyWebhook(OTHER, body, headers), /no valid signature/);
    refused(() => verifyWebhook(SECRET, body, signed(body, SECRET, new Date(Date.now() - 301_000))), /more than 300 s/);
    refused(() => verifyWebhook(SECRET, body, { ...headers, 'webhook-id': 'msg_other' }), /no valid signature/);
    refused(() => verifyWebhook(SECRET, body, { 'webhook-id': headers['webhook-id'] }), /missing/);
    refused(() => verifyWebhook(SECRET, body, { ...headers, 'webhook-timestamp': 'soon' }), /not a number/);
    expect(() => verifyWebhook(SECRET, body, headers, { now: Date.now() + 600_000, toleranceSeconds: 900 })).not.toThrow();
    expect(new WebhookVerificationError('x')).toBeInstanceOf(Error);
  });
});

describe('verifyWebhook against a running Pulse', () => {
  let t: TestServer;
  let receiver: Server;
  const events: PulseWebhookEvent[] = [];
  let secret = '';

  beforeAll(async () => {
    // The receiver is on loopback, which webhooks may reach only with PULSE_WEBHOOKS_ALLOW_PRIVATE=1.
    t = await startTestServer('sqlite', { webhooks: optionsFromEnv({ PULSE_WEBHOOKS_ALLOW_PRIVATE: '1' }).webhooks! });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        try {
          events.push(verifyWebhook(secret, Buffer.concat(chunks), req.headers));
          res.writeHead(204).end();
        } catch {
          res.writeHead(401).end();
        }
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
    await t?.close();
  });

  it('verifies real deliveries and types their data', async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    ({ secret } = await t.server.ctx.webhooks.add(t.envId, { url, events: ['thread.created'] }));
    await t.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const created = (await t.api('POST', '/api/v1/rooms/verified/threads', { userId: 'ann', body: 'signed and checked' })).body.thread;
    await waitFor(() => events.length === 1, 5000, 'the delivery');
    const event = events[0]!;
    if (event.type !== 'thread.created') throw new Error(`unexpected ${event.type}`);
    expect(event.data.thread.id).toBe(created.id);
    expect(event.data.thread.comments[0]!.body).toBe('signed and checked');
  });
});
