import {
  isBlankText,
  LIMITS,
  PulseError,
  type ActivityKind,
  type Comment,
  type DrawStroke,
  type PinPosition,
  type Reaction,
  type Thread,
  type ThreadWithComments,
  type User,
} from '@pulse/protocol';
import { newActivityId, newCommentId, newNotificationId, newReactionId, newStrokeId, newThreadId, nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { DeletedKind, Effects, NewActivity, NewNotification, Sequenced, UserProfile } from '../store/types.ts';
import { notificationEventFields } from '../store/webhook-types.ts';
import { canModerate, type Actor } from './actor.ts';
import { UserRateLimiter } from '../user-rate-limiter.ts';
import type { ConfigCache } from './config-cache.ts';
import type { AttachmentService } from './attachments.ts';
import type { RealtimeSink } from './events.ts';
import type { WebhookEventSpec, WebhookPublisher } from '../webhooks/publisher.ts';

export interface NewThreadInput {
  id?: string;
  commentId?: string;
  roomId: string;
  authorId: string;
  body: string;
  mentions?: string[];
  position?: PinPosition | null;
  attachmentIds?: string[];
}

export interface NewCommentInput {
  id?: string;
  threadId: string;
  /** When given, the thread must be in this room (a socket writes only to its own room). */
  roomId?: string;
  authorId: string;
  body: string;
  mentions?: string[];
  attachmentIds?: string[];
}

const PREVIEW_CHARS = 140;
/** Entries kept by each lookup cache; past it the oldest are forgotten. */
const CACHE_ENTRIES = 50_000;
/** How long a stored profile is taken as current (other nodes may change it meanwhile). */
const PROFILE_REUSE_MS = 60_000;
const preview = (body: string) => (body.length > PREVIEW_CHARS ? body.slice(0, PREVIEW_CHARS - 1) + '…' : body);
const unique = (ids: string[] = []) => [...new Set(ids)];
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const actorUserId = (actor: Actor) => (actor.kind === 'user' ? actor.externalId : null);
/** `notification.created` webhook events for the notifications a change writes. */
const notificationEvents = (notifications: NewNotification[] = []): WebhookEventSpec[] =>
  notifications.map((n) => ({ type: 'notification.created', data: notificationEventFields({ ...n, read: false }) }));

function activity(kind: ActivityKind, userId: string | null, fields: Partial<NewActivity> = {}): NewActivity {
  return {
    id: newActivityId(),
    roomId: '', // filled in by the store once the object's room is known
    userId,
    kind,
    threadId: null,
    commentId: null,
    preview: null,
    createdAt: nowIso(),
    ...fields,
  };
}

/**
 * Threads, comments, reactions, drawing and notifications: every durable change goes through
 * here, whether it arrives over REST, WebSocket or the panel. Each change is committed to the
 * store (with its activity entry and notifications, in one transaction) and only then announced.
 */
export class CollabService {
  readonly #store: Store;
  readonly #configs: ConfigCache;
  readonly #attachments: AttachmentService;
  #sink: RealtimeSink;
  #webhooks: WebhookPublisher | undefined;
  /** Users known to exist (users are never deleted): no read per comment. */
  readonly #knownUsers = new BoundedCache<true>(CACHE_ENTRIES);
  /** The users an author's mentions notify (see #chargeMentions). */
  readonly #mentions = new UserRateLimiter('mentions', LIMITS.mentionsPerUserBurst, LIMITS.mentionsPerUserPerMinute);
  /** Profiles this process stored lately, to skip rewriting an unchanged one (see upsertUser). */
  readonly #recentProfiles = new BoundedCache<{ user: User; day: string; storedAt: number }>(CACHE_ENTRIES);
  /** Thread → room (a thread never moves): no read per request on it. */
  readonly #threadRooms = new BoundedCache<string>(CACHE_ENTRIES);

  constructor(store: Store, configs: ConfigCache, attachments: AttachmentService, sink: RealtimeSink) {
    this.#store = store;
    this.#configs = configs;
    this.#attachments = attachments;
    this.#sink = sink;
  }

  /**
   * The `attach` effect for a comment's attachments. Users attach only their own uploads;
   * the backend (actor null) may attach any upload of the environment.
   */
  async #attach(envId: string, ids: string[] | undefined, ownerId: string | null, commentId?: string): Promise<Effects['attach']> {
    if (ids === undefined) return undefined;
    const config = await this.#configs.require(envId);
    return { ids: await this.#attachments.validate(envId, ids, ownerId, config, commentId), userId: ownerId };
  }

  setSink(sink: RealtimeSink): void {
    this.#sink = sink;
  }

  setWebhooks(webhooks: WebhookPublisher): void {
    this.#webhooks = webhooks;
  }

  /** The `webhooks` effect of a change: nothing unless an endpoint of the environment wants one of these events. */
  async #hooks(envId: string, actor: Actor, specs: WebhookEventSpec[]): Promise<Pick<Effects, 'webhooks'>> {
    if (!this.#webhooks) return {};
    const webhooks = await this.#webhooks.intents(envId, actor, specs);
    return webhooks.length ? { webhooks } : {};
  }

  async #requireFeature(envId: string, flag: 'allowReactions' | 'allowDrawing' | 'allowMentions', what: string) {
    const config = await this.#configs.require(envId);
    if (!config[flag]) throw new PulseError('feature_disabled', `${what} turned off for this environment.`);
  }

  async #checkComment(envId: string, body: string, mentions: string[], attachmentIds: string[] = []): Promise<void> {
    // A comment may be only attachments (a voice note, a screenshot).
    if (isBlankText(body) && attachmentIds.length === 0) throw new PulseError('validation_failed', 'body: must not be empty');
    if (mentions.length > LIMITS.mentionsPerComment) throw new PulseError('too_many_mentions', `mentions: at most ${LIMITS.mentionsPerComment} distinct users, got ${mentions.length}`);
    if (mentions.length > 0) await this.#requireFeature(envId, 'allowMentions', 'Mentions are');
  }

  async #requireUser(envId: string, externalId: string): Promise<void> {
    const key = `${envId}\u0000${externalId}`;
    if (this.#knownUsers.get(key)) return;
    const user = await this.#store.getUser(envId, externalId);
    if (user) this.#knownUsers.set(key, true);
    else {
      throw new PulseError(
        'user_not_found',
        `userId: no user "${externalId}" in this environment; users are created when they first connect, or with PUT /api/v1/users/{userId}.`,
      );
    }
  }

  /** The room of a thread, or undefined when there is no such thread in the environment. */
  async threadRoom(envId: string, threadId: string): Promise<string | undefined> {
    const key = `${envId}\u0000${threadId}`;
    const cached = this.#threadRooms.get(key);
    if (cached) return cached;
    const thread = await this.#store.getThread(envId, threadId);
    if (thread) this.#threadRooms.set(key, thread.roomId);
    return thread?.roomId;
  }

  commentRoom(envId: string, commentId: string): Promise<string | undefined> {
    return this.#store.commentRoom(envId, commentId);
  }

  /** The room of the comment a reaction is on. */
  async reactionRoom(envId: string, reactionId: string): Promise<string | undefined> {
    const reaction = await this.#store.getReaction(envId, reactionId);
    return reaction && this.#store.commentRoom(envId, reaction.targetId);
  }

  /** The id of the user's reaction with this emoji on the comment, if there is one. */
  async ownReactionId(envId: string, commentId: string, userId: string, emoji: string): Promise<string | undefined> {
    return (await this.#store.getComment(envId, commentId))?.reactions.find((r) => r.userId === userId && r.emoji === emoji)?.id;
  }

  /** Who wrote the thread, comment or stroke with this id, stored or since deleted: a create sent again finds it. */
  async #everStored(envId: string, kind: DeletedKind, id: string): Promise<{ roomId: string; userId: string; threadId?: string | null } | undefined> {
    const stored = kind === 'thread' ? await this.#store.threadOwner(envId, id) : kind === 'comment' ? await this.#store.commentOwner(envId, id) : await this.#store.getStroke(envId, id);
    return stored ?? (await this.#store.deletedId(envId, kind, id));
  }

  /**
   * Whether a retried create (same client id) is the user's own object in that room, already
   * stored, or stored and since deleted (a replayed queue: the create is answered as done and the
   * replayed delete with `*_not_found`, so nothing comes back).
   */
  async isOwnThread(envId: string, threadId: string, roomId: string, userId: string): Promise<boolean> {
    const found = await this.#everStored(envId, 'thread', threadId);
    return found?.roomId === roomId && found.userId === userId;
  }

  async isOwnComment(envId: string, commentId: string, threadId: string, roomId: string, userId: string): Promise<boolean> {
    const found = await this.#everStored(envId, 'comment', commentId);
    return found?.threadId === threadId && found.roomId === roomId && found.userId === userId;
  }

  async isOwnStroke(envId: string, strokeId: string, roomId: string, userId: string): Promise<boolean> {
    const found = await this.#everStored(envId, 'stroke', strokeId);
    return found?.roomId === roomId && found.userId === userId;
  }

  /**
   * Charges the users a write's mentions notify to its author's allowance, before the write: a
   * mention list can name anyone, so without it one token could write notifications as fast as
   * it can write comments, 50 at a time. A backend (secret key) is not limited.
   */
  async #chargeMentions(envId: string, actor: Actor, notifications: NewNotification[], replayed?: () => Promise<unknown>): Promise<void> {
    const count = notifications.filter((n) => n.kind === 'mention').length;
    if (actor.kind !== 'user' || count === 0) return;
    // A create sent again (its ack was lost) notifies nobody: it is answered as done, not charged.
    if (replayed && (await replayed())) return;
    this.#mentions.take(envId, actor.externalId, Date.now(), count);
  }

  #notifications(
    kind: 'mention' | 'reply',
    recipients: string[],
    fields: { threadId: string; commentId: string; actorId: string; body: string; roomId?: string },
  ): NewNotification[] {
    const at = nowIso();
    return recipients
      .filter((userId) => userId !== fields.actorId)
      .map((userId) => ({
        id: newNotificationId(),
        userId,
        kind,
        roomId: fields.roomId ?? '',
        threadId: fields.threadId,
        commentId: fields.commentId,
        actorId: fields.actorId,
        preview: preview(fields.body),
        createdAt: at,
      }));
  }

  /**
   * After a commit: removes files the change detached, wakes the webhook dispatcher if the change
   * recorded events (`effects`: what it was written with), then tells the room and the notified users.
   */
  async #announce<T>(envId: string, result: Sequenced<T>, event: Parameters<RealtimeSink['roomEvent']>[2], ...effects: Pick<Effects, 'webhooks'>[]): Promise<void> {
    if (result.removedAttachments?.length) {
      await this.#attachments.deleteFiles(envId, result.removedAttachments).catch((err) => console.error('[pulse] deleting attachment files failed:', err));
    }
    if (effects.some((e) => e.webhooks?.length)) this.#webhooks?.recorded();
    this.#sink.roomEvent(envId, result.roomId, result.activity ? { ...event, activity: result.activity } : event);
    for (const { userId, ...notification } of result.notifications ?? []) this.#sink.notification(envId, userId, notification);
  }

  /**
   * Creates or updates a user. Every socket authentication calls this with the token's profile;
   * when it is the one this process stored moments ago (tabs opening), the stored user is
   * returned as it is; when it is the one in the database (a reconnect wave after a restart), it
   * costs one read and no write.
   */
  async upsertUser(envId: string, profile: UserProfile): Promise<User> {
    const key = `${envId}\u0000${profile.externalId}`;
    const at = nowIso();
    const recent = this.#recentProfiles.get(key);
    if (
      profile.email === undefined &&
      recent &&
      Date.now() - recent.storedAt < PROFILE_REUSE_MS &&
      recent.day === at.slice(0, 10) &&
      recent.user.name === profile.name &&
      recent.user.avatar === profile.avatar &&
      (profile.color === undefined || profile.color === recent.user.color)
    ) {
      return recent.user;
    }
    const day = at.slice(0, 10);
    const user = (await this.#store.unchangedUser(envId, profile, day)) ?? (await this.#store.upsertUser(envId, profile, at));
    this.#recentProfiles.set(key, { user, day, storedAt: Date.now() });
    this.#knownUsers.set(key, true);
    return user;
  }

  async createThread(envId: string, actor: Actor, input: NewThreadInput): Promise<ThreadWithComments> {
    const mentions = unique(input.mentions);
    await this.#checkComment(envId, input.body, mentions, input.attachmentIds);
    await this.#requireUser(envId, input.authorId);
    const attach = await this.#attach(envId, input.attachmentIds, actorUserId(actor));
    const at = nowIso();
    const threadId = input.id ?? newThreadId();
    const commentId = input.commentId ?? newCommentId();
    const effects: Effects = {
      activity: activity('thread.created', input.authorId, { threadId, commentId, preview: preview(input.body) }),
      notifications: this.#notifications('mention', mentions, { threadId, commentId, actorId: input.authorId, body: input.body, roomId: input.roomId }),
      ...(attach ? { attach } : {}),
    };
    await this.#chargeMentions(envId, actor, effects.notifications ?? [], input.id ? () => this.#everStored(envId, 'thread', input.id!) : undefined);
    Object.assign(effects, await this.#hooks(envId, actor, [{ type: 'thread.created', subject: { kind: 'threadWithComments', id: threadId }, data: { threadId } }, ...notificationEvents(effects.notifications)]));
    const result = await this.#store.createThread(
      envId,
      { id: threadId, roomId: input.roomId, position: input.position ?? null, createdBy: input.authorId, createdAt: at },
      { id: commentId, userId: input.authorId, body: input.body, mentions, createdAt: at },
      effects,
    );
    await this.#announce(envId, result, { type: 'thread:created', seq: result.seq, thread: result.value }, effects);
    return result.value;
  }

  async addComment(envId: string, actor: Actor, input: NewCommentInput): Promise<Comment> {
    const mentions = unique(input.mentions);
    await this.#checkComment(envId, input.body, mentions, input.attachmentIds);
    await this.#requireUser(envId, input.authorId);
    const attach = await this.#attach(envId, input.attachmentIds, actorUserId(actor));
    // The thread's room, which the store then checks the thread is still in.
    const roomId = input.roomId ?? (await this.threadRoom(envId, input.threadId));
    if (!roomId) throw new PulseError('thread_not_found');
    const participants = await this.#store.threadParticipants(envId, input.threadId);
    const commentId = input.id ?? newCommentId();
    const fields = { threadId: input.threadId, commentId, actorId: input.authorId, body: input.body };
    const effects: Effects = {
      activity: activity('comment.created', input.authorId, { threadId: input.threadId, commentId, preview: preview(input.body) }),
      notifications: [
        ...this.#notifications('mention', mentions, fields),
        ...this.#notifications('reply', participants.filter((p) => !mentions.includes(p)), fields),
      ],
      ...(attach ? { attach } : {}),
    };
    await this.#chargeMentions(envId, actor, effects.notifications ?? [], input.id ? () => this.#everStored(envId, 'comment', input.id!) : undefined);
    Object.assign(effects, await this.#hooks(envId, actor, [{ type: 'comment.created', subject: { kind: 'comment', id: commentId }, data: { threadId: input.threadId, commentId } }, ...notificationEvents(effects.notifications)]));
    const result = await this.#store.createComment(
      envId,
      { id: commentId, threadId: input.threadId, roomId, userId: input.authorId, body: input.body, mentions, createdAt: nowIso() },
      effects,
    );
    await this.#announce(envId, result, { type: 'comment:created', seq: result.seq, comment: result.value }, effects);
    return result.value;
  }

  async #ownedComment(envId: string, actor: Actor, commentId: string): Promise<Comment> {
    const comment = await this.#store.getComment(envId, commentId);
    if (!comment) throw new PulseError('comment_not_found');
    if (!canModerate(actor) && comment.userId !== actorUserId(actor)) throw new PulseError('not_author');
    return comment;
  }

  async editComment(
    envId: string,
    actor: Actor,
    commentId: string,
    change: { body: string; mentions?: string[]; attachmentIds?: string[] },
  ): Promise<Comment> {
    const before = await this.#ownedComment(envId, actor, commentId);
    // Mentions and attachments left out of an edit stay as they were.
    const mentions = unique(change.mentions ?? before.mentions);
    const attachmentIds = before.attachments.map((a) => a.id);
    // Nothing changes (a client sending the same text again, an offline edit replayed): not an
    // edit, so no write, no editedAt, no event.
    if (change.body === before.body && sameList(mentions, before.mentions) && (!change.attachmentIds || sameList(change.attachmentIds, attachmentIds))) return before;
    await this.#checkComment(envId, change.body, mentions, change.attachmentIds ?? attachmentIds);
    const attach = await this.#attach(envId, change.attachmentIds, canModerate(actor) ? null : before.userId, commentId);
    // Users newly mentioned, and not notified of this comment before: mentions taken out and put
    // back, edit after edit, do not notify anyone twice.
    const added = mentions.filter((m) => !before.mentions.includes(m));
    const notified = new Set(added.length ? await this.#store.notifiedOfComment(envId, commentId) : []);
    const effects: Effects = {
      activity: activity('comment.edited', actorUserId(actor), { threadId: before.threadId, commentId, preview: preview(change.body) }),
      notifications: this.#notifications('mention', added.filter((m) => !notified.has(m)), { threadId: before.threadId, commentId, actorId: before.userId, body: change.body }),
      ...(attach ? { attach } : {}),
    };
    await this.#chargeMentions(envId, actor, effects.notifications ?? []);
    Object.assign(effects, await this.#hooks(envId, actor, [{ type: 'comment.edited', subject: { kind: 'comment', id: commentId }, data: { threadId: before.threadId, commentId } }, ...notificationEvents(effects.notifications)]));
    const result = await this.#store.updateComment(envId, commentId, { body: change.body, mentions, preview: preview(change.body) }, nowIso(), effects);
    if (!result) throw new PulseError('comment_not_found');
    await this.#announce(envId, result, { type: 'comment:updated', seq: result.seq, comment: result.value }, effects);
    return result.value;
  }

  async deleteComment(envId: string, actor: Actor, commentId: string): Promise<{ threadDeleted: boolean }> {
    const before = await this.#ownedComment(envId, actor, commentId);
    const effects: Effects = {
      activity: activity('comment.deleted', actorUserId(actor), { threadId: before.threadId, commentId }),
    };
    Object.assign(effects, await this.#hooks(envId, actor, [{ type: 'comment.deleted', data: { threadId: before.threadId, commentId, comment: before } }]));
    // Its last comment gone, the thread goes too: receivers of thread.deleted hear of it as well.
    const threadGone = await this.#hooks(envId, actor, [
      { type: 'thread.deleted', data: async () => ({ threadId: before.threadId, thread: await this.#store.getThread(envId, before.threadId) }) },
    ]);
    const result = await this.#store.deleteComment(envId, commentId, effects, threadGone.webhooks);
    if (!result) throw new PulseError('comment_not_found');
    const { comment, threadDeleted } = result.value;
    if (threadDeleted) this.#threadRooms.delete(`${envId}\u0000${comment.threadId}`);
    await this.#announce(envId, result, { type: 'comment:deleted', seq: result.seq, commentId, threadId: comment.threadId, threadDeleted }, effects, threadDeleted ? threadGone : {});
    return { threadDeleted };
  }

  async setResolved(envId: string, actor: Actor, threadId: string, resolved: boolean): Promise<Thread> {
    const effects: Effects = { activity: activity(resolved ? 'thread.resolved' : 'thread.reopened', actorUserId(actor), { threadId }) };
    Object.assign(effects, await this.#hooks(envId, actor, [{ type: resolved ? 'thread.resolved' : 'thread.reopened', subject: { kind: 'thread', id: threadId }, data: { threadId } }]));
    const result = await this.#store.setThreadResolved(envId, threadId, resolved, nowIso(), effects);
    if (!result) throw new PulseError('thread_not_found');
    await this.#announce(envId, result, { type: 'thread:updated', seq: result.seq, thread: result.value }, effects);
    return result.value;
  }

  async deleteThread(envId: string, actor: Actor, threadId: string): Promise<void> {
    if (actor.kind === 'user') {
      // The thread's creator, also once its first comment is deleted: the reply now first is someone else's.
      const owner = await this.#store.threadOwner(envId, threadId);
      if (!owner) throw new PulseError('thread_not_found');
      if (owner.userId !== actor.externalId) throw new PulseError('forbidden', 'Only the author of a thread can delete it.');
    }
    const effects: Effects = { activity: activity('thread.deleted', actorUserId(actor), { threadId }) };
    const deleting = async () => ({ threadId, thread: await this.#store.getThread(envId, threadId) });
    Object.assign(effects, await this.#hooks(envId, actor, [{ type: 'thread.deleted', data: deleting }]));
    const result = await this.#store.deleteThread(envId, threadId, effects);
    this.#threadRooms.delete(`${envId}\u0000${threadId}`);
    if (!result) throw new PulseError('thread_not_found');
    await this.#announce(envId, result, { type: 'thread:deleted', seq: result.seq, threadId }, effects);
  }

  async addReaction(envId: string, actor: Actor, input: { commentId: string; userId: string; emoji: string }): Promise<{ reaction: Reaction; created: boolean }> {
    await this.#requireFeature(envId, 'allowReactions', 'Reactions are');
    await this.#requireUser(envId, input.userId);
    const reactionId = newReactionId();
    const hooks = await this.#hooks(envId, actor, [{ type: 'reaction.added', subject: { kind: 'reaction', id: reactionId }, data: { commentId: input.commentId, reactionId } }]);
    const result = await this.#store.addReaction(envId, { id: reactionId, createdAt: nowIso(), ...input }, hooks);
    if (result.value.created) await this.#announce(envId, result, { type: 'reaction:added', seq: result.seq, reaction: result.value.reaction }, hooks);
    return result.value;
  }

  async removeReaction(envId: string, actor: Actor, reactionId: string): Promise<void> {
    const existing = await this.#store.getReaction(envId, reactionId);
    if (!existing) throw new PulseError('reaction_not_found');
    if (!canModerate(actor) && existing.userId !== actorUserId(actor)) throw new PulseError('forbidden', 'You can only remove your own reactions.');
    const hooks = await this.#hooks(envId, actor, [{ type: 'reaction.removed', data: { commentId: existing.targetId, reactionId, reaction: existing } }]);
    const result = await this.#store.deleteReaction(envId, reactionId, hooks);
    if (!result) throw new PulseError('reaction_not_found');
    await this.#announce(envId, result, { type: 'reaction:removed', seq: result.seq, reactionId, targetId: result.value.targetId }, hooks);
  }

  async addStroke(envId: string, roomId: string, stroke: Omit<DrawStroke, 'id' | 'createdAt'> & { id?: string }): Promise<DrawStroke> {
    await this.#requireFeature(envId, 'allowDrawing', 'Drawing is');
    const result = await this.#store.addStroke(envId, roomId, { ...stroke, id: stroke.id ?? newStrokeId(), createdAt: nowIso() }, { maxStrokes: LIMITS.strokesPerRoom, maxBytes: LIMITS.drawingBytesPerRoom });
    await this.#announce(envId, result, { type: 'draw:stroke', seq: result.seq, stroke: result.value });
    return result.value;
  }

  async clearDrawing(envId: string, actor: Actor, roomId: string): Promise<void> {
    await this.#requireFeature(envId, 'allowDrawing', 'Drawing is');
    const effects: Effects = { activity: { ...activity('drawing.cleared', actorUserId(actor)), roomId } };
    const result = await this.#store.clearDrawing(envId, roomId, effects);
    await this.#announce(envId, result, { type: 'draw:clear', seq: result.seq, userId: actorUserId(actor) });
  }

  async markNotificationsRead(envId: string, userId: string, ids: string[] | 'all'): Promise<string[]> {
    const changed = await this.#store.markNotificationsRead(envId, userId, ids, nowIso());
    // With `all`, the ids are implied: a backlog of thousands is not sent to every socket of the user.
    if (changed.length) this.#sink.notificationsRead(envId, userId, changed.slice(0, LIMITS.notificationsReadIds), ids === 'all');
    return changed;
  }
}

/** A Map that forgets its oldest entries past a size. */
class BoundedCache<V> {
  readonly #map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.#map.get(key);
  }
  set(key: string, value: V): void {
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(key, value);
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
}
