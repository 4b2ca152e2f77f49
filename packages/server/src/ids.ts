import { createHash, randomBytes } from 'node:crypto';

/** Server-issued identifiers. Random parts are hex so every id is URL- and shell-safe. */
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export const newEnvironmentId = () => `env_${hex(10)}`;
export const newKeyId = () => `key_${hex(8)}`;
export const newThreadId = () => `thread_${hex(12)}`;
export const newCommentId = () => `comment_${hex(12)}`;
export const newReactionId = () => `reaction_${hex(12)}`;
export const newActivityId = () => `act_${hex(12)}`;
export const newNotificationId = () => `ntf_${hex(12)}`;
export const newStrokeId = () => `stroke_${hex(12)}`;
export const newConnectionId = () => `conn_${hex(8)}`;
export const newAdminId = () => `adm_${hex(8)}`;

/** API keys carry 192 bits of randomness. */
export const newPublishableKey = () => `pk_${hex(24)}`;
export const newSecretKey = () => `sk_${hex(24)}`;
/** What a key is recognised by once only its hash is stored. */
export const keyPrefix = (key: string) => key.slice(0, 11);

/** Keys have 192 random bits, so a fast hash is enough: there is nothing to brute-force. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export const nowIso = () => new Date().toISOString();
