import { createHmac } from 'node:crypto';
import { webhookSecretKey } from '@pulse/protocol';

/**
 * Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body` with the secret's bytes
 * (the base64 after `whsec_`), sent as `v1,<base64>` in `webhook-signature`.
 */
export function signWebhook(secret: string, id: string, timestampS: number, body: string): string {
  const key = Buffer.from(webhookSecretKey(secret), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64')}`;
}

/**
 * The three headers of a signed delivery. The timestamp is the attempt's (receivers reject old
 * ones), the id the event's. Several secrets (the new and the previous one, after a rotation) give
 * space-separated signatures, any of which verifies.
 */
export function webhookHeaders(secrets: string[], id: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((secret) => signWebhook(secret, id, timestamp, body)).join(' '),
  };
}
