import {
  DEFAULT_ENV_CONFIG,
  TYPING_TTL_MS,
  type ActivityEntry,
  type AuthOkPayload,
  type Comment,
  type CursorPosition,
  type DrawStroke,
  type DurableRoomEvent,
  type EnvConfig,
  type EphemeralEvent,
  type Notification,
  type PresenceMember,
  type PulseUser,
  type Reaction,
  type RoomState,
  type TextSelection,
  type ThreadWithComments,
  type ViewportState,
} from '@pulse/protocol/lite';
import { Emitter } from './emitter.ts';

/** A thread as the client holds it: `pending` until the server has stored it. */
export type ClientThread = ThreadWithComments & { pending?: boolean };

/** Events of `client.state.on(…)`. */
export interface StateEvents {
  [key: string]: unknown;
  /** Authentication completed: a safe point to read `config` and the initial state. */
  auth: PulseUser;
  threads: ClientThread[];
  presence: PresenceMember[];
  notifications: Notification[];
  reactions: { targetId: string; reactions: Reaction[] };
  'activity-logs': ActivityEntry[];
  /** `position` is null when the user's cursor left the page or the user left the room. */
  cursor: { userId: string; position: CursorPosition | null };
  click: { userId: string; position: CursorPosition };
  typing: { userId: string; threadId: string; typing: boolean };
  viewport: { userId: string } & ViewportState;
  selection: { userId: string; selection: TextSelection | null };
  'draw-stroke': { userId: string; id: string; points: [number, number][]; color: string; width: number };
  'draw-clear': { userId: string | null };
  'emoji-drop': { userId: string; emoji: string; position: CursorPosition };
  /** The whole drawing changed (initial state, resync). */
  drawing: DrawStroke[];
  config: EnvConfig;
}

const ACTIVITY_KEPT = 200;

/**
 * The client's copy of the room: threads, presence, notifications, activity and drawing,
 * kept current by server events and optimistic local changes. Every change emits an event.
 */
export class PulseState {
  readonly #events = new Emitter<StateEvents>();
  #user: PulseUser | null = null;
  #config: EnvConfig = { ...DEFAULT_ENV_CONFIG };
  #seq = 0;
  readonly #threads = new Map<string, ClientThread>();
  readonly #commentThread = new Map<string, string>();
  /** Threads of this client's that the server acknowledged but whose `thread:created` has not been applied yet (it may wait for an earlier event). */
  readonly #unplaced = new Set<string>();
  readonly #presence = new Map<string, PresenceMember>();
  #notifications: Notification[] = [];
  #activity: ActivityEntry[] = [];
  #drawing: DrawStroke[] = [];
  readonly #cursors = new Map<string, CursorPosition>();
  readonly #typing = new Map<string, { userId: string; threadId: string; timer: ReturnType<typeof setTimeout> }>();

  /** Subscribes to a state event; returns the unsubscribe function. */
  on<K extends keyof StateEvents & string>(event: K, listener: (payload: StateEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** The signed-in user (null before the first `auth:ok`). */
  get user(): PulseUser | null {
    return this.#user;
  }
  /** The environment config received at authentication (and kept current by `config:updated`). */
  get config(): EnvConfig {
    return this.#config;
  }
  /** The room sequence number the state reflects. */
  get seq(): number {
    return this.#seq;
  }
  /** Threads in creation order, with their comments. */
  get threads(): ClientThread[] {
    return [...this.#threads.values()];
  }
  thread(id: string): ClientThread | undefined {
    return this.#threads.get(id);
  }
  comment(id: string): Comment | undefined {
    const threadId = this.#commentThread.get(id);
    return threadId ? this.#threads.get(threadId)?.comments.find((c) => c.id === id) : undefined;
  }
  get presence(): PresenceMember[] {
    return [...this.#presence.values()];
  }
  get notifications(): Notification[] {
    return this.#notifications;
  }
  get activity(): ActivityEntry[] {
    return this.#activity;
  }
  get drawing(): DrawStroke[] {
    return this.#drawing;
  }
  /** Last known cursor of each other user. */
  get cursors(): ReadonlyMap<string, CursorPosition> {
    return this.#cursors;
  }
  /** Who is typing in which thread right now. */
  get typing(): { userId: string; threadId: string }[] {
    return [...this.#typing.values()].map(({ userId, threadId }) => ({ userId, threadId }));
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * @internal Replaces everything with an `auth:ok` payload; with `replaceRoom` false, keeps the
   * room as it is (a token refresh's new connection, when the old one is already as current).
   */
  authenticated(payload: AuthOkPayload, replaceRoom = true): void {
    this.#user = payload.user;
    this.#config = payload.config;
    this.#notifications = payload.notifications;
    if (replaceRoom) this.room(payload.room);
    this.#events.emit('config', this.#config);
    this.#events.emit('notifications', this.#notifications);
    this.#events.emit('auth', payload.user);
  }

  /** @internal Replaces the room part (auth:ok, resync). */
  room(room: RoomState): void {
    this.#seq = room.seq;
    this.#threads.clear();
    this.#commentThread.clear();
    this.#unplaced.clear();
    for (const t of room.threads) this.#putThread(t, true);
    this.#presence.clear();
    for (const m of room.presence) this.#presence.set(m.userId, m);
    this.#activity = room.activity;
    this.#drawing = room.drawing;
    this.#emitThreads();
    this.#events.emit('presence', this.presence);
    this.#events.emit('activity-logs', this.#activity);
    this.#events.emit('drawing', this.#drawing);
  }

  /** @internal */
  setConfig(config: EnvConfig): void {
    this.#config = config;
    this.#events.emit('config', config);
  }

  /** @internal */
  setSeq(seq: number): void {
    this.#seq = seq;
  }

  // ------------------------------------------------------------------ durable events

  /** @internal Applies a durable event. Idempotent: an event already reflected changes nothing wrong. */
  apply(event: DurableRoomEvent): void {
    switch (event.type) {
      case 'thread:created':
        this.#putThread(event.thread);
        this.#emitThreads();
        break;
      case 'thread:updated': {
        const t = this.#threads.get(event.thread.id);
        if (t) this.#threads.set(t.id, { ...t, ...event.thread, comments: t.comments, pending: false });
        this.#emitThreads();
        break;
      }
      case 'thread:deleted':
        this.#removeThread(event.threadId);
        this.#emitThreads();
        this.#rewritePreviews((a) => a.threadId === event.threadId, null);
        break;
      case 'comment:created':
        this.#putComment(event.comment);
        this.#emitThreads();
        break;
      case 'comment:updated':
        this.#putComment(event.comment);
        this.#emitThreads();
        if (event.activity?.preview != null) this.#rewritePreviews((a) => a.commentId === event.comment.id, event.activity.preview);
        break;
      case 'comment:deleted':
        if (event.threadDeleted) this.#removeThread(event.threadId);
        else this.#removeComment(event.commentId);
        this.#emitThreads();
        this.#rewritePreviews((a) => (event.threadDeleted ? a.threadId === event.threadId : a.commentId === event.commentId), null);
        break;
      case 'reaction:added':
        this.#putReaction(event.reaction);
        break;
      case 'reaction:removed':
        this.#dropReaction(event.targetId, (r) => r.id === event.reactionId);
        break;
      case 'draw:stroke': {
        const s = event.stroke;
        if (!this.#drawing.some((d) => d.id === s.id)) this.#drawing = [...this.#drawing, s];
        else this.#drawing = this.#drawing.map((d) => (d.id === s.id ? s : d));
        this.#events.emit('draw-stroke', { userId: s.userId, id: s.id, points: s.points, color: s.color, width: s.width });
        break;
      }
      case 'draw:clear':
        this.#drawing = [];
        this.#events.emit('draw-clear', { userId: event.userId });
        break;
    }
    if (event.activity && !this.#activity.some((a) => a.id === event.activity!.id)) {
      this.#activity = [...this.#activity, event.activity].slice(-ACTIVITY_KEPT);
      this.#events.emit('activity-logs', this.#activity);
    }
  }

  /**
   * The feed and the notifications show comments as they read now, as the server keeps them: an
   * edit's text; once deleted, no text in the feed and no notification (the server deletes them).
   */
  #rewritePreviews(about: (a: { threadId: string | null; commentId: string | null }) => boolean, preview: string | null): void {
    if (this.#activity.some((a) => a.preview != null && about(a))) {
      this.#activity = this.#activity.map((a) => (a.preview != null && about(a) ? { ...a, preview } : a));
      this.#events.emit('activity-logs', this.#activity);
    }
    if (this.#notifications.some(about)) {
      this.#notifications = preview === null ? this.#notifications.filter((n) => !about(n)) : this.#notifications.map((n) => (about(n) ? { ...n, preview } : n));
      this.#events.emit('notifications', this.#notifications);
    }
  }

  /** `fromSnapshot`: the room is being loaded, in the server's order, with nothing pending yet. */
  #putThread(t: ThreadWithComments & { pending?: boolean }, fromSnapshot = false): void {
    const existing = this.#threads.get(t.id);
    // Comments that arrived on their own before (or after) the thread stay.
    const comments = existing ? mergeComments(existing.comments, t.comments) : [...t.comments];
    const thread: ClientThread = { ...t, comments, pending: t.pending === true };
    if (!fromSnapshot && !thread.pending && (!existing || existing.pending || this.#unplaced.delete(t.id))) this.#placeStored(thread);
    else this.#threads.set(t.id, thread);
    for (const c of comments) this.#commentThread.set(c.id, t.id);
  }

  /**
   * A thread the server has just stored goes after those it stored before and before those still
   * on their way to it, as the server orders them: two users' offline threads, sent at once, are
   * listed alike by both.
   */
  #placeStored(thread: ClientThread): void {
    this.#threads.delete(thread.id);
    const entries = [...this.#threads.entries()];
    const firstPending = entries.findIndex(([id, t]) => t.pending || this.#unplaced.has(id));
    if (firstPending < 0) {
      this.#threads.set(thread.id, thread);
      return;
    }
    entries.splice(firstPending, 0, [thread.id, thread]);
    this.#threads.clear();
    for (const [id, t] of entries) this.#threads.set(id, t);
  }

  #removeThread(threadId: string): void {
    this.#unplaced.delete(threadId);
    const t = this.#threads.get(threadId);
    if (!t) return;
    for (const c of t.comments) this.#commentThread.delete(c.id);
    this.#threads.delete(threadId);
  }

  #putComment(c: Comment): void {
    const t = this.#threads.get(c.threadId);
    if (!t) return;
    this.#threads.set(t.id, { ...t, comments: mergeComments(t.comments, [c]) });
    this.#commentThread.set(c.id, t.id);
  }

  #removeComment(commentId: string): void {
    const threadId = this.#commentThread.get(commentId);
    const t = threadId ? this.#threads.get(threadId) : undefined;
    if (!t) return;
    this.#commentThread.delete(commentId);
    this.#threads.set(t.id, { ...t, comments: t.comments.filter((c) => c.id !== commentId) });
  }

  #updateComment(commentId: string, change: (c: Comment) => Comment): Comment | undefined {
    const threadId = this.#commentThread.get(commentId);
    const t = threadId ? this.#threads.get(threadId) : undefined;
    if (!t) return undefined;
    let updated: Comment | undefined;
    this.#threads.set(t.id, {
      ...t,
      comments: t.comments.map((c) => (c.id === commentId ? (updated = change(c)) : c)),
    });
    return updated;
  }

  #putReaction(reaction: Reaction): void {
    const updated = this.#updateComment(reaction.targetId, (c) => ({
      ...c,
      reactions: [
        // An optimistic twin (same user and emoji) is replaced by the stored reaction.
        ...c.reactions.filter((r) => r.id !== reaction.id && !(r.userId === reaction.userId && r.emoji === reaction.emoji)),
        reaction,
      ],
    }));
    if (updated) this.#emitReactions(updated);
  }

  #dropReaction(targetId: string, match: (r: Reaction) => boolean): void {
    const updated = this.#updateComment(targetId, (c) => ({ ...c, reactions: c.reactions.filter((r) => !match(r)) }));
    if (updated) this.#emitReactions(updated);
  }

  #emitReactions(comment: Comment): void {
    this.#events.emit('reactions', { targetId: comment.id, reactions: comment.reactions });
    this.#emitThreads();
  }

  #emitThreads(): void {
    this.#events.emit('threads', this.threads);
  }

  // ------------------------------------------------------------------ optimistic changes

  /**
   * @internal Re-applied after a reconnect over a room that has the thread (stored before the
   * connection dropped, its ack lost): the server's copy stays.
   */
  optimisticThread(thread: ClientThread): void {
    if (this.#threads.has(thread.id)) return;
    this.#putThread({ ...thread, pending: true });
    this.#emitThreads();
  }
  /** @internal The server has the thread; it takes its place when its `thread:created` is applied. */
  confirmThread(threadId: string): void {
    const t = this.#threads.get(threadId);
    if (t?.pending) {
      this.#threads.set(threadId, { ...t, pending: false });
      this.#unplaced.add(threadId);
      this.#emitThreads();
    }
  }
  /**
   * @internal Shown after what its thread shows, whatever the clocks say: replies made in one
   * millisecond keep the order they were made in. Re-applied after a reconnect over a room that
   * has it, the server's copy stays.
   */
  optimisticComment(comment: Comment): void {
    if (this.#commentThread.has(comment.id)) return;
    const last = this.#threads.get(comment.threadId)?.comments.at(-1);
    const createdAt = last && last.createdAt >= comment.createdAt ? new Date(Date.parse(last.createdAt) + 1).toISOString() : comment.createdAt;
    this.#putComment({ ...comment, createdAt });
    this.#emitThreads();
  }
  /** @internal */
  optimisticEdit(commentId: string, body: string, mentions: string[] | undefined): void {
    this.#updateComment(commentId, (c) => ({ ...c, body, mentions: mentions ?? c.mentions, editedAt: new Date().toISOString() }));
    this.#emitThreads();
  }
  /** @internal */
  optimisticDeleteComment(commentId: string): void {
    const threadId = this.#commentThread.get(commentId);
    const t = threadId ? this.#threads.get(threadId) : undefined;
    if (t && t.comments.length === 1 && t.comments[0]!.id === commentId) this.#removeThread(t.id);
    else this.#removeComment(commentId);
    this.#emitThreads();
  }
  /** @internal */
  optimisticResolve(threadId: string, resolved: boolean): void {
    const t = this.#threads.get(threadId);
    if (t) this.#threads.set(threadId, { ...t, resolved });
    this.#emitThreads();
  }
  /** @internal */
  optimisticDeleteThread(threadId: string): void {
    this.#removeThread(threadId);
    this.#emitThreads();
  }
  /** @internal */
  optimisticReaction(reaction: Reaction): void {
    this.#putReaction(reaction);
  }
  /** @internal A reaction in the state, by id. */
  reactionById(reactionId: string): Reaction | undefined {
    for (const t of this.#threads.values()) {
      for (const c of t.comments) {
        const r = c.reactions.find((x) => x.id === reactionId);
        if (r) return r;
      }
    }
    return undefined;
  }
  /** @internal */
  optimisticRemoveReaction(reactionId: string): void {
    for (const t of this.#threads.values()) {
      for (const c of t.comments) {
        if (c.reactions.some((r) => r.id === reactionId)) return this.#dropReaction(c.id, (r) => r.id === reactionId);
      }
    }
  }
  /** @internal */
  optimisticStroke(stroke: DrawStroke): void {
    if (!this.#drawing.some((d) => d.id === stroke.id)) this.#drawing = [...this.#drawing, stroke];
  }

  // ------------------------------------------------------------------ rollback of refused creations

  /** @internal The server refused to create the thread: it leaves the state (if not stored after all). */
  dropOptimisticThread(threadId: string): void {
    if (!this.#threads.get(threadId)?.pending) return;
    this.#removeThread(threadId);
    this.#emitThreads();
  }
  /** @internal */
  dropOptimisticComment(commentId: string): void {
    if (!this.#commentThread.has(commentId)) return;
    this.#removeComment(commentId);
    this.#emitThreads();
  }
  /** @internal */
  dropOptimisticStroke(strokeId: string): void {
    if (!this.#drawing.some((d) => d.id === strokeId)) return;
    this.#drawing = this.#drawing.filter((d) => d.id !== strokeId);
    this.#events.emit('drawing', this.#drawing);
  }

  // ------------------------------------------------------------------ presence, notifications

  /** @internal */
  presenceChanged(member: PresenceMember | null, leftUserId?: string): void {
    if (member) this.#presence.set(member.userId, member);
    if (leftUserId) {
      this.#presence.delete(leftUserId);
      if (this.#cursors.delete(leftUserId)) this.#events.emit('cursor', { userId: leftUserId, position: null });
      for (const [key, t] of this.#typing) if (t.userId === leftUserId) this.#stopTyping(key);
    }
    this.#events.emit('presence', this.presence);
  }

  /** @internal */
  notificationCreated(n: Notification): void {
    if (this.#notifications.some((x) => x.id === n.id)) return;
    this.#notifications = [n, ...this.#notifications];
    this.#events.emit('notifications', this.#notifications);
  }

  /** @internal */
  notificationsRead(ids: string[], all: boolean): void {
    const set = new Set(ids);
    this.#notifications = this.#notifications.map((n) => (all || set.has(n.id) ? { ...n, read: true } : n));
    this.#events.emit('notifications', this.#notifications);
  }

  // ------------------------------------------------------------------ ephemeral events

  /** @internal Applies one tick's batch, skipping the user's own events. */
  ephemeral(events: EphemeralEvent[]): void {
    const self = this.#user?.id;
    for (const e of events) {
      if (e.userId === self) continue;
      switch (e.type) {
        case 'cursor:move':
          this.#cursors.set(e.userId, e.position);
          this.#events.emit('cursor', { userId: e.userId, position: e.position });
          break;
        case 'cursor:leave':
          this.#cursors.delete(e.userId);
          this.#events.emit('cursor', { userId: e.userId, position: null });
          break;
        case 'click':
          this.#events.emit('click', { userId: e.userId, position: e.position });
          break;
        case 'viewport':
          this.#events.emit('viewport', { userId: e.userId, ...e.viewport });
          break;
        case 'selection':
          this.#events.emit('selection', { userId: e.userId, selection: e.selection });
          break;
        case 'typing':
          this.#typingEvent(e.userId, e.threadId, e.typing);
          break;
        case 'emoji:drop':
          this.#events.emit('emoji-drop', { userId: e.userId, emoji: e.emoji, position: e.position });
          break;
      }
    }
  }

  #typingEvent(userId: string, threadId: string, typing: boolean): void {
    const key = `${userId}\u0000${threadId}`;
    const existing = this.#typing.get(key);
    if (!typing) return this.#stopTyping(key);
    if (existing) clearTimeout(existing.timer);
    // Typing expires by itself if the stop never comes (closed tab, lost connection).
    const timer = setTimeout(() => this.#stopTyping(key), TYPING_TTL_MS);
    (timer as { unref?: () => void }).unref?.();
    this.#typing.set(key, { userId, threadId, timer });
    if (!existing) this.#events.emit('typing', { userId, threadId, typing: true });
  }

  #stopTyping(key: string): void {
    const t = this.#typing.get(key);
    if (!t) return;
    clearTimeout(t.timer);
    this.#typing.delete(key);
    this.#events.emit('typing', { userId: t.userId, threadId: t.threadId, typing: false });
  }

  /** @internal Forgets live state of others (on disconnect). */
  clearLive(): void {
    for (const userId of [...this.#cursors.keys()]) this.#events.emit('cursor', { userId, position: null });
    this.#cursors.clear();
    for (const key of [...this.#typing.keys()]) this.#stopTyping(key);
  }
}

function mergeComments(existing: Comment[], incoming: Comment[]): Comment[] {
  const byId = new Map(existing.map((c) => [c.id, c]));
  for (const c of incoming) byId.set(c.id, c);
  return [...byId.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
}
