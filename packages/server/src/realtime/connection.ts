import { CLOSE_CODES, LIMITS, type DeviceType, type PresenceStatus, type PulseUser, type ServerMessage } from '@pulse/protocol';
import type { RawData, WebSocket } from 'ws';
import { TokenBucket } from '../token-bucket.ts';
import type { LocalRoom } from './room.ts';

export type Delivery = 'durable' | 'ephemeral';

/** How long a closing peer has to answer the close frame before its connection is cut. */
const CLOSE_HANDSHAKE_MS = 2000;

/** Why the server stopped reading from a socket (bits: several may hold at once). */
export const READING_PAUSED = {
  /** Its durable queue is full (see DurableQueue). */
  durableQueue: 1,
  /** A frame waits for the message limit (see Gateway). */
  messageLimit: 2,
  /** Its requests wait behind another socket of its user that was paused with requests unread (see DurableQueue). */
  laneOrder: 4,
} as const;
/** The pauses that are the server's doing, for as long as its queue takes: the rate limits keep refilling meanwhile. */
const QUEUE_PAUSES = READING_PAUSED.durableQueue | READING_PAUSED.laneOrder;

/** Identity of an authenticated connection. */
export interface ConnectionIdentity {
  envId: string;
  roomId: string;
  user: PulseUser;
  publishableKeyId: string;
  secretKeyId: string;
  /** When the user token expires, plus the clock skew allowed (ms since the epoch): the socket is closed then. */
  expiresAt: number;
}

/** This node's sockets of one user (every room), and what they share. */
export interface UserSockets {
  readonly connections: Set<Connection>;
  /** room:resync answers, all the user's sockets together. */
  readonly resyncs: TokenBucket;
  /** Durable requests (and resyncs), all the user's sockets together, on top of each socket's own bucket. */
  readonly writes: TokenBucket;
  /** The user's sockets a full durable queue has stopped reading: while any is, `writes` accrues as theirs do. */
  queuePaused: number;
}

/**
 * One WebSocket. Kept small (a few fields, no timers of its own): idle sockets are the bulk
 * of a server's memory. Timeouts are enforced by the hub's sweeper.
 */
export class Connection {
  readonly id: string;
  readonly ws: WebSocket;
  readonly openedAt = Date.now();
  lastSeen = Date.now();
  identity: ConnectionIdentity | undefined;
  room: LocalRoom | undefined;
  /** The user's sockets on this node, this one included (set when it joins its room). */
  userSockets: UserSockets | undefined;
  deviceType: DeviceType = 'desktop';
  status: PresenceStatus = 'online';
  appearOffline = false;
  authenticating = false;
  /** Frames that arrived for this socket while its auth:ok was being prepared. */
  backlog: Buffer[] | undefined;
  /**
   * When the room's state (its presence with it) was last sent to this socket (performance.now()):
   * undefined until its auth:ok has gone. See LocalRoom's presence batches.
   */
  stateSentAt: number | undefined;
  readonly messages = new TokenBucket(LIMITS.messagesBurst, LIMITS.messagesPerSecond);
  readonly durable = new TokenBucket(LIMITS.writesBurst, LIMITS.writesPerSecond);
  /** Refused frames so far; past LIMITS.strikesPerConnection the socket is closed. */
  strikes = 0;
  /** When this socket was last sent a room:state it asked for (performance.now()). */
  lastResyncAt = -Infinity;
  /**
   * The server closed it (revoked key, expired token, strikes, a slow reader, shutdown): nothing
   * read from it before is run any more. (A socket its peer closed still has its requests applied.)
   */
  closedByServer = false;
  /** Frames read while a P2P frame waits for the message limit, in arrival order. */
  held: [RawData, boolean][] | undefined;
  /** READING_PAUSED bits; 0 while the socket is read. */
  #pausedFor = 0;
  /** The largest frame sent so far: see sendFrame. */
  #largestFrame = 0;
  /** Durable requests read from this socket and not yet applied (see DurableQueue). */
  durableWaiting = 0;
  /** Its user's lane in the DurableQueue, once it has queued a request. */
  laneKey: string | undefined;
  /** The peer's address, for per-address limits. */
  readonly address: string;
  /** Counted in its address's sockets that have not authenticated (see Gateway). */
  holdsPreAuthSlot = false;
  /** Stops counting the bytes it sends before auth:ok (LIMITS.wsPreAuthBytes). */
  stopPreAuthCount: (() => void) | undefined;

  constructor(id: string, ws: WebSocket, address: string) {
    this.id = id;
    this.ws = ws;
    this.address = address;
  }

  get open(): boolean {
    return this.ws.readyState === 1;
  }

  /**
   * Stops reading from the socket for `reason` (TCP backpressure reaches the client) until
   * resumeReading(reason) and every other reason is gone. While the durable queue pauses it
   * (the server's doing, for as long as the queue takes), the rate limits keep refilling past
   * their burst, up to one more (TokenBucket.suspend): the frames sent during the pause arrive
   * together. A P2P hold needs no such credit: the frames read behind it wait for their tokens.
   */
  pauseReading(reason: number): void {
    if ((this.#pausedFor & reason) !== 0) return;
    if ((reason & QUEUE_PAUSES) !== 0 && (this.#pausedFor & QUEUE_PAUSES) === 0) {
      this.messages.suspend();
      this.durable.suspend();
      if (this.userSockets && this.userSockets.queuePaused++ === 0) this.userSockets.writes.suspend();
    }
    if (this.#pausedFor === 0 && this.open) this.ws.pause();
    this.#pausedFor |= reason;
  }

  resumeReading(reason: number): void {
    if ((this.#pausedFor & reason) === 0) return;
    this.#pausedFor &= ~reason;
    if ((reason & QUEUE_PAUSES) !== 0 && (this.#pausedFor & QUEUE_PAUSES) === 0) {
      this.messages.resume();
      this.durable.resume();
      if (this.userSockets && --this.userSockets.queuePaused === 0) this.userSockets.writes.resume();
    }
    if (this.#pausedFor === 0 && this.open) this.ws.resume();
  }

  /**
   * Sends a pre-serialised frame. Ephemeral frames are dropped for a socket that is behind;
   * durable ones never are, but a socket that this frame would take past its ceiling is closed
   * to resync. The ceiling is the hard limit, or the largest frame the socket was sent (a room's
   * state, up to a few MB) and 1 MB more: a client still reading its auth:ok is not slow, and a
   * socket that does not read holds a few MB at most. A socket that is behind is also closed once
   * all of its user's sockets together hold more than wsUserBufferBytes: one user's many sockets
   * that stopped reading would otherwise hold gigabytes.
   */
  sendFrame(frame: Buffer, delivery: Delivery, wire?: Buffer): void {
    if (!this.open) return;
    if (this.backlog) {
      if (delivery === 'durable') this.backlog.push(frame);
      return;
    }
    const buffered = this.ws.bufferedAmount;
    if (delivery === 'ephemeral' && buffered > LIMITS.wsSoftBufferBytes) return;
    if (buffered > 0 && buffered + frame.length > Math.max(LIMITS.wsHardBufferBytes, this.#largestFrame + SLOW_MARGIN_BYTES)) {
      this.close(4410, 'slow consumer');
      return;
    }
    if (buffered > LIMITS.wsSoftBufferBytes && this.userSockets && unsentOf(this.userSockets) + frame.length > LIMITS.wsUserBufferBytes) {
      this.close(4410, 'slow consumer');
      return;
    }
    if (frame.length > this.#largestFrame) this.#largestFrame = frame.length;
    const socket = corkUntilNextTick(this.ws);
    if (wire && socket) socket.write(wire);
    else this.ws.send(frame, { binary: false });
  }

  /** Sends frames in order (in one write to the socket, as every frame sent in one tick); `wires` as in sendFrame. */
  sendFrames(frames: Buffer[], delivery: Delivery, wires?: Buffer[]): void {
    for (let i = 0; i < frames.length; i++) this.sendFrame(frames[i]!, delivery, wires?.[i]);
  }

  send(message: ServerMessage): void {
    this.sendFrame(Buffer.from(JSON.stringify(message)), 'durable');
  }

  /** Stops holding frames back (see backlog): sends `first`, if given, then what waited. */
  releaseBacklog(first?: Buffer): void {
    const held = this.backlog ?? [];
    this.backlog = undefined;
    if (first) this.sendFrame(first, 'durable');
    for (const frame of held) this.sendFrame(frame, 'durable');
  }

  /**
   * Sends directly, bypassing the backlog (auth:ok itself, and errors), in the tick's write (see
   * corkUntilNextTick). Buffers are the pieces of one JSON text: framed as one message and
   * written as they are, so that a room's cached state (tens of KB) is not copied into a frame of
   * its own for every joiner.
   */
  sendNow(message: ServerMessage | string | Buffer[]): void {
    if (!this.open) return;
    const parts = Array.isArray(message) ? message : [Buffer.from(typeof message === 'string' ? message : JSON.stringify(message))];
    let length = 0;
    for (const part of parts) length += part.length;
    const header = textFrameHeader(length);
    if (header.length + length > this.#largestFrame) this.#largestFrame = header.length + length;
    const socket = corkUntilNextTick(this.ws);
    if (!socket) {
      this.ws.send(parts.length === 1 ? parts[0]! : Buffer.concat(parts, length), { binary: false });
      return;
    }
    socket.write(header);
    for (const part of parts) socket.write(part);
  }

  /** Counts a refused frame; past LIMITS.strikesPerConnection the socket is closed. */
  strike(): void {
    if (++this.strikes > LIMITS.strikesPerConnection) this.close(CLOSE_CODES.RATE_LIMITED, 'too many strikes');
  }

  close(code: number, reason: string | undefined): void {
    if (this.ws.readyState !== 0 && this.ws.readyState !== 1) return;
    this.closedByServer = true;
    this.ws.close(code, String(reason ?? '').slice(0, 120));
    // A peer that does not answer the close (it stopped reading) is cut after a short wait, not
    // the 30 s `ws` gives it: its buffers and its slot go with it.
    setTimeout(() => this.ws.terminate(), CLOSE_HANDSHAKE_MS).unref();
  }
}

interface Corkable {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

/**
 * A text frame as it goes on the wire (RFC 6455 §5.2: FIN, opcode 1, a server's frames are not
 * masked), for a frame sent to many sockets: framed once instead of once per socket by ws.
 * Sockets take it whole with sendFrame's `wire` (ws sends nothing else while a socket is open:
 * no compression, no fragments).
 */
export function textFrame(payload: Buffer): Buffer {
  const head = headerBytes(payload.length);
  const out = Buffer.allocUnsafe(head + payload.length);
  writeTextHeader(out, payload.length);
  payload.copy(out, head);
  return out;
}

/** The header of a text frame whose payload is `length` bytes (see textFrame). */
export function textFrameHeader(length: number): Buffer {
  const out = Buffer.allocUnsafe(headerBytes(length));
  writeTextHeader(out, length);
  return out;
}

const headerBytes = (n: number) => (n < 126 ? 2 : n < 65536 ? 4 : 10);

function writeTextHeader(out: Buffer, n: number): void {
  out[0] = 0x81;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
}

const corked = new Set<Corkable>();

function uncorkAll(): void {
  const sockets = [...corked];
  corked.clear();
  for (const socket of sockets) {
    try {
      socket.uncork();
    } catch {
      // A socket that fails here is failing anyway (its error handler closes it); the others go on.
    }
  }
}

/** Bytes not yet sent on all of a user's sockets. */
function unsentOf(user: UserSockets): number {
  let bytes = 0;
  for (const c of user.connections) bytes += c.ws.bufferedAmount;
  return bytes;
}

/** What a socket may fall behind past its largest frame (see sendFrame). */
const SLOW_MARGIN_BYTES = 1024 * 1024;

/**
 * ws writes each frame with a system call of its own. A comment's frames for one socket (the
 * room's event, a notification, the ack) and those of the other comments committed in the same
 * batch are written in the same tick: the socket stays corked until the tick ends, so they leave
 * in one write (Node's own advice for batching writes).
 */
function corkUntilNextTick(ws: WebSocket): Corkable | undefined {
  const socket = (ws as unknown as { _socket?: Corkable })._socket;
  if (!socket || corked.has(socket)) return socket;
  if (corked.size === 0) process.nextTick(uncorkAll);
  socket.cork();
  corked.add(socket);
  return socket;
}
