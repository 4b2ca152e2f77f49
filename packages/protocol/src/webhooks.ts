import { z } from 'zod';
import { hasBidiControls, isUnstorableText } from './fields.ts';
import { commentSchema, reactionSchema, roomSchema, threadSchema, threadWithCommentsSchema } from './models.ts';
import { notificationKindSchema } from './realtime-models.ts';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_LIMITS, WEBHOOK_TEST_EVENT, type WebhookEventType } from './webhook-events.ts';

export * from './webhook-events.ts';

/**
 * Webhooks: the events Pulse sends, their payloads, the endpoint settings and the delivery
 * policy. Payloads follow the Standard Webhooks shape `{ type, timestamp, data }`; the
 * `webhook-id` header is the event's id and stays the same on every attempt.
 */

export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);

/** Who caused the event: a user (through a token), your backend (secret key), a panel admin, or nobody known. */
export const webhookActorSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('user'), userId: z.string() }),
  z.object({ type: z.literal('backend') }),
  z.object({ type: z.literal('admin'), adminId: z.string() }),
  z.object({ type: z.literal('system') }),
]);
export type WebhookActor = z.infer<typeof webhookActorSchema>;

const base = { environmentId: z.string(), roomId: z.string(), actor: webhookActorSchema };
/** Events no one caused: Pulse noticed something (a notification left unread, a room made, state kept). */
const systemBase = { ...base, actor: z.object({ type: z.literal('system') }) };
const webhookNotificationSchema = z.object({
  id: z.string(),
  kind: notificationKindSchema,
  roomId: z.string(),
  threadId: z.string(),
  commentId: z.string(),
  actorId: z.string(),
  preview: z.string(),
  createdAt: z.string(),
  read: z.boolean(),
});

const notificationEventSchema = z.object({
  ...base,
  threadId: z.string(),
  commentId: z.string(),
  notificationId: z.string(),
  /** The external id of the user the notification is for. */
  recipientId: z.string(),
  notification: webhookNotificationSchema,
});

/**
 * The `data` of each event type: ids, the room, the actor and the object as the REST API returns
 * it; and of the test event. Objects accept fields they do not name: Pulse may add some.
 */
export const webhookDataSchemas = {
  'thread.created': z.object({ ...base, threadId: z.string(), thread: threadWithCommentsSchema }),
  'thread.resolved': z.object({ ...base, threadId: z.string(), thread: threadSchema }),
  'thread.reopened': z.object({ ...base, threadId: z.string(), thread: threadSchema }),
  'thread.deleted': z.object({ ...base, threadId: z.string(), thread: threadSchema }),
  'comment.created': z.object({ ...base, threadId: z.string(), commentId: z.string(), comment: commentSchema }),
  'comment.edited': z.object({ ...base, threadId: z.string(), commentId: z.string(), comment: commentSchema }),
  'comment.deleted': z.object({ ...base, threadId: z.string(), commentId: z.string(), threadDeleted: z.boolean(), comment: commentSchema }),
  'reaction.added': z.object({ ...base, threadId: z.string(), commentId: z.string(), reactionId: z.string(), reaction: reactionSchema }),
  'reaction.removed': z.object({ ...base, threadId: z.string(), commentId: z.string(), reactionId: z.string(), reaction: reactionSchema }),
  'notification.created': notificationEventSchema,
  /** The notification was still unread `emailDelaySeconds` after it was made (once per notification). */
  'notification.unread': notificationEventSchema.extend({ actor: systemBase.actor }),
  'room.created': z.object({ ...systemBase, room: roomSchema }),
  /** At most once per `p2pPersistIntervalMs` per room (and node): the objects themselves are at `GET /api/v1/rooms/:roomId/shared`. */
  'p2p.state.persisted': z.object({
    ...systemBase,
    sharedState: z.object({ roomId: z.string(), bytes: z.number().int(), version: z.number().int(), updatedAt: z.string(), expiresAt: z.string() }),
  }),
  /** "Send test event": not about any room, nobody in particular caused it. */
  [WEBHOOK_TEST_EVENT]: z.object({ environmentId: z.string(), endpointId: z.string(), message: z.string() }),
} satisfies Record<WebhookEventType | typeof WEBHOOK_TEST_EVENT, z.ZodType>;

/** Every `type` a delivery may carry: the subscribable event types and the test event. */
export type WebhookPayloadType = keyof typeof webhookDataSchemas;

export type WebhookData<T extends WebhookPayloadType = WebhookEventType> = z.infer<(typeof webhookDataSchemas)[T]>;

/** The JSON body of every delivery. `timestamp` is when the event happened. */
export interface WebhookPayload<T extends WebhookPayloadType = WebhookEventType> {
  type: T;
  timestamp: string;
  /** Only on an example event (sent on request, with made-up data; see `webhookExampleData`). */
  example?: true;
  data: WebhookData<T>;
}


/**
 * JSON Schema of one event type's body, for receivers that validate (Draft 2020-12). No object in
 * it refuses properties it does not name: Pulse may add fields. An event type this version does
 * not know throws a RangeError naming it (newer servers may send new types: ignore those).
 */
export function webhookPayloadJsonSchema(type: WebhookPayloadType): Record<string, unknown> {
  if (!Object.hasOwn(webhookDataSchemas, type)) {
    throw new RangeError(`Unknown webhook event type ${JSON.stringify(type)}: this version of @pulse/protocol knows ${Object.keys(webhookDataSchemas).join(', ')}`);
  }
  const schema = z.object({ type: z.literal(type), timestamp: z.string(), example: z.literal(true).optional(), data: webhookDataSchemas[type] });
  return allowAdditions(z.toJSONSchema(schema)) as Record<string, unknown>;
}

/** Drops every `additionalProperties: false` (some shared shapes are strict where they are inputs). */
function allowAdditions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowAdditions);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) if (!(key === 'additionalProperties' && value === false)) out[key] = allowAdditions(value);
  return out;
}

// ---- Endpoints ----

export const webhookUrlSchema = z
  .string()
  .max(WEBHOOK_LIMITS.urlChars)
  // A URL parser drops tabs and line breaks, so they would be stored as typed and shown raw.
  .refine((value) => !isUnstorableText(value) && !hasBidiControls(value), 'must not contain control characters, bidirectional overrides or broken Unicode')
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL without credentials');

const webhookDescriptionSchema = z
  .string()
  .max(WEBHOOK_LIMITS.descriptionChars)
  .refine((value) => !isUnstorableText(value), 'must not contain control characters or broken Unicode');

/** What a signing secret starts with (Standard Webhooks); the base64 of its key bytes follows. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The base64 of a secret's key bytes: without its prefix. */
export const webhookSecretKey = (secret: string) => (secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret);

/**
 * A signing secret of your own (one a receiver already verifies with, e.g. moved over from Svix):
 * base64 of 24 to 64 bytes, `whsec_` in front or not (Pulse adds it).
 */
export const webhookSecretSchema = z
  .string()
  .refine((value) => {
    const b64 = webhookSecretKey(value);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return false;
    const bytes = (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
    return bytes >= WEBHOOK_LIMITS.secretMinBytes && bytes <= WEBHOOK_LIMITS.secretMaxBytes;
  }, `must be whsec_ followed by the base64 of ${WEBHOOK_LIMITS.secretMinBytes} to ${WEBHOOK_LIMITS.secretMaxBytes} random bytes`);

/** The event filter: a list of types, or empty for every type. */
export const webhookEventsSchema = z.array(webhookEventTypeSchema).max(WEBHOOK_EVENT_TYPES.length);

export const createWebhookBody = z
  .object({
    url: webhookUrlSchema,
    description: webhookDescriptionSchema.optional(),
    events: webhookEventsSchema.optional(),
    enabled: z.boolean().optional(),
    secret: webhookSecretSchema.optional(),
  })
  .strict();
export type CreateWebhookBody = z.infer<typeof createWebhookBody>;

export const patchWebhookBody = z
  .object({
    url: webhookUrlSchema.optional(),
    description: webhookDescriptionSchema.optional(),
    events: webhookEventsSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .refine((patch) => Object.keys(patch).length > 0, 'nothing to change: send at least one of url, description, events, enabled');
export type PatchWebhookBody = z.infer<typeof patchWebhookBody>;

/**
 * Rotating a secret (to a new random one, or to `secret`): the previous one keeps signing beside
 * the new one for `WEBHOOK_POLICY.secretOverlapMs`, unless `expirePrevious` (a leaked secret) ends it at once.
 */
export const rotateWebhookSecretBody = z.object({ expirePrevious: z.boolean().optional(), secret: webhookSecretSchema.optional() }).strict();
export type RotateWebhookSecretBody = z.infer<typeof rotateWebhookSecretBody>;

/**
 * Recovering: the events since `since` (within `WEBHOOK_POLICY.retentionMs`) that the endpoint
 * never had. `since` is an ISO 8601 time with its offset, or a date alone (its start in UTC).
 */
/** "Send test event": `webhook.test` (the default), or an example of one event type (`webhookExampleData`). */
export const sendTestWebhookBody = z
  .object({ type: z.enum([WEBHOOK_TEST_EVENT, ...WEBHOOK_EVENT_TYPES]).optional() })
  .strict();
export type SendTestWebhookBody = z.infer<typeof sendTestWebhookBody>;

export const recoverWebhookBody = z.object({ since: z.union([z.iso.datetime({ offset: true }), z.iso.date()], 'an ISO 8601 time (2026-12-01T09:00:00Z) or date (2026-12-01)') }).strict();
export type RecoverWebhookBody = z.infer<typeof recoverWebhookBody>;
