import type { NotificationKind } from '@pulse/protocol';

/**
 * Notifications older than this are never emailed or announced (`notification.unread`): a server
 * that was off for a week, or an endpoint that subscribes late, does not flood anyone.
 */
export const UNREAD_MAX_AGE_MS = 3 * 24 * 3600_000;

/** Notifications in one email at most: a longer backlog goes out over the next windows. */
export const EMAIL_ITEMS_PER_BATCH = 100;

/** Notifications a node has claimed to email to one user together. */
export interface EmailBatch {
  batchId: string;
  environmentId: string;
  userId: string;
  /** Attempts made before this one. */
  attempts: number;
  notificationIds: string[];
  /**
   * Until when the batch is the claimer's. Also its proof of ownership: a node that lost the batch
   * (its lease ran out and another claimed it) holds a stale value, and its writes match nothing.
   */
  leaseUntil: string;
}

/**
 * How a batch's attempt ended. `emailed`: an email went out, and the user's next window counts
 * from `at` (a retried one goes out later than its claim).
 */
export interface EmailBatchOutcome {
  status: 'sent' | 'retry' | 'failed';
  at: string;
  nextAttemptAt?: string;
  error?: string;
  emailed?: boolean;
}

/** What an email says about one notification. */
export interface EmailItem {
  notificationId: string;
  kind: NotificationKind;
  roomId: string;
  threadId: string;
  commentId: string;
  actorId: string;
  actorName: string;
  /** The comment's text (the preview when the comment is gone). */
  body: string;
  /** The ids the comment mentions (none when it is gone). */
  mentions: string[];
  createdAt: string;
  read: boolean;
}

export interface EmailRecipient {
  email: string | null;
  name: string;
  optOut: boolean;
}

/**
 * Email notifications: claimed per notification (its key in `email_sends` is what keeps it from
 * being emailed twice, across restarts and nodes), batched per user.
 */
export interface EmailRepo {
  /**
   * Claims, until `leaseUntil`, the unread notifications now due for email: for each user with an
   * email who has not opted out, of an environment in `delays` (those with email on, and their
   * delay in seconds; visited in that order), whose last email is older than the delay, their
   * oldest unemailed unread notifications that have waited the delay (at most
   * EMAIL_ITEMS_PER_BATCH), one batch per user. At most `limit` batches: first whole batches
   * due for a retry or left by a node that died, then new ones.
   */
  claimEmailBatches(now: string, leaseUntil: string, delays: ReadonlyMap<string, number>, limit: number): Promise<EmailBatch[]>;
  emailRecipient(envId: string, userId: string): Promise<EmailRecipient | undefined>;
  emailItems(envId: string, notificationIds: string[]): Promise<EmailItem[]>;
  /**
   * Extends the lease of the batches still held under `leaseUntil` to `until`; returns their ids
   * (a batch missing was finished, or lost to another node).
   */
  renewEmailBatches(batchIds: readonly string[], leaseUntil: string, until: string): Promise<string[]>;
  /**
   * Records a batch's outcome, if it is still held under its lease (false when not): sent (or
   * nothing left to say), a retry at a time, or failed for good.
   */
  finishEmailBatch(batch: EmailBatch, outcome: EmailBatchOutcome): Promise<boolean>;
  /** Lets a batch's notifications go unclaimed again (not emailed after all: no address, unsubscribed, or email off), if still held. */
  releaseEmailBatch(batch: EmailBatch): Promise<boolean>;
  /** The user's own switch (the unsubscribe link, the widget's setting); false when there is no such user. */
  setEmailOptOut(envId: string, userId: string, optOut: boolean): Promise<boolean>;
}
