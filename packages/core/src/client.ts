import {
  CURSOR_THROTTLE_MS,
  LIMITS,
  PRESENCE_HEARTBEAT_MS,
  RECONNECT_BASE_DELAY_MS,
  RECONNECT_MAX_DELAY_MS,
  retryPolicyFor,
  type AuthOkPayload,
  type ClientMessage,
  type ClientMessageOf,
  type CursorPosition,
  type DeviceType,
  type DURABLE_TYPES,
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
import { refreshDelay, tokenExpiry } from './token.ts';
import { deleteUpload, httpBase, uploadFile, type UploadOptions } from './upload.ts';
import { writeBudget } from './send-budget.ts';
import { P2PManager } from './p2p/manager.ts';
import type { P2PServerMessage } from '@pulse/protocol/lite';

export type ConnectionState = 'connected' | 'connecting' | 'disconnected';

/** Returns a fresh user token; called on every connect and reconnect, and before the token expires. */
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

/** A durable request: stored by the server, acknowledged, queued while offline. */
export type DurableRequest = ClientMessageOf<(typeof DURABLE_TYPES)[number]>;

/**
 * Codes of the `error` event: the error catalogue's, plus `not_sent` for a request the client
 * dropped before the server answered it (it left the room with `setRoom` while the request waited).
 */
export type PulseErrorCode = ErrorCode | 'not_sent';

export interface PulseErrorEvent {
  code: PulseErrorCode;
  message: string;
  /** The request the error answers, when it answers one. */
  ref?: string;
  /** The type of that request. */
  requestType?: DurableRequest['type'];
  /** That request as the client sent it (or would have): its type and fields, with its `ref`. */
  request?: DurableRequest;
}

/** Events of `client.on(…)`. */
export interface ClientEvents {
  [key: string]: unknown;
  connection: ConnectionState;
  'auth:ok': AuthOkPayload;
  'auth:error': { code: ErrorCode; message: string };
  /** A request failed (its optimistic change is rolled back), or connecting failed. */
  error: PulseErrorEvent;
  /** Durable operations waiting to be sent or acknowledged (the offline queue). */
  queue: number;
}

interface Operation {
  ref: string;
  room: string;
  message: DurableRequest;
  /** Re-applies the optimistic change (after a state snapshot replaced it). */
  apply: () => void;
  /** Takes a created object out of the state at once when the server refuses it. */
  undo?: () => void;
  /** What it acts on, when known when it was made: a later delete of either makes its `_not_found` expected. */
  target: { commentId?: string; threadId?: string };
  /** What it deletes (a delete of a thread's last comment deletes the thread too). */
  deletes?: { commentId?: string; threadId?: string };
  sends: number;
  /** The socket it was last sent on: sent again on any other. */
  sentOn: SocketLike | undefined;
  /** Times the server refused it as saturated (`service_unavailable`). */
  refusals: number;
  /** Waiting to be sent again after such a refusal; nothing queued behind it goes out meanwhile. */
  backoff?: ReturnType<typeof setTimeout>;
  /**
   * A socket it was sent on after a request that the server then refused as saturated: it may have
   * run out of order there, so it is sent again after that one, and its answer on this socket is
   * ignored.
   */
  staleOn?: SocketLike;
}

const GAP_WAIT_MS = 1000;
const TYPING_REFRESH_MS = 2000;
const TYPING_IDLE_MS = 3000;
/** After a token refresh, how long the old socket may take to answer the requests sent on it. */
const DRAIN_TIMEOUT_MS = 5000;
/** A connection closed for its token is re-opened at once, unless the last such reopen was this recent. */
const TOKEN_RECONNECT_MIN_INTERVAL_MS = 10_000;
/**
 * A request refused without being run, as saturated (`service_unavailable`) or over a limit
 * shared with other sockets of the user (`rate_limited`: their writes, or the users an author's
 * mentions notify), is sent again after 250 ms, 500 ms, … up to 5 s (with jitter)…
 */
const SATURATED_RETRY_BASE_MS = 250;
const SATURATED_RETRY_MAX_MS = 5000;
/** …and reported (and rolled back) at its 8th refusal, some 9 to 18 seconds after the first. */
const SATURATED_MAX_REFUSALS = 8;
const RETRIED = new Set<string>(['service_unavailable', 'rate_limited']);

const newId = (prefix: string) => `${prefix}_${globalThis.crypto.randomUUID().replace(/-/g, '')}`;
const unref = (timer: ReturnType<typeof setTimeout>) => (timer as { unref?: () => void }).unref?.();

function guessDevice(): DeviceType {
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '';
  if (/iPad|Tablet/i.test(ua)) return 'tablet';
  if (/Mobi|Android|iPhone/i.test(ua)) return 'mobile';
  return 'desktop';
}

/** Why a request can never be sent (the server would refuse the frame whatever it holds), if it cannot. */
function unsendable(request: DurableRequest): { code: PulseErrorCode; message: string } | undefined {
  let text: string;
  try {
    text = JSON.stringify(request);
  } catch (err) {
    return { code: 'invalid_message', message: `The request cannot be encoded as JSON: ${(err as Error).message}` };
  }
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > LIMITS.wsMessageBytes) {
    return { code: 'message_too_big', message: `The request is ${bytes} bytes as JSON; frames are limited to ${LIMITS.wsMessageBytes}.` };
  }
  return undefined;
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
  /** The connection in use. */
  #socket: SocketLike | undefined;
  /** A connection opened on a fresh token, authenticating to replace `#socket` (token refresh). */
  #standby: SocketLike | undefined;
  /** The connection `#standby` replaced, kept until it has answered the requests sent on it. */
  #retiring: SocketLike | undefined;
  readonly #tokenOf = new WeakMap<SocketLike, string>();
  #connectionState: ConnectionState = 'disconnected';
  #authenticated = false;
  #wanted = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #lastTokenReconnect = -Infinity;
  /** Server clock minus local clock, from the last `auth:ok`. */
  #clockSkewMs = 0;
  readonly #writes = writeBudget();
  readonly #ops = new Map<string, Operation>();
  #nextRef = 1;
  readonly #buffered = new Map<number, DurableRoomEvent>();
  #gapTimer: ReturnType<typeof setTimeout> | undefined;
  #resyncing: 'no' | 'sent' | 'again' = 'no';
  /** The ref of the `room:resync` under way; a refused one is asked again after a growing delay. */
  #resyncRef: string | undefined;
  #resyncRefusals = 0;
  #resyncTimer: ReturnType<typeof setTimeout> | undefined;
  #cursor: { pending: CursorPosition | null | undefined; lastSent: number; timer: ReturnType<typeof setTimeout> | undefined } = {
    pending: undefined,
    lastSent: 0,
    timer: undefined,
  };
  readonly #typing = new Map<string, { sentAt: number; timer: ReturnType<typeof setTimeout> }>();
  #generation = 0;
  #status: PresenceStatus = 'online';
  #appearOffline = false;
  /** The room's P2P session, once asked for (`client.p2p`). */
  #p2p: Promise<P2PManager> | undefined;
  /** The manager behind `#p2p`, also before it has joined. */
  #p2pManager: P2PManager | undefined;
  #p2pReceiver: ((message: P2PServerMessage) => void) | undefined;

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

  /**
   * The room's P2P shared data: shared maps, lists and counters, raw messages and peer info.
   * Resolves once the room's shared state is loaded (after the client is connected); rejects with
   * a `P2PError` (code `p2p_disabled`) when the environment has `allowP2P: false`. Every access
   * returns the same manager until it is torn down (`destroy()`, allowP2P turned off).
   */
  get p2p(): Promise<P2PManager> {
    if (!this.#p2p) {
      const manager = new P2PManager({
        send: (message) => this.#authenticated && this.#sendRaw(message),
        config: () => this.state.config,
        room: () => this.#options.room,
        connected: () => this.#authenticated,
        onAuthenticated: (listener) => this.#events.on('auth:ok', () => listener()),
        onDisconnected: (listener) => this.#events.on('connection', (state) => state !== 'connected' && listener(state === 'disconnected' && !this.#wanted)),
        onConfig: (listener) => this.state.on('config', listener),
        receive: (listener) => (this.#p2pReceiver = listener),
        released: () => {
          // A manager torn down late (an old room's) must not forget the current one.
          if (this.#p2pManager !== manager) return;
          this.#p2p = undefined;
          this.#p2pManager = undefined;
        },
      });
      const started = manager.start().then(() => manager);
      this.#p2p = started;
      this.#p2pManager = manager;
      started.catch(() => {
        // A join refused for good: this manager is done (a later client.p2p makes a new one).
        manager.destroy();
        if (this.#p2p === started) this.#p2p = undefined;
        if (this.#p2pManager === manager) this.#p2pManager = undefined;
      });
    }
    return this.#p2p;
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
    const left = this.#options.room;
    this.#options.room = room;
    // Operations belong to the room they were made in: they cannot follow to another room.
    const dropped = [...this.#ops.values()].filter((op) => op.room !== room);
    for (const op of dropped) {
      clearTimeout(op.backoff);
      this.#ops.delete(op.ref);
    }
    this.#events.emit('queue', this.#ops.size);
    // On the old connection, before it closes: the old room's P2P session ends and hands over what it has not stored.
    this.#p2pManager?.roomChanged(room);
    this.#restart();
    for (const op of dropped) {
      this.#emitError(
        {
          code: 'not_sent',
          message:
            op.sends === 0
              ? `Not sent: the client left room "${left}" before it could send this request.`
              : `Not confirmed: the client left room "${left}" before the server answered this request; it may have been applied.`,
        },
        op,
      );
    }
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

  async #token(): Promise<string> {
    return typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token;
  }

  /** Opens the connection (never rejects: failures are reported and retried). */
  async #open(): Promise<void> {
    const generation = ++this.#generation;
    this.#setState('connecting');
    let step = 'connect';
    try {
      let Ctor: SocketConstructor;
      try {
        Ctor = await resolveWebSocket(this.#options.WebSocket);
      } catch (err) {
        // A setup mistake that no retry mends.
        if (generation !== this.#generation) return;
        this.#wanted = false;
        this.#watchNetwork(false);
        this.#setState('disconnected');
        this.#events.emit('error', { code: 'validation_failed', message: `${(err as Error).message} Not connecting.` });
        return;
      }
      step = 'get a token';
      const token = await this.#token();
      if (generation !== this.#generation || !this.#wanted) return;
      step = 'connect';
      this.#socket = this.#dial(Ctor, token);
    } catch (err) {
      if (generation !== this.#generation) return;
      this.state.clearLive();
      this.#events.emit('error', { code: 'unauthorized', message: `Could not ${step}: ${(err as Error).message}` });
      this.#scheduleReconnect();
    }
  }

  /** A new socket that authenticates with `token` as soon as it opens. */
  #dial(Ctor: SocketConstructor, token: string): SocketLike {
    const socket = new Ctor(socketUrl(this.#options.endpoint));
    this.#tokenOf.set(socket, token);
    socket.onopen = () => {
      this.#sendOn(socket, {
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
      this.#receiveFrom(socket, message);
    };
    socket.onerror = () => {};
    socket.onclose = (ev) => this.#closed(socket, ev.code, ev.reason);
    return socket;
  }

  #closed(socket: SocketLike, code: number, reason: string): void {
    if (socket === this.#socket) {
      this.#socket = undefined;
      this.#lost(code, reason);
    } else if (socket === this.#standby) {
      // The early token refresh failed; the server's close at expiry will be handled instead.
      this.#standby = undefined;
    } else if (socket === this.#retiring) {
      // Requests it did not answer are sent again on the new connection (they are idempotent).
      this.#retiring = undefined;
      clearTimeout(this.#drainTimer);
      this.#pump();
    }
  }

  #lost(code: number, reason: string): void {
    const wasAuthenticated = this.#authenticated;
    this.#authenticated = false;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#pumpTimer);
    this.#resyncing = 'no';
    clearTimeout(this.#resyncTimer);
    this.#closeSide(1000, 'connection lost');
    if (!this.#wanted) {
      this.state.clearLive();
      return this.#setState('disconnected');
    }
    const policy = retryPolicyFor(code);
    const canRefresh = typeof this.#options.token === 'function';
    if (policy === 'never' || (policy === 'refresh-token' && !canRefresh)) {
      this.#wanted = false;
      this.state.clearLive();
      this.#setState('disconnected');
      if (code !== 1000) this.#events.emit('error', { code: 'unauthorized', message: `Connection closed (${code} ${reason}); not reconnecting.` });
      return;
    }
    const now = Date.now();
    if (policy === 'refresh-token' && wasAuthenticated && now - this.#lastTokenReconnect >= TOKEN_RECONNECT_MIN_INTERVAL_MS) {
      // A working connection whose token ran out (or whose minting key was revoked): get a fresh
      // token and reconnect at once. Live state (cursors, typing) is kept: this is a short gap.
      this.#lastTokenReconnect = now;
      clearTimeout(this.#reconnectTimer);
      void this.#open();
      return;
    }
    this.state.clearLive();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (!this.#wanted) return;
    this.#setState('connecting');
    // Exponential backoff from 1 s to 30 s, with jitter so a restarted server is not stampeded.
    // While the browser says it is offline, dialling only fails: the `online` event reconnects,
    // and a try every 30 s covers a browser that never says so.
    const ceiling = browserOffline() ? RECONNECT_MAX_DELAY_MS : Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_BASE_DELAY_MS * 2 ** this.#attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#attempt++;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => void this.#open(), delay);
  }

  /** Closes the standby and retiring sockets of a token refresh, if any. */
  #closeSide(code: number, reason: string): void {
    const side = [this.#standby, this.#retiring];
    this.#standby = undefined;
    this.#retiring = undefined;
    clearTimeout(this.#drainTimer);
    for (const socket of side) if (socket && (socket.readyState === 0 || socket.readyState === 1)) socket.close(code, reason);
  }

  #teardown(code: number, reason: string): void {
    this.#generation++;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#authenticated = false;
    this.#resyncing = 'no';
    clearTimeout(this.#resyncTimer);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#gapTimer);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#pumpTimer);
    this.#buffered.clear();
    this.state.clearLive();
    this.#closeSide(code, reason);
    if (socket && (socket.readyState === 0 || socket.readyState === 1)) socket.close(code, reason);
  }

  #onlineListener = () => {
    if (this.#wanted && !this.#socket) {
      this.#attempt = 0;
      clearTimeout(this.#reconnectTimer);
      void this.#open();
    }
  };

  /**
   * The browser knows the network is gone long before a dead socket times out (tens of seconds
   * without a close): drop the socket now, so the page shows it is reconnecting and what waits to
   * be sent. The queue is kept; `online` reconnects at once.
   */
  #offlineListener = () => {
    if (!this.#wanted || !this.#socket) return;
    this.#teardown(1000, 'offline');
    this.#scheduleReconnect();
  };

  #watchNetwork(on: boolean): void {
    const w = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
    if (typeof w.addEventListener !== 'function' || typeof (globalThis as { document?: unknown }).document === 'undefined') return;
    if (on) {
      w.addEventListener('online', this.#onlineListener);
      w.addEventListener('offline', this.#offlineListener);
    } else {
      w.removeEventListener!('online', this.#onlineListener);
      w.removeEventListener!('offline', this.#offlineListener);
    }
  }

  #sendOn(socket: SocketLike | undefined, message: ClientMessage): boolean {
    if (!socket || socket.readyState !== 1) return false;
    try {
      socket.send(JSON.stringify(message));
      return true;
    } catch {
      // The socket is going away; its close event follows, and queued requests are sent again.
      return false;
    }
  }

  #sendRaw(message: ClientMessage): boolean {
    return this.#sendOn(this.#socket, message);
  }

  /** Sends an ephemeral message now if authenticated; otherwise drops it (it would be stale). */
  #sendLive(message: ClientMessage): void {
    if (this.#authenticated) this.#sendRaw(message);
  }

  // ------------------------------------------------------------------ token refresh

  /** Schedules replacing the connection shortly before its token expires (token functions only). */
  #scheduleTokenRefresh(): void {
    clearTimeout(this.#refreshTimer);
    const token = this.#socket && this.#tokenOf.get(this.#socket);
    const expiry = token ? tokenExpiry(token) : undefined;
    if (typeof this.#options.token !== 'function' || expiry === undefined) return;
    const delay = refreshDelay(expiry - (Date.now() + this.#clockSkewMs));
    if (delay === undefined) return;
    this.#refreshTimer = setTimeout(() => void this.#refreshToken(), delay);
    unref(this.#refreshTimer);
  }

  /**
   * Opens a second connection on a fresh token; once it is authenticated it replaces the current
   * one, which the server would otherwise close at expiry. Never rejects: if anything fails, the
   * current connection carries on and the close at expiry is handled like any other.
   */
  async #refreshToken(): Promise<void> {
    const current = this.#socket;
    if (!current || !this.#authenticated || this.#standby || this.#retiring) return;
    const currentExpiry = tokenExpiry(this.#tokenOf.get(current) ?? '');
    let token: string;
    let Ctor: SocketConstructor;
    try {
      Ctor = await resolveWebSocket(this.#options.WebSocket);
      token = await this.#token();
    } catch (err) {
      if (current === this.#socket) this.#events.emit('error', { code: 'unauthorized', message: `Could not get a token: ${(err as Error).message}` });
      return;
    }
    if (current !== this.#socket || !this.#authenticated || this.#standby || this.#retiring || !this.#wanted) return;
    const expiry = tokenExpiry(token);
    // The same (cached) token again: nothing to gain from a new connection.
    if (currentExpiry !== undefined && (expiry === undefined || expiry <= currentExpiry)) return;
    try {
      this.#standby = this.#dial(Ctor, token);
    } catch {
      this.#standby = undefined;
    }
  }

  /** The standby connection is authenticated: it becomes the connection, without a gap. */
  #promote(message: Extract<ServerMessage, { type: 'auth:ok' }>): void {
    const old = this.#socket;
    this.#socket = this.#standby;
    this.#standby = undefined;
    if (old) {
      this.#retiring = old;
      clearTimeout(this.#drainTimer);
      this.#drainTimer = setTimeout(() => this.#retire(), DRAIN_TIMEOUT_MS);
      unref(this.#drainTimer);
    }
    this.#onAuthOk(message, true);
    this.#retireIfDrained();
  }

  #retireIfDrained(): void {
    const retiring = this.#retiring;
    // It has answered every request sent on it, including those whose answers are ignored (staleOn).
    if (retiring && ![...this.#ops.values()].some((op) => op.sentOn === retiring || op.staleOn === retiring)) this.#retire();
  }

  #retire(): void {
    const retiring = this.#retiring;
    this.#retiring = undefined;
    clearTimeout(this.#drainTimer);
    if (retiring && (retiring.readyState === 0 || retiring.readyState === 1)) retiring.close(1000, 'token refreshed');
    this.#pump();
  }

  // ------------------------------------------------------------------ incoming

  #receiveFrom(socket: SocketLike, message: ServerMessage): void {
    if (socket === this.#socket) return this.#receive(message, socket);
    if (socket === this.#standby) {
      if (message.type === 'auth:ok') return this.#promote(message);
      if (message.type === 'auth:error') {
        // The fresh token was refused; the current connection carries on until it expires.
        this.#standby = undefined;
        socket.close(1000, 'token refused');
        this.#events.emit('error', { code: message.code, message: `Could not refresh the token: ${message.message}` });
      }
      return;
    }
    if (socket === this.#retiring) {
      // Only the answers to the requests sent on it: the new connection carries everything else.
      if (message.type === 'ack' || (message.type === 'error' && message.ref)) {
        this.#receive(message, socket);
        this.#retireIfDrained();
      }
    }
  }

  #receive(message: ServerMessage, from: SocketLike): void {
    if (message.type.startsWith('p2p:')) return this.#p2pReceiver?.(message as P2PServerMessage);
    switch (message.type) {
      case 'auth:ok':
        return this.#onAuthOk(message, false);
      case 'auth:error':
        this.#events.emit('auth:error', { code: message.code, message: message.message });
        return;
      case 'error':
        return this.#onError(message, from);
      case 'ack': {
        if (message.ref === this.#resyncRef) return; // its room:state came first
        const op = this.#ops.get(message.ref);
        if (op && this.#isStale(op, from)) return;
        this.#ops.delete(message.ref);
        // A retried create may be acknowledged without a new event: the thread is stored either way.
        if (op?.message.type === 'thread:create') this.state.confirmThread(op.message.id);
        this.#events.emit('queue', this.#ops.size);
        // The queue held behind a request the server had refused as saturated goes on.
        if (op && op.refusals > 0) this.#pump();
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
      case 'room:state': {
        this.#buffered.clear();
        clearTimeout(this.#gapTimer);
        this.#gapTimer = undefined;
        this.state.room(message.room);
        this.#reapplyPending();
        const again = this.#resyncing === 'again';
        this.#resyncing = 'no';
        this.#resyncRefusals = 0;
        if (again) this.#resync();
        return;
      }
      default:
        if ('seq' in message) this.#onDurable(message);
    }
  }

  /**
   * A connection is authenticated: load the state, re-apply and send the queue, go 'connected'.
   * `swap`: it replaces a working connection (token refresh); the state is only replaced if the
   * snapshot is newer than what the old connection delivered.
   */
  #onAuthOk(message: Extract<ServerMessage, { type: 'auth:ok' }>, swap: boolean): void {
    const { type: _type, ...payload } = message;
    // Not yet sendable: a listener of the state events below that makes a change gets it queued
    // behind the operations already waiting, which go out first, in order.
    this.#authenticated = false;
    const replaceRoom = !swap || payload.room.seq > this.state.seq;
    if (replaceRoom) {
      this.#buffered.clear();
      clearTimeout(this.#gapTimer);
      this.#gapTimer = undefined;
    }
    // A resync asked for on the replaced connection is answered there, and that answer is ignored.
    const resyncLost = swap && !replaceRoom && this.#resyncing !== 'no';
    this.state.authenticated(payload, replaceRoom);
    if (replaceRoom) this.#reapplyPending();
    const serverNow = Date.parse(payload.serverTime);
    this.#clockSkewMs = Number.isFinite(serverNow) ? serverNow - Date.now() : 0;
    this.#authenticated = true;
    this.#attempt = 0;
    this.#resyncing = 'no';
    this.#resyncRefusals = 0;
    this.#writes.reset();
    this.#pump();
    if (resyncLost) this.#resync();
    // Presence choices survive reconnects.
    if (this.#status !== 'online') this.#sendRaw({ type: 'presence:update', status: this.#status });
    if (this.#appearOffline) this.#sendRaw({ type: 'presence:appear-offline', appearOffline: true });
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#sendLive({ type: 'presence:heartbeat' }), PRESENCE_HEARTBEAT_MS);
    unref(this.#heartbeat);
    this.#scheduleTokenRefresh();
    this.#setState('connected');
    this.#events.emit('auth:ok', payload);
  }

  #reapplyPending(): void {
    for (const op of this.#ops.values()) if (op.room === this.#options.room) op.apply();
  }

  #onError(message: Extract<ServerMessage, { type: 'error' }>, from: SocketLike): void {
    if (message.ref !== undefined && message.ref === this.#resyncRef) return this.#resyncRefused();
    const op = message.ref ? this.#ops.get(message.ref) : undefined;
    if (!op) {
      // A connection-level notice. An expiring token is the client's business when it can get a new one.
      if (message.code === 'token_expired' && !message.ref && typeof this.#options.token === 'function') return;
      this.#emitError({ code: message.code, message: message.message, ...(message.ref ? { ref: message.ref } : {}) });
      return;
    }
    if (this.#isStale(op, from)) return;
    if (RETRIED.has(message.code) && op.refusals + 1 < SATURATED_MAX_REFUSALS) return this.#retryLater(op, from);
    // Resent after a reconnect, a request may find its object gone by this client's own hand: a
    // delete or remove whose work was done, or a change (run then, or moot now) to what a later
    // request of the queue deletes.
    const alreadyDone =
      op.sends > 1 && message.code.endsWith('_not_found') && (/delete|remove/.test(op.message.type) || this.#deletedLater(op));
    this.#ops.delete(op.ref);
    this.#events.emit('queue', this.#ops.size);
    // The queue held behind it goes on (after a request refused as saturated).
    if (op.refusals > 0 || RETRIED.has(message.code)) this.#pump();
    if (alreadyDone) return;
    // Roll back: a refused creation leaves at once; the server's copy of the room replaces the rest.
    op.undo?.();
    this.#resync();
    this.#emitError({ code: message.code, message: message.message }, op);
  }

  /**
   * The server refused `op` without running it (saturated, or over a limit): it keeps its place (and
   * its optimistic change) and is sent again, same ref and ids, after a growing, jittered delay.
   * Nothing queued behind it is sent before it is acknowledged. Requests already sent behind it on
   * that socket may have run without it (a reply before its thread): they are sent again after it,
   * and their answers to the first send are ignored.
   */
  #retryLater(op: Operation, from: SocketLike): void {
    op.refusals++;
    let behind = false;
    for (const other of this.#ops.values()) {
      if (other === op) behind = true;
      else if (behind && other.sentOn === from) {
        other.sentOn = undefined;
        other.staleOn = from;
      }
    }
    op.sentOn = undefined;
    const ceiling = Math.min(SATURATED_RETRY_MAX_MS, SATURATED_RETRY_BASE_MS * 2 ** (op.refusals - 1));
    clearTimeout(op.backoff);
    op.backoff = setTimeout(() => {
      op.backoff = undefined;
      this.#pump();
    }, ceiling / 2 + Math.random() * (ceiling / 2));
    unref(op.backoff);
  }

  /** An answer, on `from`, to a send made before an earlier request was refused as saturated: ignored. */
  #isStale(op: Operation, from: SocketLike): boolean {
    if (op.staleOn !== from) return false;
    op.staleOn = undefined;
    // It may now be sent again, if its turn has come.
    this.#pump();
    return true;
  }

  #emitError(error: { code: PulseErrorCode; message: string; ref?: string }, op?: Operation): void {
    this.#events.emit('error', op ? { ...error, ref: op.ref, requestType: op.message.type, request: op.message } : error);
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

  /** Asks for the room's state; one request at a time, and one more if asked again meanwhile. */
  #resync(): void {
    if (!this.#authenticated) return;
    if (this.#resyncing !== 'no') {
      this.#resyncing = 'again';
      return;
    }
    this.#resyncing = 'sent';
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = undefined;
    this.#resyncRef = `resync-${this.#nextRef++}`;
    this.#sendRaw({ type: 'room:resync', ref: this.#resyncRef });
  }

  /**
   * The server refused the resync (busy, or the write budget spent): the state still needs it, so
   * it is asked again after a growing, jittered delay, as saturated requests are (never given up:
   * until it is answered, refused changes stay rolled back only in part).
   */
  #resyncRefused(): void {
    this.#resyncing = 'no';
    this.#resyncRef = undefined;
    const ceiling = Math.min(SATURATED_RETRY_MAX_MS, SATURATED_RETRY_BASE_MS * 2 ** this.#resyncRefusals++);
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = setTimeout(() => this.#resync(), ceiling / 2 + Math.random() * (ceiling / 2));
    unref(this.#resyncTimer);
  }

  // ------------------------------------------------------------------ durable operations

  /**
   * Applies a change at once and queues its request. A request that could never be sent is
   * neither applied nor queued: it is reported on `error`.
   */
  #enqueue(message: DurableRequest, apply: () => void, undo?: () => void): void {
    const ref = String(this.#nextRef++);
    const request = { ...message, ref } as DurableRequest;
    const problem = unsendable(request);
    const target = this.#targetOf(message);
    if (problem) {
      const op: Operation = { ref, room: this.#options.room, message: request, apply, target, sends: 0, sentOn: undefined, refusals: 0 };
      queueMicrotask(() => this.#emitError(problem, op));
      return;
    }
    const deletes = this.#deletesOf(message, target);
    const op: Operation = {
      ref,
      room: this.#options.room,
      message: request,
      apply,
      ...(undo ? { undo } : {}),
      target,
      ...(deletes ? { deletes } : {}),
      sends: 0,
      sentOn: undefined,
      refusals: 0,
    };
    this.#ops.set(ref, op);
    apply();
    this.#pump();
    this.#events.emit('queue', this.#ops.size);
  }

  /** The comment and thread a request acts on, as far as it and the state say. */
  #targetOf(message: DurableRequest): Operation['target'] {
    const m = message as { threadId?: string; commentId?: string; targetId?: string; reactionId?: string };
    const commentId = m.commentId ?? m.targetId ?? (m.reactionId !== undefined ? this.state.reactionById(m.reactionId)?.targetId : undefined);
    const threadId = m.threadId ?? (commentId !== undefined ? this.state.comment(commentId)?.threadId : undefined);
    return { ...(commentId !== undefined ? { commentId } : {}), ...(threadId !== undefined ? { threadId } : {}) };
  }

  /** What a delete removes, as the state shows it before it is applied: a thread's last comment takes the thread. */
  #deletesOf(message: DurableRequest, target: Operation['target']): Operation['deletes'] {
    if (message.type === 'thread:delete') return { threadId: message.threadId };
    if (message.type !== 'comment:delete') return undefined;
    const thread = target.threadId !== undefined ? this.state.thread(target.threadId) : undefined;
    const last = thread?.comments.length === 1 && thread.comments[0]!.id === message.commentId;
    return { commentId: message.commentId, ...(last ? { threadId: thread.id } : {}) };
  }

  /** Whether a request queued behind `op` deletes what it acts on. */
  #deletedLater(op: Operation): boolean {
    const { commentId, threadId } = op.target;
    let behind = false;
    for (const later of this.#ops.values()) {
      if (later === op) behind = true;
      else if (behind && later.deletes) {
        const d = later.deletes;
        if ((commentId !== undefined && d.commentId === commentId) || (threadId !== undefined && d.threadId === threadId)) return true;
      }
    }
    return false;
  }

  /**
   * Sends the queued requests not yet sent on the current connection, in the order they were
   * made, within the write budget (the rest follow as it refills). Nothing goes out while the
   * connection a token refresh replaced still owes answers: the server orders requests per
   * connection, so a later request must not overtake them on the new one. Likewise nothing
   * overtakes a request the server refused as saturated: the queue stops at it while it waits to
   * be sent again, and until its resend is answered.
   */
  #pump(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    const socket = this.#socket;
    if (!socket || !this.#authenticated) return;
    const retiring = this.#retiring;
    if (retiring && [...this.#ops.values()].some((op) => op.sentOn === retiring)) return;
    for (const op of this.#ops.values()) {
      if (op.room !== this.#options.room) continue;
      if (op.backoff) return;
      if (op.sentOn === socket) {
        if (op.refusals > 0) return;
        continue;
      }
      // Its first send here is still unanswered: it goes again once that answer is in.
      if (op.staleOn === socket) return;
      const wait = this.#writes.take();
      if (wait > 0) {
        this.#pumpTimer = setTimeout(() => this.#pump(), wait);
        return;
      }
      if (!this.#sendOn(socket, op.message)) return;
      op.sentOn = socket;
      op.sends++;
      if (op.refusals > 0) return;
    }
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
          createdBy: userId,
          createdAt: now,
          updatedAt: now,
          comments: [{ id: commentId, threadId: id, userId, body, mentions, createdAt: now, editedAt: null, reactions: [], attachments: [] }],
        }),
      () => this.state.dropOptimisticThread(id),
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
      () => this.state.dropOptimisticComment(id),
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
    // One's own reaction goes by comment and emoji: one added a moment ago has only the id made up
    // here (the server names it in its ack), and the remove may be sent before that ack comes.
    const mine = this.state.reactionById(reactionId);
    const message =
      mine && mine.userId === this.state.user?.id
        ? { type: 'reaction:remove' as const, targetId: mine.targetId, emoji: mine.emoji }
        : { type: 'reaction:remove' as const, reactionId };
    this.#enqueue(message, () => this.state.optimisticRemoveReaction(reactionId));
  }

  /** Draws a stroke (points relative to the document, 0–1); returns its id. */
  drawStroke(points: [number, number][], color: string, width: number): string {
    const userId = this.#me();
    const id = newId('stroke');
    const now = new Date().toISOString();
    this.#enqueue(
      { type: 'draw:stroke', id, points, color, width },
      () => this.state.optimisticStroke({ id, userId, points, color, width, createdAt: now }),
      () => this.state.dropOptimisticStroke(id),
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
   * Deletes one of your uploads that is not attached to a comment (a file removed from a draft),
   * so that it stops counting towards the uploads you may have waiting (see docs/attachments.md).
   * Rejects with an `UploadError` (`attachment_in_use` once it is attached).
   */
  async deleteUpload(attachmentId: string): Promise<void> {
    return deleteUpload({ baseUrl: httpBase(this.#options.endpoint), apiKey: this.#options.apiKey, token: await this.currentToken() }, attachmentId);
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

/** A browser that knows it has no network (never true outside browsers). */
function browserOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
}
