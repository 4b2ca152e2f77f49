import type { Notification, WebhookActor, WebhookDeliveryInfo, WebhookEndpointInfo, WebhookEventType } from '@pulse/protocol';
import type { FileLinks } from '../files/links.ts';

/** What `notification.created` and `notification.unread` say of a notification, besides its environment, room and actor. */
export const notificationEventFields = ({ userId, ...notification }: Notification & { userId: string }) => ({
  threadId: notification.threadId,
  commentId: notification.commentId,
  notificationId: notification.id,
  recipientId: userId,
  notification,
});

/**
 * A webhook event a change causes. The domain prepares it; the store turns it into the event's
 * JSON body inside the change's transaction (reading the object as it is after the change, unless
 * the domain already holds it, as for deletions) and writes it to the outbox.
 */
export interface WebhookIntent {
  /** The event id: the `webhook-id` header of every delivery of it. */
  id: string;
  type: WebhookEventType;
  actor: WebhookActor;
  occurredAt: string;
  /** Filled in by the store once the change's room is known. */
  roomId?: string;
  /** The object to read inside the transaction and put in `data` (under its kind's name). */
  subject?: { kind: 'thread' | 'threadWithComments' | 'comment' | 'reaction'; id: string };
  /** Fields known before the change (ids, objects that the change deletes). */
  data: Record<string, unknown>;
  /** Absolute attachment URLs in the object read. */
  links: FileLinks;
}

export interface WebhookEndpointRecord extends WebhookEndpointInfo {
  secret: string;
}

/** A rotation: the new secret, and until when the one it replaces still signs (null: not at all). */
export interface WebhookSecretChange {
  secret: string;
  previousUntil: string | null;
}

export interface NewWebhookEndpoint {
  id: string;
  url: string;
  description: string;
  events: WebhookEventType[];
  enabled: boolean;
  secret: string;
  createdAt: string;
}

export interface WebhookEndpointChange {
  url?: string;
  description?: string;
  events?: WebhookEventType[];
  /** Enabling clears the reason Pulse disabled it and the failure streak. */
  enabled?: boolean;
  secret?: WebhookSecretChange;
}

/** A delivery one node has claimed, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  environmentId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  /** Attempts made before this one. */
  attempts: number;
  giveUpAt: string;
  url: string;
  secret: string;
  /** The secret before the last rotation, while it still signs. */
  previousSecret: string | null;
  payload: string;
  eventCreatedAt: string;
  /**
   * The claim's lease (its event's, for a fresh one). Leases only grow: a row is claimed again
   * only once its lease has lapsed, until later than that. So a row still holding this value is
   * still this node's, and an outcome recorded after it changed (this node held up past the
   * lease, the row since claimed by another) is not recorded over the other node's.
   */
  leaseUntil: string;
  /**
   * A first attempt of a fresh event, sent from memory: its row does not exist yet and is written
   * once, with the outcome (this is when it was dispatched, the row's `created_at`). Absent: a
   * delivery row claimed.
   */
  freshSince?: string;
}

/**
 * What happened to a claimed delivery: an attempt, or (null) none: a claimed row not attempted is
 * let go (claimable again at once), a fresh delivery not attempted is written as pending, due at once.
 */
export interface WebhookOutcome {
  delivery: ClaimedDelivery;
  result: WebhookAttemptResult | null;
}

export interface WebhookAttemptResult {
  at: string;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
  latencyMs: number;
  response: string | null;
  /** When to try again; null after a success or when the delivery has run out of time (failed). */
  nextAttemptAt: string | null;
  /** An endpoint failing since before this is disabled by a failed attempt. */
  disableIfFailingSince: string;
  /** An endpoint failing since before this, answered with a 2xx, was down: its waiting retries are due now. */
  outageIfFailingSince: string;
  /** Disable the endpoint now, saying this (the receiver answered 410 Gone). */
  disableNow?: string;
}

export interface WebhookPass {
  at: string;
  outcomes: WebhookOutcome[];
  /** Claimed events all of whose fresh deliveries are in `outcomes` of this pass or an earlier one. */
  eventsDone: string[];
  /**
   * Claims outbox events (at most `limit`) until `leaseUntil` and returns their deliveries as
   * fresh ones, to endpoints that have none of the event yet; null: none.
   */
  dispatch: { limit: number; giveUpAfterMs: number; leaseUntil: string } | null;
  claim: { leaseUntil: string; limits: { total: number; perEndpoint: number }; skipEndpoints: string[] } | null;
}

export interface WebhookEventRow {
  id: string;
  type: string;
  payload: string;
  createdAt: string;
}

/** An endpoint Pulse disabled, and the reason it stored (what the panel shows). */
export interface DisabledEndpoint {
  id: string;
  environmentId: string;
  url: string;
  reason: string;
}

/**
 * Webhook endpoints, the outbox and deliveries. Claims are leases (`claimed_until`): a node that
 * dies mid-delivery lets it go when the lease ends; on PostgreSQL claims skip rows another node
 * has locked, so each delivery is attempted by one node at a time.
 */
export interface WebhookRepo {
  createWebhookEndpoint(envId: string, endpoint: NewWebhookEndpoint): Promise<WebhookEndpointRecord>;
  listWebhookEndpoints(envId: string): Promise<WebhookEndpointRecord[]>;
  getWebhookEndpoint(envId: string, endpointId: string): Promise<WebhookEndpointRecord | undefined>;
  updateWebhookEndpoint(envId: string, endpointId: string, change: WebhookEndpointChange, at: string): Promise<WebhookEndpointRecord | undefined>;
  /** Removes the endpoint and its deliveries; false when there is no such endpoint. */
  deleteWebhookEndpoint(envId: string, endpointId: string): Promise<boolean>;
  /** An event addressed to one endpoint only (a test or an example event), outside any change: never recovered to another. */
  enqueueWebhookDelivery(envId: string, endpointId: string, event: WebhookEventRow, giveUpAt: string): Promise<WebhookDeliveryInfo>;
  /**
   * One pass of a node's dispatcher, in one transaction (on SQLite, one operation of the write
   * batch, sharing its commit): records the outcomes of the attempts made since the last pass,
   * claims outbox events (their deliveries come back fresh), then claims due delivery rows
   * (neither when null). `dispatched` counts the events claimed or found with nothing to send.
   */
  webhookPass(pass: WebhookPass): Promise<{ disabledEndpoints: DisabledEndpoint[]; dispatched: number; claimed: ClaimedDelivery[] }>;
  /** Lets go of every claim, of events and of deliveries: a single SQLite node starting up (a previous run's are stale). */
  releaseAllWebhookClaims(): Promise<void>;
  /** The endpoint's newest deliveries, newest first. */
  listWebhookDeliveries(envId: string, endpointId: string, limit: number): Promise<WebhookDeliveryInfo[]>;
  /** Schedules a delivery again now (same event id); undefined when there is no such delivery. */
  resendWebhookDelivery(envId: string, endpointId: string, deliveryId: string, at: string, giveUpAt: string): Promise<WebhookDeliveryInfo | undefined>;
  /**
   * Queues for the endpoint every event of its environment since `since` that it subscribes to
   * and never had a delivery of (it was disabled, or added later); returns how many.
   */
  recoverWebhookDeliveries(envId: string, endpointId: string, since: string, at: string, giveUpAt: string): Promise<number>;
  /**
   * Claims the environment's notifications created from `since` to `dueBefore` that are still
   * unread and were never announced (at most `limit`, oldest first), and records
   * `notification.unread` for each in the same transaction; returns their creation times.
   */
  recordUnreadNotifications(envId: string, since: string, dueBefore: string, at: string, limit: number): Promise<string[]>;
  /** Removes finished deliveries and events created before `before`; returns how many events. */
  pruneWebhooks(before: string): Promise<number>;
}
