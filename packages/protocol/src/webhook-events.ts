/**
 * Webhook event names, endpoint and delivery shapes, and the delivery policy: plain values and
 * types without zod, so the panel can import them (through `@pulse/protocol/lite`).
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
  'notification.unread',
  'room.created',
  'p2p.state.persisted',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const isWebhookEventType = (value: string): value is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);

/** A test delivery ("send test event"): not one of the subscribable types. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';

export const WEBHOOK_LIMITS = {
  endpointsPerEnvironment: 20,
  urlChars: 2048,
  descriptionChars: 500,
  /** A secret of your own (Svix recommends 24 bytes; Pulse makes 32). */
  secretMinBytes: 24,
  secretMaxBytes: 64,
} as const;

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
  /** After a rotation, deliveries are also signed with the previous secret until then; else null. */
  previousSecretExpiresAt: string | null;
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
  /** An example event sent on request (`"example": true` in its payload), not a real change. */
  example: boolean;
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
  /**
   * An endpoint that answers 2xx after failing at least this long (an outage, not one bad event)
   * gets up to `retryNowBatch` of its waiting retries at once, the soonest first; so does one
   * enabled again.
   */
  outageMs: 60_000,
  retryNowBatch: 1000,
  /**
   * A receiver that refuses with `Retry-After` is sent nothing else by that node for that long, up
   * to this; then the next attempt asks again (the refused delivery itself waits the whole time,
   * up to `maxRetryDelayMs`). Short enough that a test event, an edit or enabling the endpoint
   * again is not held up for hours by a maintenance page's answer.
   */
  maxPauseMs: 5 * 60_000,
  /** Bytes of a response body kept for the panel. */
  responseBodyChars: 1024,
  /** Redirects followed (each target checked like the first URL). */
  maxRedirects: 3,
  /** Deliveries (and events) older than this are removed. */
  retentionMs: 30 * 24 * 3600_000,
  /** After a rotation the previous secret also signs deliveries this long, so receivers can switch without losing any. */
  secretOverlapMs: 24 * 3600_000,
} as const;

/** Environment variable that lets webhooks reach loopback and private addresses (tests, local development). */
export const WEBHOOKS_ALLOW_PRIVATE_ENV = 'PULSE_WEBHOOKS_ALLOW_PRIVATE';
/** Test hook: shortens the first retry delay (milliseconds). Not meant for production. */
export const WEBHOOKS_RETRY_BASE_ENV = 'PULSE_WEBHOOKS_RETRY_BASE_MS';
