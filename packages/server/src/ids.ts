import { createHash, randomBytes } from 'node:crypto';

/**
 * Server-issued identifiers. Random parts are hex so every id is URL- and shell-safe. Random
 * bytes are drawn from a pool refilled 4 KB at a time: a comment takes several ids, and one
 * system call per id showed in profiles.
 */
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let offset = 0;
const hex = (bytes: number) => {
  if (offset + bytes > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const out = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return out;
};

/**
 * Time first, then randomness: rows written together sit together in their tables' b-trees, so a
 * commit writes a few pages instead of one per row. For ids that are not secrets.
 */
const timeOrdered = (randomBytes: number) => Date.now().toString(16).padStart(12, '0') + hex(randomBytes);

export const newEnvironmentId = () => `env_${hex(10)}`;
export const newKeyId = () => `key_${hex(8)}`;
export const newThreadId = () => `thread_${timeOrdered(6)}`;
export const newCommentId = () => `comment_${timeOrdered(6)}`;
export const newReactionId = () => `reaction_${timeOrdered(6)}`;
export const newActivityId = () => `act_${timeOrdered(6)}`;
export const newNotificationId = () => `ntf_${timeOrdered(6)}`;
export const newStrokeId = () => `stroke_${timeOrdered(6)}`;
export const newConnectionId = () => `conn_${hex(8)}`;
export const newAdminId = () => `adm_${hex(8)}`;
/** The event id is what receivers see as `webhook-id` (Standard Webhooks' `msg_` prefix). */
export const newWebhookEventId = () => `msg_${timeOrdered(6)}`;
export const newWebhookDeliveryId = () => `whd_${timeOrdered(6)}`;
export const newWebhookEndpointId = () => `wh_${hex(8)}`;

/** API keys carry 192 bits of randomness. */
export const newPublishableKey = () => `pk_${hex(24)}`;
export const newSecretKey = () => `sk_${hex(24)}`;
/** What a key is recognised by once only its hash is stored. */
export const keyPrefix = (key: string) => key.slice(0, 11);

/** Keys have 192 random bits, so a fast hash is enough: there is nothing to brute-force. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export const nowIso = () => new Date().toISOString();
