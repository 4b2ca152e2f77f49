import {
  PulseError,
  type Comment,
  type PinPosition,
  type Reaction,
  type Thread,
  type ThreadWithComments,
  type User,
} from '@pulse/protocol';
import { newCommentId, newReactionId, newThreadId, nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { UserProfile } from '../store/types.ts';
import { canModerate, type Actor } from './actor.ts';
import type { ConfigCache } from './config-cache.ts';
import type { RoomEventSink } from './events.ts';

export interface NewThreadInput {
  id?: string;
  roomId: string;
  authorId: string;
  body: string;
  mentions?: string[];
  position?: PinPosition | null;
}

export interface NewCommentInput {
  id?: string;
  threadId: string;
  authorId: string;
  body: string;
  mentions?: string[];
}

const unique = (ids: string[] = []) => [...new Set(ids)];

/**
 * Threads, comments, reactions and users: every durable change goes through here, whether it
 * arrives over REST, WebSocket or the panel. Each change is committed to the store first and
 * only then announced to the room.
 */
export class CollabService {
  readonly #store: Store;
  readonly #configs: ConfigCache;
  #events: RoomEventSink;

  constructor(store: Store, configs: ConfigCache, events: RoomEventSink) {
    this.#store = store;
    this.#configs = configs;
    this.#events = events;
  }

  setEventSink(events: RoomEventSink): void {
    this.#events = events;
  }

  async #checkComment(envId: string, body: string, mentions: string[]): Promise<void> {
    if (body.trim().length === 0) throw new PulseError('validation_failed', 'body: must not be empty');
    if (mentions.length > 0) {
      const config = await this.#configs.require(envId);
      if (!config.allowMentions) throw new PulseError('feature_disabled', 'Mentions are turned off for this environment.');
    }
  }

  async #requireUser(envId: string, externalId: string): Promise<User> {
    const user = await this.#store.getUser(envId, externalId);
    if (!user) {
      throw new PulseError(
        'user_not_found',
        `userId: no user "${externalId}" in this environment; users are created when they first connect, or with PUT /api/v1/users/{userId}.`,
      );
    }
    return user;
  }

  upsertUser(envId: string, profile: UserProfile): Promise<User> {
    return this.#store.upsertUser(envId, profile, nowIso());
  }

  async createThread(envId: string, actor: Actor, input: NewThreadInput): Promise<ThreadWithComments> {
    const mentions = unique(input.mentions);
    await this.#checkComment(envId, input.body, mentions);
    await this.#requireUser(envId, input.authorId);
    const at = nowIso();
    const { value, roomId, seq } = await this.#store.createThread(
      envId,
      { id: input.id ?? newThreadId(), roomId: input.roomId, position: input.position ?? null, createdBy: input.authorId, createdAt: at },
      { id: newCommentId(), userId: input.authorId, body: input.body, mentions, createdAt: at },
    );
    void actor;
    this.#events.roomEvent(envId, roomId, { type: 'thread:created', seq, thread: value });
    return value;
  }

  async addComment(envId: string, actor: Actor, input: NewCommentInput): Promise<Comment> {
    const mentions = unique(input.mentions);
    await this.#checkComment(envId, input.body, mentions);
    await this.#requireUser(envId, input.authorId);
    void actor;
    const { value, roomId, seq } = await this.#store.createComment(envId, {
      id: input.id ?? newCommentId(),
      threadId: input.threadId,
      userId: input.authorId,
      body: input.body,
      mentions,
      createdAt: nowIso(),
    });
    this.#events.roomEvent(envId, roomId, { type: 'comment:created', seq, comment: value });
    return value;
  }

  async #ownedComment(envId: string, actor: Actor, commentId: string): Promise<Comment> {
    const comment = await this.#store.getComment(envId, commentId);
    if (!comment) throw new PulseError('comment_not_found');
    if (!canModerate(actor) && actor.kind === 'user' && comment.userId !== actor.externalId) throw new PulseError('not_author');
    return comment;
  }

  async editComment(envId: string, actor: Actor, commentId: string, change: { body: string; mentions?: string[] }): Promise<Comment> {
    await this.#ownedComment(envId, actor, commentId);
    const mentions = unique(change.mentions);
    await this.#checkComment(envId, change.body, mentions);
    const result = await this.#store.updateComment(envId, commentId, { body: change.body, mentions }, nowIso());
    if (!result) throw new PulseError('comment_not_found');
    this.#events.roomEvent(envId, result.roomId, { type: 'comment:updated', seq: result.seq, comment: result.value });
    return result.value;
  }

  async deleteComment(envId: string, actor: Actor, commentId: string): Promise<{ threadDeleted: boolean }> {
    await this.#ownedComment(envId, actor, commentId);
    const result = await this.#store.deleteComment(envId, commentId);
    if (!result) throw new PulseError('comment_not_found');
    const { comment, threadDeleted } = result.value;
    this.#events.roomEvent(envId, result.roomId, {
      type: 'comment:deleted',
      seq: result.seq,
      commentId,
      threadId: comment.threadId,
      threadDeleted,
    });
    return { threadDeleted };
  }

  async setResolved(envId: string, actor: Actor, threadId: string, resolved: boolean): Promise<Thread> {
    void actor;
    const result = await this.#store.setThreadResolved(envId, threadId, resolved, nowIso());
    if (!result) throw new PulseError('thread_not_found');
    this.#events.roomEvent(envId, result.roomId, { type: 'thread:updated', seq: result.seq, thread: result.value });
    return result.value;
  }

  async deleteThread(envId: string, actor: Actor, threadId: string): Promise<void> {
    if (actor.kind === 'user') {
      const thread = await this.#store.getThreadWithComments(envId, threadId);
      if (!thread) throw new PulseError('thread_not_found');
      if (thread.comments[0]?.userId !== actor.externalId) throw new PulseError('forbidden', 'Only the author of a thread can delete it.');
    }
    const result = await this.#store.deleteThread(envId, threadId);
    if (!result) throw new PulseError('thread_not_found');
    this.#events.roomEvent(envId, result.roomId, { type: 'thread:deleted', seq: result.seq, threadId });
  }

  async addReaction(envId: string, actor: Actor, input: { commentId: string; userId: string; emoji: string }): Promise<{ reaction: Reaction; created: boolean }> {
    const config = await this.#configs.require(envId);
    if (!config.allowReactions) throw new PulseError('feature_disabled', 'Reactions are turned off for this environment.');
    await this.#requireUser(envId, input.userId);
    void actor;
    const result = await this.#store.addReaction(envId, { id: newReactionId(), createdAt: nowIso(), ...input });
    if (result.value.created) {
      this.#events.roomEvent(envId, result.roomId, { type: 'reaction:added', seq: result.seq, reaction: result.value.reaction });
    }
    return result.value;
  }

  async removeReaction(envId: string, actor: Actor, reactionId: string): Promise<void> {
    const existing = await this.#store.getReaction(envId, reactionId);
    if (!existing) throw new PulseError('reaction_not_found');
    if (actor.kind === 'user' && existing.userId !== actor.externalId) throw new PulseError('forbidden', 'You can only remove your own reactions.');
    const result = await this.#store.deleteReaction(envId, reactionId);
    if (!result) throw new PulseError('reaction_not_found');
    this.#events.roomEvent(envId, result.roomId, {
      type: 'reaction:removed',
      seq: result.seq,
      reactionId,
      targetId: result.value.targetId,
    });
  }
}
