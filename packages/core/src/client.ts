import {
  CURSOR_THROTTLE_MS,
  PRESENCE_HEARTBEAT_MS,
  RECONNECT_BASE_DELAY_MS,
  RECONNECT_MAX_DELAY_MS,
  retryPolicyFor,
  type AuthOkPayload,
  type ClientMessage,
  type CursorPosition,
  type DeviceType,
  type DurableRoomEvent,
  type ErrorCode,
  type PinPosition,
  type PresenceStatus,
  type ServerMessage,
  type TextSelection,
  type ViewportState,
} from '@pulse/protocol/lite';
import { Emitter } from './emitter.ts';
import { resolveWebSocket, socketUrl, type SocketConstructor, type SocketLike } from './socket.ts';
import { PulseState } from './state.ts';
import { httpBase, uploadFile, type UploadOptions } from './upload.ts';

export type ConnectionState = 'connected' | 'connecting' | 'disconnected';

/** Returns a fresh user token; called on every connect and reconnect. */
export type TokenProvider = () => string | Promise<string>;

export interface PulseClientOptions {
  /** Publishable key (pk_…). */
  apiKey: string;
  /** User JWT from POST /auth/token, or a function returning a fresh one on every (re)connect. */
  token: string | TokenProvider;
  /** Room identifier. */
  room: string;
  /** Pulse server URL (wss://…, ws://…, or https://…). */
  endpoint: string;
  /** Device type shown in presence. Default: guessed in browsers, otherwise desktop. */
  deviceType?: DeviceType;
  /** WebSocket implementation, for Node without a global WebSocket (e.g. `ws`). */
  WebSocket?: SocketConstructor;
}

export interface PulseErrorEvent {
  code: ErrorCode;
  message: string;
  /** The request the error answers, when it answers one. */
  ref?: string;
  /** The type of that request. */
  requestType?: string;
}

/** Events of `client.on(…)`. */
export interface ClientEvents {
  [key: string]: unknown;
  connection: ConnectionState;
  'auth:ok': AuthOkPayload;
  'auth:error': { code: ErrorCode; message: string };
  /** A request failed (its optimistic change has been rolled back). */
  error: PulseErrorEvent;
  /** Durable operations waiting to be sent or acknowledged (the offline queue). */
  queue: number;
}

type DurableMessage = Extract<ClientMessage, { ref?: string }>;

interface Operation {
  ref: string;
  room: string;
  message: DurableMessage;
  /** Re-applies the optimistic change (after a state snapshot replaced it). */
  apply: () => void;
  sends: number;
}

const GAP_WAIT_MS = 1000;
const TYPING_REFRESH_MS = 2000;
const TYPING_IDLE_MS = 3000;

const newId = (prefix: string) => `${prefix}_${globalThis.crypto.randomUUID().replace(/-/g, '')}`;

function guessDevice(): DeviceType {
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '';
  if (/iPad|Tablet/i.test(ua)) return 'tablet';
  if (/Mobi|Android|iPhone/i.test(ua)) return 'mobile';
  return 'desktop';
}

/**
 * The framework-free Pulse client: one connection to one room. Connects and re-connects by
 * itself, keeps `state` current, applies your changes optimistically and queues them while
 * offline. Works in browsers and in Node.
 */
export class PulseClient {
  /** The room's live state; subscribe with `client.state.on(event, cb)`. */
  readonly state = new PulseState();
  readonly #events = new Emitter<ClientEvents>();
  readonly #options: PulseClientOptions;
  #socket: SocketLike | undefined;
  #connectionState: ConnectionState = 'disconnected';
  #authenticated = false;
  #wanted = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  readonly #ops = new Map<string, Operation>();
  #nextRef = 1;
  readonly #buffered = new Map<number, DurableRoomEvent>();
  #gapTimer: ReturnType<typeof setTimeout> | undefined;
  #cursor: { pending: CursorPosition | null | undefined; lastSent: number; timer: ReturnType<typeof setTimeout> | undefined } = {
    pending: undefined,
    lastSent: 0,
    timer: undefined,
  };
  readonly #typing = new Map<string, { sentAt: number; timer: ReturnType<typeof setTimeout> }>();
  #generation = 0;
  #status: PresenceStatus = 'online';
  #appearOffline = false;

  constructor(options: PulseClientOptions) {
    for (const key of ['apiKey', 'room', 'endpoint'] as const) {
      if (typeof options[key] !== 'string' || !options[key]) throw new TypeError(`PulseClient: option "${key}" is required`);
    }
    if (!options.token) throw new TypeError('PulseClient: option "token" is required');
    this.#options = { ...options };
  }

  // ------------------------------------------------------------------ connection

  /** "connected" once authenticated, "connecting" while (re)connecting, else "disconnected". */
  get connectionState(): ConnectionState {
    return this.#connectionState;
  }

  /** The room this client is in. */
  get room(): string {
    return this.#options.room;
  }

  /** Durable operations not yet acknowledged by the server. */
  get pendingOperations(): number {
    return this.#ops.size;
  }

  /** Subscribes to a client event; returns the unsubscribe function. */
  on<K extends keyof ClientEvents & string>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Connects (and keeps reconnecting until `disconnect()`). */
  connect(): void {
    if (this.#wanted) return;
    this.#wanted = true;
    this.#attempt = 0;
    void this.#open();
    this.#watchNetwork(true);
  }

  /** Disconnects and stops reconnecting. Queued operations stay queued for a later `connect()`. */
  disconnect(): void {
    this.#wanted = false;
    this.#watchNetwork(false);
    clearTimeout(this.#reconnectTimer);
    this.#teardown(1000, 'client disconnect');
    this.#setState('disconnected');
  }

  /** Moves to another room without a new client: reconnects and rebuilds state. */
  setRoom(room: string): void {
    if (room === this.#options.room) return;
    this.#options.room = room;
    // Operations belong to the room they were made in: they cannot follow to another room.
    for (const [ref, op] of this.#ops) if (op.room !== room) this.#ops.delete(ref);
    this.#events.emit('queue', this.#ops.size);
    this.#restart();
  }

  /** Replaces the token (a string or a provider) and re-authenticates. */
  setToken(token: string | TokenProvider): void {
    this.#options.token = token;
    this.#restart();
  }

  /** Resolves once every queued operation has been acknowledged (or failed). */
  async sync(timeoutMs = 10_000): Promise<void> {
    const start = Date.now();
    while (this.#ops.size > 0) {
      if (Date.now() - start > timeoutMs) throw new Error(`${this.#ops.size} operations still pending`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  #restart(): void {
    if (!this.#wanted) return;
    clearTimeout(this.#reconnectTimer);
    this.#teardown(1000, 'reconnecting');
    this.#attempt = 0;
    void this.#open();
  }

  #setState(state: ConnectionState): void {
    if (state === this.#connectionState) return;
    this.#connectionState = state;
    this.#events.emit('connection', state);
  }

  async #open(): Promise<void> {
    const generation = ++this.#generation;
    this.#setState('connecting');
    let token: string;
    let Ctor: SocketConstructor;
    try {
      Ctor = await resolveWebSocket(this.#options.WebSocket);
      token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#events.emit('error', { code: 'unauthorized', message: `Could not get a token: ${(err as Error).message}` });
      return this.#scheduleReconnect();
    }
    if (generation !== this.#generation || !this.#wanted) return;
    const socket = new Ctor(socketUrl(this.#options.endpoint));
    this.#socket = socket;
    socket.onopen = () => {
      this.#sendRaw({
        type: 'auth',
        apiKey: this.#options.apiKey,
        token,
        room: this.#options.room,
        deviceType: this.#options.deviceType ?? guessDevice(),
      });
    };
    socket.onmessage = (ev) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data));
      } catch {
        return;
      }
      this.#receive(message);
    };
    socket.onerror = () => {};
    socket.onclose = (ev) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#lost(ev.code, ev.reason);
    };
  }

  #lost(code: number, reason: string): void {
    this.#authenticated = false;
    clearInterval(this.#heartbeat);
    this.state.clearLive();
    if (!this.#wanted) return this.#setState('disconnected');
    const policy = retryPolicyFor(code);
    if (policy === 'never' || (policy === 'refresh-token' && typeof this.#options.token !== 'function')) {
      this.#wanted = false;
      this.#setState('disconnected');
      if (code !== 1000) this.#events.emit('error', { code: 'unauthorized', message: `Connection closed (${code} ${reason}); not reconnecting.` });
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (!this.#wanted) return;
    this.#setState('connecting');
    // Exponential backoff from 1 s to 30 s, with jitter so a restarted server is not stampeded.
    const ceiling = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_BASE_DELAY_MS * 2 ** this.#attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#attempt++;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => void this.#open(), delay);
  }

  #teardown(code: number, reason: string): void {
    this.#generation++;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#authenticated = false;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#gapTimer);
    this.#buffered.clear();
    this.state.clearLive();
    if (socket && (socket.readyState === 0 || socket.readyState === 1)) socket.close(code, reason);
  }

  #onlineListener = () => {
    if (this.#wanted && !this.#socket) {
      this.#attempt = 0;
      clearTimeout(this.#reconnectTimer);
      void this.#open();
    }
  };

  #watchNetwork(on: boolean): void {
    const w = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
    if (typeof w.addEventListener !== 'function' || typeof (globalThis as { document?: unknown }).document === 'undefined') return;
    if (on) w.addEventListener('online', this.#onlineListener);
    else w.removeEventListener!('online', this.#onlineListener);
  }

  #sendRaw(message: ClientMessage): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /** Sends an ephemeral message now if authenticated; otherwise drops it (it would be stale). */
  #sendLive(message: ClientMessage): void {
    if (this.#authenticated) this.#sendRaw(message);
  }

  // ------------------------------------------------------------------ incoming

  #receive(message: ServerMessage): void {
    switch (message.type) {
      case 'auth:ok':
        return this.#onAuthOk(message);
      case 'auth:error':
        this.#events.emit('auth:error', { code: message.code, message: message.message });
        return;
      case 'error':
        return this.#onError(message);
      case 'ack': {
        const op = this.#ops.get(message.ref);
        this.#ops.delete(message.ref);
        // A retried create may be acknowledged without a new event: the thread is stored either way.
        if (op?.message.type === 'thread:create') this.state.confirmThread(op.message.id);
        this.#events.emit('queue', this.#ops.size);
        return;
      }
      case 'batch':
        return this.state.ephemeral(message.events);
      case 'presence:join':
      case 'presence:update':
        return this.state.presenceChanged(message.member);
      case 'presence:leave':
        return this.state.presenceChanged(null, message.userId);
      case 'notification:created':
        return this.state.notificationCreated(message.notification);
      case 'notifications:read':
        return this.state.notificationsRead(message.ids, message.all);
      case 'config:updated': {
        const presenceWasOff = !this.state.config.showPresence;
        this.state.setConfig(message.config);
        // Presence changes were not sent while it was off: fetch the current room.
        if (presenceWasOff && message.config.showPresence) this.#resync();
        return;
      }
      case 'room:state':
        this.#buffered.clear();
        clearTimeout(this.#gapTimer);
        this.state.room(message.room);
        this.#reapplyPending();
        return;
      default:
        if ('seq' in message) this.#onDurable(message);
    }
  }

  #onAuthOk(message: Extract<ServerMessage, { type: 'auth:ok' }>): void {
    this.#authenticated = true;
    this.#attempt = 0;
    this.#buffered.clear();
    const { type: _type, ...payload } = message;
    this.state.authenticated(payload);
    this.#reapplyPending();
    this.#setState('connected');
    this.#events.emit('auth:ok', payload);
    // Queued operations go out in the order they were made.
    for (const op of this.#ops.values()) {
      if (op.room !== this.#options.room) continue;
      op.sends++;
      this.#sendRaw(op.message);
    }
    // Presence choices survive reconnects.
    if (this.#status !== 'online') this.#sendRaw({ type: 'presence:update', status: this.#status });
    if (this.#appearOffline) this.#sendRaw({ type: 'presence:appear-offline', appearOffline: true });
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#sendLive({ type: 'presence:heartbeat' }), PRESENCE_HEARTBEAT_MS);
    (this.#heartbeat as { unref?: () => void }).unref?.();
  }

  #reapplyPending(): void {
    for (const op of this.#ops.values()) if (op.room === this.#options.room) op.apply();
  }

  #onError(message: Extract<ServerMessage, { type: 'error' }>): void {
    const op = message.ref ? this.#ops.get(message.ref) : undefined;
    if (op) {
      this.#ops.delete(op.ref);
      this.#events.emit('queue', this.#ops.size);
      // A delete resent after a reconnect may find its work already done.
      const alreadyDone = op.sends > 1 && message.code.endsWith('_not_found') && /delete|remove/.test(op.message.type);
      if (alreadyDone) return;
      this.#resync();
    }
    this.#events.emit('error', {
      code: message.code,
      message: message.message,
      ...(message.ref ? { ref: message.ref } : {}),
      ...(op ? { requestType: op.message.type } : {}),
    });
  }

  #onDurable(event: DurableRoomEvent): void {
    const expected = this.state.seq + 1;
    if (event.seq < expected) return; // already in our state
    if (event.seq > expected) {
      // Events may overtake each other between nodes; wait briefly for the missing ones.
      this.#buffered.set(event.seq, event);
      this.#gapTimer ??= setTimeout(() => {
        this.#gapTimer = undefined;
        if (this.#buffered.size > 0) this.#resync();
      }, GAP_WAIT_MS);
      return;
    }
    this.state.apply(event);
    this.state.setSeq(event.seq);
    let next = this.#buffered.get(this.state.seq + 1);
    while (next) {
      this.#buffered.delete(next.seq);
      this.state.apply(next);
      this.state.setSeq(next.seq);
      next = this.#buffered.get(this.state.seq + 1);
    }
    if (this.#buffered.size === 0) {
      clearTimeout(this.#gapTimer);
      this.#gapTimer = undefined;
    }
  }

  #resync(): void {
    this.#sendLive({ type: 'room:resync' });
  }

  // ------------------------------------------------------------------ durable operations

  #enqueue(message: DurableMessage, apply: () => void): string {
    const ref = String(this.#nextRef++);
    const op: Operation = { ref, room: this.#options.room, message: { ...message, ref } as DurableMessage, apply, sends: 0 };
    this.#ops.set(ref, op);
    apply();
    if (this.#authenticated) {
      op.sends++;
      this.#sendRaw(op.message);
    }
    this.#events.emit('queue', this.#ops.size);
    return ref;
  }

  #me(): string {
    const user = this.state.user;
    if (!user) throw new Error('PulseClient: not authenticated yet (wait for the "auth" state event)');
    return user.id;
  }

  /**
   * Creates a thread with its first comment. Returns the new thread's id at once; the thread
   * appears in `state.threads` immediately (pending until the server confirms).
   */
  createThread(
    body: string,
    options: { mentions?: string[]; position?: PinPosition | null; attachmentIds?: string[] } = {},
  ): string {
    const userId = this.#me();
    const id = newId('thread');
    const commentId = newId('comment');
    const now = new Date().toISOString();
    const position = options.position ?? null;
    const mentions = options.mentions ?? [];
    this.#enqueue(
      { type: 'thread:create', id, commentId, body, mentions, position, ...(options.attachmentIds?.length ? { attachmentIds: options.attachmentIds } : {}) },
      () =>
        this.state.optimisticThread({
          id,
          roomId: this.#options.room,
          resolved: false,
          position,
          positionX: position?.x ?? null,
          positionY: position?.y ?? null,
          createdAt: now,
          updatedAt: now,
          comments: [{ id: commentId, threadId: id, userId, body, mentions, createdAt: now, editedAt: null, reactions: [], attachments: [] }],
        }),
    );
    return id;
  }

  /** Replies to a thread; returns the new comment's id at once. */
  reply(threadId: string, body: string, mentions: string[] = [], attachmentIds: string[] = []): string {
    const userId = this.#me();
    const id = newId('comment');
    const now = new Date().toISOString();
    this.#enqueue(
      { type: 'comment:create', id, threadId, body, mentions, ...(attachmentIds.length ? { attachmentIds } : {}) },
      () => this.state.optimisticComment({ id, threadId, userId, body, mentions, createdAt: now, editedAt: null, reactions: [], attachments: [] }),
    );
    return id;
  }

  /** Edits your own comment. */
  editComment(commentId: string, body: string, mentions?: string[]): void {
    this.#enqueue({ type: 'comment:edit', commentId, body, ...(mentions ? { mentions } : {}) }, () =>
      this.state.optimisticEdit(commentId, body, mentions),
    );
  }

  /** Deletes your own comment (and its thread, if it was the last comment). */
  deleteComment(commentId: string): void {
    this.#enqueue({ type: 'comment:delete', commentId }, () => this.state.optimisticDeleteComment(commentId));
  }

  /** Resolves (true) or reopens (false) a thread. */
  resolveThread(threadId: string, resolved: boolean): void {
    this.#enqueue({ type: 'thread:resolve', threadId, resolved }, () => this.state.optimisticResolve(threadId, resolved));
  }

  /** Deletes a thread you started. */
  deleteThread(threadId: string): void {
    this.#enqueue({ type: 'thread:delete', threadId }, () => this.state.optimisticDeleteThread(threadId));
  }

  /** Adds your reaction (one per emoji per comment). */
  addReaction(targetId: string, targetType: 'comment', emoji: string): void {
    const userId = this.#me();
    const tempId = newId('reaction');
    const now = new Date().toISOString();
    this.#enqueue({ type: 'reaction:add', targetId, targetType, emoji }, () => {
      const mine = this.state.comment(targetId)?.reactions.some((r) => r.userId === userId && r.emoji === emoji);
      if (!mine) this.state.optimisticReaction({ id: tempId, targetId, targetType, userId, emoji, createdAt: now });
    });
  }

  /** Removes one of your reactions. */
  removeReaction(reactionId: string): void {
    this.#enqueue({ type: 'reaction:remove', reactionId }, () => this.state.optimisticRemoveReaction(reactionId));
  }

  /** Draws a stroke (points relative to the document, 0–1); returns its id. */
  drawStroke(points: [number, number][], color: string, width: number): string {
    const userId = this.#me();
    const id = newId('stroke');
    const now = new Date().toISOString();
    this.#enqueue({ type: 'draw:stroke', id, points, color, width }, () =>
      this.state.optimisticStroke({ id, userId, points, color, width, createdAt: now }),
    );
    return id;
  }

  /** Clears the room's drawing for everyone. */
  clearDrawing(): void {
    this.#enqueue({ type: 'draw:clear' }, () => {});
  }

  /** Marks notifications read: the given ids, or all of them. */
  markNotificationsRead(ids: string[] | 'all' = 'all'): void {
    this.#enqueue(ids === 'all' ? { type: 'notifications:read', all: true } : { type: 'notifications:read', ids }, () =>
      this.state.notificationsRead(ids === 'all' ? [] : ids, ids === 'all'),
    );
  }

  // ------------------------------------------------------------------ attachments

  /**
   * Uploads a file (image, audio or video) for attaching to a thread or reply; resolves with
   * the attachment record, whose `id` goes into `attachmentIds`. Reports progress; rejects with
   * an `UploadError` carrying the server's code (e.g. `file_too_large`, `images_disabled`).
   */
  async upload(file: Blob, options: UploadOptions = {}) {
    return uploadFile({ baseUrl: httpBase(this.#options.endpoint), apiKey: this.#options.apiKey, token: await this.currentToken() }, file, options);
  }

  /**
   * A token for HTTP calls beside the socket (uploads, user lookups): fresh from the token
   * provider when there is one (a page may stay open past the socket's token), else the token.
   */
  async currentToken(): Promise<string> {
    if (typeof this.#options.token === 'function') return this.#options.token();
    return this.#options.token;
  }

  // ------------------------------------------------------------------ presence and live interactions

  /** Sends your cursor; throttled to one message per 50 ms (the last position always goes out). */
  moveCursor(position: CursorPosition | null): void {
    const c = this.#cursor;
    c.pending = position;
    if (c.timer) return;
    const wait = CURSOR_THROTTLE_MS - (Date.now() - c.lastSent);
    const flush = () => {
      c.timer = undefined;
      if (c.pending === undefined) return;
      c.lastSent = Date.now();
      this.#sendLive(c.pending ? { type: 'cursor:move', position: c.pending } : { type: 'cursor:leave' });
      c.pending = undefined;
    };
    if (wait <= 0) flush();
    else c.timer = setTimeout(flush, wait);
  }

  /** Sets your presence status (kept across reconnects). */
  updatePresence(status: PresenceStatus): void {
    this.#status = status;
    this.#sendLive({ type: 'presence:update', status });
  }

  /** Hides you from everyone's presence and live cursors (you still see them); kept across reconnects. */
  setAppearOffline(appearOffline: boolean): void {
    this.#appearOffline = appearOffline;
    this.#sendLive({ type: 'presence:appear-offline', appearOffline });
  }

  /** Shows a click ripple at a position for the others. */
  sendClick(position: CursorPosition): void {
    this.#sendLive({ type: 'click', position });
  }

  /** Shares your scroll position (for follow mode). */
  sendViewport(viewport: ViewportState): void {
    this.#sendLive({ type: 'viewport', viewport });
  }

  /** Shares your text selection, or null when it is cleared. */
  sendSelection(selection: TextSelection | null): void {
    this.#sendLive({ type: 'selection', selection });
  }

  /** Says you are typing in a thread. Call it on every keystroke: it refreshes and stops by itself. */
  startTyping(threadId: string): void {
    const now = Date.now();
    const entry = this.#typing.get(threadId);
    if (entry) clearTimeout(entry.timer);
    if (!entry || now - entry.sentAt > TYPING_REFRESH_MS) this.#sendLive({ type: 'typing:start', threadId });
    const timer = setTimeout(() => this.stopTyping(threadId), TYPING_IDLE_MS);
    this.#typing.set(threadId, { sentAt: entry && now - entry.sentAt <= TYPING_REFRESH_MS ? entry.sentAt : now, timer });
  }

  /** Says you stopped typing in a thread. */
  stopTyping(threadId: string): void {
    const entry = this.#typing.get(threadId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#typing.delete(threadId);
    this.#sendLive({ type: 'typing:stop', threadId });
  }

  /** Drops an emoji at a position for everyone to see. */
  sendEmoji(emoji: string, position: CursorPosition): void {
    this.#sendLive({ type: 'emoji:drop', emoji, position });
  }
}
