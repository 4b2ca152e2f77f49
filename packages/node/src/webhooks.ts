import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookPayloadType, webhookDataSchemas } from '@pulse/protocol';
import type { z } from 'zod';

/** A verified webhook event: `type`, `timestamp` and the `data` documented for that type. */
export type PulseWebhookEvent = {
  [T in WebhookPayloadType]: { type: T; timestamp: string; data: z.output<(typeof webhookDataSchemas)[T]> };
}[WebhookPayloadType];

/** Request headers as Node's `req.headers` or a Fetch `Headers` object holds them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way (replays, clock skew). Default 300 s, as Standard Webhooks. */
  toleranceSeconds?: number;
  /** The current time in ms (tests). */
  now?: number;
}

/** The delivery is not from Pulse, or not as sent: answer it with 401 (it is not retried as a success would be). */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

/**
 * Checks a webhook delivery's signature (Standard Webhooks: HMAC-SHA256 of `id.timestamp.body`
 * under the `whsec_` secret) and its timestamp, and returns the parsed event. `body` must be the
 * raw body as received (parsing and re-serialising JSON changes it). Pass both secrets while you
 * roll out a rotated one. Throws `WebhookVerificationError` otherwise.
 */
export function verifyWebhook(secret: string | string[], body: string | Uint8Array, headers: WebhookHeaders, options: VerifyWebhookOptions = {}): PulseWebhookEvent {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
  const tolerance = options.toleranceSeconds ?? 300;
  const skew = Math.abs((options.now ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > tolerance) throw new WebhookVerificationError(`webhook-timestamp is ${Math.round(skew)} s away from now (more than ${tolerance} s): a replay, or a wrong clock`);
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  const given = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const valid = [secret]
    .flat()
    .map((s) => createHmac('sha256', secretBytes(s)).update(`${id}.${timestamp}.${text}`).digest())
    .some((expected) => given.some((g) => g.length === expected.length && timingSafeEqual(g, expected)));
  if (!valid) throw new WebhookVerificationError('no valid signature: wrong secret, or the body is not the one that was signed');
  try {
    return JSON.parse(text) as PulseWebhookEvent;
  } catch {
    throw new WebhookVerificationError('the body is not JSON');
  }
}

function secretBytes(secret: string): Buffer {
  const bytes = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  if (bytes.length === 0) throw new WebhookVerificationError('the secret is empty: pass the whsec_… secret of the endpoint');
  return bytes;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  const value = headers instanceof Headers ? headers.get(name) : headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? undefined;
}
