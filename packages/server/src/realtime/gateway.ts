import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { CLOSE_CODES, LIMITS, PulseError, type ClientMessage, type ErrorCode } from '@pulse/protocol';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { newConnectionId } from '../ids.ts';
import { Connection, READING_PAUSED } from './connection.ts';
import { isQueued, parseFrameText, parseMessage } from './parse.ts';
import type { RealtimeHub } from './hub.ts';
import { p2pOf } from '../p2p/handlers.ts';
import { clientAddressOf, uncappedAddress } from '../http-limits.ts';

export interface GatewayOptions {
  authTimeoutMs: number;
  offlineAfterMs: number;
  unauthenticatedPerAddress: number;
  unauthenticatedPerServer: number;
}

/**
 * Where frames enter: the upgrade on `/`, then for every frame, in this order and before any
 * work: size (a few KB until auth:ok), JSON, schema, rate limits (charged on arrival). Refused
 * frames are answered with an `error` carrying the request's `ref` and count as strikes.
 * Ephemeral messages are handled at once; durable ones join the connection's ordered queue.
 * Over the message limit, ephemeral messages are dropped and requests refused, but P2P frames
 * (shared data: a lost piece loses its whole frame) wait, the socket no longer read meanwhile.
 * A sweeper ends sockets that do not authenticate in time, go silent, or outlive their token.
 */
export class Gateway {
  readonly #hub: RealtimeHub;
  readonly #options: GatewayOptions;
  // Pings are answered here (#onPing), within the limits, not by `ws`, which cuts a socket with 60
  // unsent pongs without a word; and text is checked for UTF-8 here, answered like any bad frame,
  // rather than by `ws` closing with 1007.
  readonly #wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.wsHardMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
    autoPong: false,
    skipUTF8Validation: true,
  });
  readonly #connections = new Set<Connection>();
  /** Sockets per address that have not authenticated yet. */
  readonly #unauthenticated = new Map<string, number>();
  #unauthenticatedTotal = 0;
  readonly #sweeper: NodeJS.Timeout;
  /** Behind a trusted proxy, the client's address from X-Forwarded-For (else every user would share the proxy's allowance). */
  readonly #clientAddress: (request: IncomingMessage) => string;
  /** Addresses the per-address cap leaves alone (http-limits.ts). */
  readonly #uncapped: (address: string) => boolean;
  #closing = false;

  constructor(hub: RealtimeHub, options: GatewayOptions) {
    this.#hub = hub;
    this.#options = options;
    this.#clientAddress = clientAddressOf(hub.ctx.options.trustProxy);
    this.#uncapped = uncappedAddress(hub.ctx.options.limitLoopback);
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(1000, options.authTimeoutMs / 2));
    this.#sweeper.unref();
  }

  get connections(): ReadonlySet<Connection> {
    return this.#connections;
  }

  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== '/' || this.#closing) return refuseUpgrade(socket, '404 Not Found');
      const address = this.#clientAddress(request);
      if (!this.#uncapped(address) && (this.#unauthenticated.get(address) ?? 0) >= this.#options.unauthenticatedPerAddress) {
        return refuseUpgrade(socket, '429 Too Many Requests');
      }
      if (this.#unauthenticatedTotal >= this.#options.unauthenticatedPerServer) return refuseUpgrade(socket, '503 Service Unavailable', 'Retry-After: 1\r\n');
      this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, address, socket, head.length));
    });
  }

  #accept(ws: WebSocket, address: string, socket: Duplex, headBytes: number): void {
    const conn = new Connection(newConnectionId(), ws, address);
    this.#connections.add(conn);
    this.#unauthenticated.set(address, (this.#unauthenticated.get(address) ?? 0) + 1);
    this.#unauthenticatedTotal++;
    conn.holdsPreAuthSlot = true;
    // Until auth:ok, every byte counts: `ws` would buffer a frame announced as 1 MB whole before
    // the auth frame's own limit could be checked. Past the allowance nothing more is read.
    let received = headBytes;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= LIMITS.wsPreAuthBytes) return;
      conn.stopPreAuthCount?.();
      this.#hub.rejectAuth(conn, new PulseError('message_too_big', `Before auth:ok a socket may send ${LIMITS.wsPreAuthBytes} bytes in all.`));
      // What it sends from now on is discarded as it comes, not handed to `ws` (which would buffer
      // the rest of a large frame); told there is no more, the peer closes its side at once.
      socket.removeAllListeners('data');
      socket.on('data', () => undefined);
      socket.once('end', () => socket.destroy());
      socket.resume(); // `ws` may have paused it while a frame filled its buffer
      socket.end();
    };
    socket.on('data', count);
    conn.stopPreAuthCount = () => {
      socket.off('data', count);
      conn.stopPreAuthCount = undefined;
    };
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onFrame(conn, data, isBinary));
    ws.on('ping', (data: Buffer) => this.#onPing(conn, data));
    ws.on('close', () => this.#onClose(conn));
    ws.on('error', () => conn.close(1009, 'message too big'));
  }

  /** The socket authenticated: it no longer counts against its address's pre-auth allowance. */
  authenticated(conn: Connection): void {
    this.#releasePreAuthSlot(conn);
    conn.stopPreAuthCount?.();
  }

  /** Exactly once per socket: when it authenticates, or when it closes (at any point of its auth). */
  #releasePreAuthSlot(conn: Connection): void {
    if (!conn.holdsPreAuthSlot) return;
    conn.holdsPreAuthSlot = false;
    this.#unauthenticatedTotal--;
    const n = (this.#unauthenticated.get(conn.address) ?? 1) - 1;
    if (n <= 0) this.#unauthenticated.delete(conn.address);
    else this.#unauthenticated.set(conn.address, n);
  }

  #onClose(conn: Connection): void {
    this.#connections.delete(conn);
    this.#releasePreAuthSlot(conn);
    this.#hub.queue.forget(conn);
    this.#hub.registry.detach(conn);
    void p2pOf(this.#hub)?.detach(conn);
  }

  #onFrame(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.held) {
      conn.held.push([data, isBinary]); // read before the pause took effect: after the one waiting
      return;
    }
    if (conn.closedByServer) return;
    conn.lastSeen = Date.now();
    const authenticated = conn.identity !== undefined && !conn.authenticating;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (!authenticated) return this.#beforeAuth(conn, data, size, isBinary);
    if (size > LIMITS.wsMessageBytes) return this.refuse(conn, 'message_too_big', `Frames are limited to ${LIMITS.wsMessageBytes} bytes.`, peekRef(data));
    // Over the message rate: neither parsed nor dropped, but left unread until the rate allows it
    // (the sender is slowed down by TCP backpressure); a flood costs the server nothing. Frames
    // of a socket its peer closed are not held: what is left of them are writes, limited below.
    const open = conn.open;
    if (open && !conn.messages.take()) return this.#holdUntilAllowed(conn, data, isBinary);
    if (isBinary) return this.refuse(conn, 'invalid_message', 'Frames must be JSON text.');
    if (!isUtf8Text(data)) return this.refuse(conn, 'invalid_message', NOT_UTF8);
    let raw: unknown;
    try {
      raw = parseFrameText(data.toString());
    } catch (err) {
      return this.refuse(conn, 'invalid_message', (err as PulseError).message, peekRef(data));
    }
    let message: ClientMessage;
    try {
      message = parseMessage(raw);
    } catch (err) {
      return this.refuse(conn, (err as PulseError).code, (err as PulseError).message, refOf(raw));
    }
    const ref = 'ref' in message ? message.ref : undefined;
    if (message.type === 'auth') return this.refuse(conn, 'already_authenticated', undefined, ref);
    // Read before its peer closed the socket, released after (see #releaseHeld): only what is
    // stored matters now (not a room state for nobody, nor what a room is shown).
    if (!open && (!isQueued(message) || message.type === 'room:resync')) return;
    if (isQueued(message)) {
      if (!conn.durable.take()) return this.refuse(conn, 'rate_limited', undefined, ref);
      if (conn.userSockets && !conn.userSockets.writes.take()) {
        conn.durable.refund();
        return this.refuse(conn, 'rate_limited', `Durable requests: at most ${LIMITS.writesPerUserBurst} at once, then ${LIMITS.writesPerUserPerSecond} a second per user, all their sockets together.`, ref);
      }
      if (!this.#hub.queue.enqueue(conn, message)) {
        // Not run: its write allowance is given back (a client retries it after service_unavailable).
        conn.durable.refund();
        conn.userSockets?.writes.refund();
        this.#hub.error(conn, 'service_unavailable', 'The server is at capacity; retry in a moment.', ref);
      }
      return;
    }
    try {
      this.#hub.handleNow(conn, message);
    } catch (err) {
      this.#hub.fail(conn, err, ref);
    }
  }

  /**
   * Answers a ping with a pong while the socket keeps up with what it is sent, and, once
   * authenticated, within the messages rate: past it, pings go unanswered (they are not held, as
   * other frames are; nothing depends on them). Before auth:ok they count among its bytes.
   */
  #onPing(conn: Connection, data: Buffer): void {
    if (!conn.open || conn.ws.bufferedAmount > PONG_BACKLOG_BYTES) return;
    if (conn.identity && !conn.authenticating && !conn.messages.take()) return;
    conn.ws.pong(data);
  }

  /**
   * A frame over the message limit: the socket is not read until the limit allows it (the sender
   * is slowed down by TCP backpressure), then it and what was read meanwhile go on in order.
   */
  #holdUntilAllowed(conn: Connection, data: RawData, isBinary: boolean): void {
    conn.held = [[data, isBinary]];
    conn.pauseReading(READING_PAUSED.messageLimit);
    this.#hub.queue.holdingFrames(conn, true);
    setTimeout(() => this.#releaseHeld(conn), Math.ceil(conn.messages.secondsUntilNext() * 1000)).unref();
  }

  /**
   * The held frames go on, in order, also when the peer closed the socket meanwhile (its close was
   * read behind them): its durable requests were delivered, and are applied like those of any
   * socket that drops with requests waiting. Closed by the server, they are dropped (#onFrame).
   */
  #releaseHeld(conn: Connection): void {
    const held = conn.held ?? [];
    conn.held = undefined;
    for (const [i, [data, isBinary]] of held.entries()) {
      this.#onFrame(conn, data, isBinary);
      if (conn.held) {
        // Over the limit again: the rest waits behind it.
        (conn.held as [RawData, boolean][]).push(...held.slice(i + 1));
        return;
      }
    }
    conn.resumeReading(READING_PAUSED.messageLimit);
    this.#hub.queue.holdingFrames(conn, false);
  }

  /** Until auth:ok: one small `auth` frame; anything else ends the socket. */
  #beforeAuth(conn: Connection, data: RawData, size: number, isBinary: boolean): void {
    if (conn.authenticating) return this.refuse(conn, 'not_authenticated', 'Wait for auth:ok before sending.', peekRef(data));
    if (size > LIMITS.wsAuthMessageBytes) return this.#hub.rejectAuth(conn, new PulseError('message_too_big', `The auth frame is limited to ${LIMITS.wsAuthMessageBytes} bytes.`));
    if (isBinary) return this.#hub.rejectAuth(conn, new PulseError('invalid_message', 'Frames must be JSON text.'));
    if (!isUtf8Text(data)) return this.#hub.rejectAuth(conn, new PulseError('invalid_message', NOT_UTF8));
    let raw: unknown;
    try {
      raw = parseFrameText(data.toString());
    } catch (err) {
      return this.#hub.rejectAuth(conn, err as PulseError);
    }
    const first = raw as { type?: unknown; apiKey?: unknown; token?: unknown } | null;
    if (first?.type === 'auth' && (first.apiKey === undefined || first.apiKey === null)) return this.#hub.rejectAuth(conn, new PulseError('unauthorized', 'auth: apiKey (your publishable key, pk_…) is required.'));
    // A missing token is the token check's `invalid_token` (4401, retry with a token), made after the key's checks.
    if (first?.type === 'auth' && (first.token === undefined || first.token === null)) first.token = '';
    let message: ClientMessage;
    try {
      message = parseMessage(raw);
    } catch (err) {
      return this.#hub.rejectAuth(conn, err instanceof PulseError ? err : new PulseError('invalid_message'));
    }
    if (message.type !== 'auth') return this.#hub.rejectAuth(conn, new PulseError('not_authenticated'));
    void this.#hub.authenticate(conn, message);
  }

  /** Refuses one frame with an `error`; a connection that collects too many refusals is closed. */
  refuse(conn: Connection, code: ErrorCode, message?: string, ref?: string): void {
    this.#hub.error(conn, code, message, ref);
    conn.strike();
  }

  #sweep(): void {
    const now = Date.now();
    for (const conn of this.#connections) {
      const identity = conn.identity;
      if (!identity) {
        if (!conn.authenticating && now - conn.openedAt > this.#options.authTimeoutMs) this.#hub.rejectAuth(conn, new PulseError('auth_timeout'));
      } else if (now >= identity.expiresAt) {
        this.#hub.expel(conn, 'token_expired');
      } else if (now - conn.lastSeen > this.#options.offlineAfterMs) {
        conn.close(CLOSE_CODES.HEARTBEAT_TIMEOUT, 'no heartbeat');
      }
    }
  }

  close(): void {
    this.#closing = true;
    clearInterval(this.#sweeper);
    for (const conn of this.#connections) conn.close(CLOSE_CODES.SERVER_SHUTTING_DOWN, 'server shutting down');
    this.#wss.close();
  }
}

/** Pongs are not queued behind this much unsent output: a peer that does not read is not answered. */
const PONG_BACKLOG_BYTES = 64 * 1024;
const NOT_UTF8 = 'Text frames must be UTF-8.';

function isUtf8Text(data: RawData): boolean {
  return isUtf8(Array.isArray(data) ? Buffer.concat(data) : (data as Buffer | ArrayBuffer));
}

function refuseUpgrade(socket: Duplex, status: string, headers = ''): void {
  socket.end(`HTTP/1.1 ${status}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`);
}

function refOf(message: unknown): string | undefined {
  const ref = (message as { ref?: unknown } | null)?.ref;
  return typeof ref === 'string' && ref.length <= 64 ? ref : undefined;
}

/** The `ref` of a frame that is not parsed (too big, not JSON), found near its start or end. */
function peekRef(data: RawData): string | undefined {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  const find = (text: string) => /"ref"\s*:\s*"([^"\\]{1,64})"/.exec(text)?.[1];
  return find(buf.toString('utf8', 0, 2048)) ?? (buf.length > 2048 ? find(buf.toString('utf8', buf.length - 2048)) : undefined);
}
