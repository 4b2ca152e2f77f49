import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookPayloadType, webhookDataSchemas } from '@pulse/protocol';
import type { z } from 'zod';

/** A verified webhook event: `type`, `timestamp` and the `data` documented for that type. */
export type PulseWebhookEvent = {
  /** `example`: an example event, with made-up data (sent on request; see docs/webhooks.md). */
  [T in WebhookPayloadType]: { type: T; timestamp: string; example?: true; data: z.output<(typeof webhookDataSchemas)[T]> };
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
  // The secrets first: a missing one (an unset environment variable) is the caller's mistake on every delivery.
  const keys = [secret].flat().map(secretBytes);
  if (keys.length === 0) throw new TypeError('verifyWebhook: no secret given; pass the whsec_… secret of the endpoint');
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
  const tolerance = options.toleranceSeconds ?? 300;
  const skew = Math.abs((options.now ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > tolerance) throw new WebhookVerificationError(`webhook-timestamp is ${Math.round(skew)} s away from now (more than ${tolerance} s): a replay, or a wrong clock`);
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const given = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  // Over the bytes as received (decoding and re-encoding could change them).
  const valid = keys
    .map((key) => createHmac('sha256', key).update(`${id}.${timestamp}.`).update(raw).digest())
    .some((expected) => given.some((g) => g.length === expected.length && timingSafeEqual(g, expected)));
  if (!valid) throw new WebhookVerificationError('no valid signature: wrong secret, or the body is not the one that was signed');
  try {
    return JSON.parse(raw.toString('utf8')) as PulseWebhookEvent;
  } catch {
    throw new WebhookVerificationError('the body is not JSON');
  }
}

/** A setup mistake, not a bad delivery: a TypeError, so it is not answered as a forgery. */
function secretBytes(secret: unknown): Buffer {
  if (typeof secret !== 'string') throw new TypeError(`verifyWebhook: the secret is ${secret === undefined ? 'undefined (an unset environment variable?)' : `a ${typeof secret}`}; pass the whsec_… secret of the endpoint`);
  const bytes = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  if (bytes.length === 0) throw new TypeError('verifyWebhook: the secret is empty; pass the whsec_… secret of the endpoint');
  return bytes;
}

/** Header names are case-insensitive (`Webhook-Id` from some platforms' plain objects too). */
function header(headers: WebhookHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  return (Array.isArray(value) ? value[0] : value) ?? undefined;
}
