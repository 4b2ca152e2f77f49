import { z } from 'zod';
import { commentSchema, reactionSchema, roomSchema, threadSchema, threadWithCommentsSchema } from './models.ts';
import { notificationKindSchema } from './realtime-models.ts';

/**
 * Webhooks: the events Pulse sends, their payloads, the endpoint settings and the delivery
 * policy. Payloads follow the Standard Webhooks shape `{ type, timestamp, data }`; the
 * `webhook-id` header is the event's id and stays the same on every attempt.
 */

export const WEBHOOK_EVENT_TYPES = [
  'thread.created',
  'thread.resolved',
  'thread.reopened',
  'thread.deleted',
  'comment.created',
  'comment.edited',
  'comment.deleted',
  'reaction.added',
  'reaction.removed',
  'notification.created',
  'room.created',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);
export const isWebhookEventType = (value: string): value is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);

/** Who caused the event: a user (through a token), your backend (secret key), a panel admin, or nobody known. */
export const webhookActorSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('user'), userId: z.string() }),
  z.object({ type: z.literal('backend') }),
  z.object({ type: z.literal('admin'), adminId: z.string() }),
  z.object({ type: z.literal('system') }),
]);
export type WebhookActor = z.infer<typeof webhookActorSchema>;

const base = { environmentId: z.string(), roomId: z.string(), actor: webhookActorSchema };
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

/** The `data` of each event type: ids, the room, the actor and the object as the REST API returns it. */
export const webhookDataSchemas = {
  'thread.created': z.object({ ...base, threadId: z.string(), thread: threadWithCommentsSchema }),
  'thread.resolved': z.object({ ...base, threadId: z.string(), thread: threadSchema }),
  'thread.reopened': z.object({ ...base, threadId: z.string(), thread: threadSchema }),
  'thread.deleted': z.object({ ...base, threadId: z.string(), thread: threadSchema }),
  'comment.created': z.object({ ...base, threadId: z.string(), commentId: z.string(), comment: commentSchema }),
  'comment.edited': z.object({ ...base, threadId: z.string(), commentId: z.string(), comment: commentSchema }),
  'comment.deleted': z.object({ ...base, threadId: z.string(), commentId: z.string(), threadDeleted: z.boolean(), comment: commentSchema }),
  'reaction.added': z.object({ ...base, commentId: z.string(), reactionId: z.string(), reaction: reactionSchema }),
  'reaction.removed': z.object({ ...base, commentId: z.string(), reactionId: z.string(), reaction: reactionSchema }),
  'notification.created': z.object({
    ...base,
    threadId: z.string(),
    commentId: z.string(),
    notificationId: z.string(),
    /** The external id of the user the notification is for. */
    recipientId: z.string(),
    notification: webhookNotificationSchema,
  }),
  'room.created': z.object({ ...base, room: roomSchema }),
} satisfies Record<WebhookEventType, z.ZodType>;

export type WebhookData<T extends WebhookEventType = WebhookEventType> = z.infer<(typeof webhookDataSchemas)[T]>;

/** The JSON body of every delivery. `timestamp` is when the event happened. */
export interface WebhookPayload<T extends WebhookEventType = WebhookEventType> {
  type: T;
  timestamp: string;
  data: WebhookData<T>;
}

/** A test delivery ("send test event"): not one of the subscribable types. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';

/** JSON Schema of one event type's body, for receivers that validate (Draft 2020-12). */
export function webhookPayloadJsonSchema(type: WebhookEventType): Record<string, unknown> {
  const schema = z.object({ type: z.literal(type), timestamp: z.string(), data: webhookDataSchemas[type] });
  return z.toJSONSchema(schema) as Record<string, unknown>;
}

// ---- Endpoints ----

export const WEBHOOK_LIMITS = {
  endpointsPerEnvironment: 20,
  urlChars: 2048,
  descriptionChars: 500,
} as const;

export const webhookUrlSchema = z
  .string()
  .max(WEBHOOK_LIMITS.urlChars)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL without credentials');

/** The event filter: a list of types, or empty for every type. */
export const webhookEventsSchema = z.array(webhookEventTypeSchema).max(WEBHOOK_EVENT_TYPES.length);

export const createWebhookBody = z
  .object({
    url: webhookUrlSchema,
    description: z.string().max(WEBHOOK_LIMITS.descriptionChars).optional(),
    events: webhookEventsSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export type CreateWebhookBody = z.infer<typeof createWebhookBody>;

export const patchWebhookBody = z
  .object({
    url: webhookUrlSchema.optional(),
    description: z.string().max(WEBHOOK_LIMITS.descriptionChars).optional(),
    events: webhookEventsSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export type PatchWebhookBody = z.infer<typeof patchWebhookBody>;

/** An endpoint as the panel and the CLI show it (the secret only once, at creation or rotation). */
export interface WebhookEndpointInfo {
  id: string;
  environmentId: string;
  url: string;
  description: string;
  /** Empty: every event type. */
  events: WebhookEventType[];
  enabled: boolean;
  /** Why Pulse turned the endpoint off (it kept failing), or null. */
  disabledReason: string | null;
  /** Since when every delivery has failed, or null while it works. */
  failingSince: string | null;
  /** The first characters of the secret, to tell secrets apart. */
  secretPrefix: string;
  createdAt: string;
  updatedAt: string;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveryInfo {
  id: string;
  endpointId: string;
  /** The event's id: the `webhook-id` header. */
  eventId: string;
  eventType: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  /** The start of the receiver's last response body. */
  lastResponse: string | null;
  createdAt: string;
  updatedAt: string;
}

// ---- Delivery policy ----

export const WEBHOOK_POLICY = {
  /** A request that has not answered within this time has failed. */
  timeoutMs: 10_000,
  /** Requests in flight to one endpoint at once, per node. */
  concurrencyPerEndpoint: 4,
  /** First retry delay; each further one is 4× longer (±25% jitter), up to `maxRetryDelayMs`. */
  firstRetryDelayMs: 30_000,
  maxRetryDelayMs: 6 * 3600_000,
  /** No attempt starts later than this after the event: the delivery is then failed. */
  retryWindowMs: 24 * 3600_000,
  /** An endpoint whose every delivery has failed for this long is disabled. */
  disableAfterFailingMs: 5 * 24 * 3600_000,
  /** Bytes of a response body kept for the panel. */
  responseBodyChars: 1024,
  /** Redirects followed (each target checked like the first URL). */
  maxRedirects: 3,
  /** Deliveries (and events) older than this are removed. */
  retentionMs: 30 * 24 * 3600_000,
} as const;

/** Environment variable that lets webhooks reach loopback and private addresses (tests, local development). */
export const WEBHOOKS_ALLOW_PRIVATE_ENV = 'PULSE_WEBHOOKS_ALLOW_PRIVATE';
/** Test hook: shortens the first retry delay (milliseconds). Not meant for production. */
export const WEBHOOKS_RETRY_BASE_ENV = 'PULSE_WEBHOOKS_RETRY_BASE_MS';
