import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  AUTH_TIMEOUT_MS,
  CLOSE_CODES,
  LIMITS,
  PRESENCE_LEAVE_GRACE_MS,
  PRESENCE_OFFLINE_AFTER_MS,
  PulseError,
  type DurableRoomEvent,
  type EnvConfig,
  type ErrorCode,
  type Notification,
  type PresenceEntry,
  type PresenceMember,
  type ServerMessage,
} from '@pulse/protocol';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ServerContext } from '../context.ts';
import type { RealtimeSink } from '../domain/events.ts';
import { newConnectionId } from '../ids.ts';
import { isUnavailable } from '../store/errors.ts';
import { roomChannel, userChannel, type Bus } from './bus.ts';
import { Connection, type Delivery } from './connection.ts';
import { secretFingerprint } from '../cluster/fingerprint.ts';
import { ClusterPresence } from './cluster-presence.ts';
import { toEntry, type PresenceWire } from './cluster-room-presence.ts';
import { handleMessage, loadRoomState } from './handlers.ts';
import { LocalRoom } from './room.ts';

export interface HubOptions {
  /** How long a user stays present after their last socket closed. */
  leaveGraceMs?: number;
  authTimeoutMs?: number;
  offlineAfterMs?: number;
  connectionsPerRoom?: number;
  /**
   * Cluster mode: how long a node counts as alive after its last heartbeat (it heartbeats three
   * times per period). A node that dies has its users leave every node's presence within this
   * plus two checks (at most 5 s each). Default half the offline timeout.
   */
  clusterNodeTtlMs?: number;
}

const DURABLE_PREFIX = 'd';
const EPHEMERAL_PREFIX = 'e';
const PRESENCE_PREFIX = 'p';

/**
 * Close code for a refused authentication: a bad key cannot be fixed by retrying (4403), a bad
 * token can with a fresh one (4401); anything else the client sent first is a bad request (4400).
 */
export function closeCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'invalid_api_key':
    case 'key_revoked':
    case 'secret_key_not_allowed':
    case 'unauthorized':
      return CLOSE_CODES.FORBIDDEN;
    case 'invalid_token':
    case 'token_expired':
    case 'token_revoked':
    case 'environment_mismatch':
      return CLOSE_CODES.UNAUTHORIZED;
    case 'auth_timeout':
      return CLOSE_CODES.AUTH_TIMEOUT;
    case 'rate_limited':
      return CLOSE_CODES.RATE_LIMITED;
    case 'room_full':
      return CLOSE_CODES.ROOM_FULL;
    case 'internal_error':
    case 'service_unavailable':
      return 1011;
    default:
      return CLOSE_CODES.BAD_REQUEST;
  }
}

/**
 * The realtime server: accepts sockets on `/`, authenticates them into rooms, routes their
 * messages, and fans room events out through the bus. It is also the sink through which
 * domain services announce durable changes.
 */
export class RealtimeHub implements RealtimeSink {
  readonly ctx: ServerContext;
  readonly bus: Bus;
  readonly options: Required<HubOptions>;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  readonly #rooms = new Map<string, LocalRoom>();
  readonly #envConnections = new Map<string, Set<Connection>>();
  readonly #envConfigs = new Map<string, EnvConfig>();
  /** Per user of this node: their sockets (any room) and the subscription to their channel. */
  readonly #userSubscriptions = new Map<string, { connections: Set<Connection>; unsubscribe: () => void }>();
  readonly #sweeper: NodeJS.Timeout;
  /** Cluster mode (Redis bus): presence shared with the other nodes. */
  readonly #cluster: ClusterPresence | undefined;
  #closing = false;

  constructor(ctx: ServerContext, bus: Bus, options: HubOptions = {}) {
    this.ctx = ctx;
    this.bus = bus;
    this.options = {
      leaveGraceMs: options.leaveGraceMs ?? PRESENCE_LEAVE_GRACE_MS,
      authTimeoutMs: options.authTimeoutMs ?? AUTH_TIMEOUT_MS,
      offlineAfterMs: options.offlineAfterMs ?? PRESENCE_OFFLINE_AFTER_MS,
      connectionsPerRoom: options.connectionsPerRoom ?? LIMITS.connectionsPerRoom,
      clusterNodeTtlMs: options.clusterNodeTtlMs ?? PRESENCE_OFFLINE_AFTER_MS / 2,
    };
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: LIMITS.wsHardMessageBytes, perMessageDeflate: false, clientTracking: false });
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(1000, this.options.authTimeoutMs / 2));
    this.#sweeper.unref();
    const link = bus.cluster;
    if (link) {
      const cluster = new ClusterPresence(
        link,
        { nodeTtlMs: this.options.clusterNodeTtlMs, leaveGraceMs: this.options.leaveGraceMs, secretFingerprint: secretFingerprint(ctx.options.secret) },
        () => this.#clusterRooms(),
      );
      this.#cluster = cluster;
      void cluster.start();
      link.onRecovered(() => void this.#recover());
    }
  }

  *#clusterRooms() {
    for (const room of this.#rooms.values()) if (room.cluster) yield room.cluster;
  }

  /**
   * After a Redis outage: presence is written, announced and read again, and every socket gets
   * its room's full state, since events of other nodes published meanwhile did not reach it.
   */
  async #recover(): Promise<void> {
    try {
      await this.#cluster?.recover();
      for (const room of [...this.#rooms.values()]) {
        if (room.connections.size === 0) continue;
        const config = this.#envConfigs.get(room.envId) ?? (await this.ctx.configs.require(room.envId));
        const state = await loadRoomState(this, room.envId, room.roomId, config);
        room.deliver(Buffer.from(JSON.stringify({ type: 'room:state', room: state } satisfies ServerMessage)), 'durable');
      }
    } catch (err) {
      console.error('[pulse] resynchronising rooms after a Redis outage failed:', err);
    }
  }

  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== '/' || this.#closing) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws));
    });
  }

  #accept(ws: WebSocket): void {
    const conn = new Connection(newConnectionId(), ws);
    this.#connections.add(conn);
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(conn, data, isBinary));
    ws.on('close', () => this.#onClose(conn));
    ws.on('error', () => conn.close(CLOSE_CODES.MESSAGE_TOO_BIG, 'message too big'));
  }

  #onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (isBinary) return this.#refuse(conn, 'invalid_message', 'Frames must be JSON text.');
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return this.#refuse(conn, 'invalid_message', 'The frame is not valid JSON.');
    }
    if (size > LIMITS.wsMessageBytes) {
      // Still parsed (ws caps frames at wsHardMessageBytes) so the answer can carry the request's ref.
      return this.#refuse(conn, 'message_too_big', `Frames are limited to ${LIMITS.wsMessageBytes} bytes.`, refOf(message));
    }
    void handleMessage(this, conn, message).catch((err) => this.#fail(conn, err, message));
  }

  /** A frame that cannot be handled: an error, or for a socket not yet authenticated the end of it. */
  #refuse(conn: Connection, code: ErrorCode, message: string, ref?: string): void {
    if (!conn.identity && !conn.authenticating) return this.rejectAuth(conn, new PulseError(code, message));
    this.error(conn, code, message, ref);
  }

  #fail(conn: Connection, err: unknown, message: unknown): void {
    const ref = refOf(message);
    if (err instanceof PulseError) return this.error(conn, err.code, err.message, ref);
    if (isUnavailable(err)) return this.error(conn, 'service_unavailable', undefined, ref);
    console.error('[pulse] realtime handler failed:', err);
    this.error(conn, 'internal_error', undefined, ref);
  }

  error(conn: Connection, code: ErrorCode, message?: string, ref?: string): void {
    const e = new PulseError(code, message);
    conn.sendNow({ type: 'error', code, message: e.message, ...(ref ? { ref } : {}) });
  }

  /** Ends a connection's authentication with an error: auth:error, then the matching close code. */
  rejectAuth(conn: Connection, err: PulseError): void {
    conn.sendNow({ type: 'auth:error', code: err.code, message: err.message });
    conn.close(closeCodeFor(err.code), err.code);
  }

  #onClose(conn: Connection): void {
    this.#connections.delete(conn);
    this.detach(conn);
  }

  /** Removes a connection from its room and subscriptions (on close, or when it closed during auth). */
  detach(conn: Connection): void {
    const identity = conn.identity;
    const room = conn.room;
    if (!identity || !room || !room.connections.has(conn)) return;
    room.connections.delete(conn);
    room.presence.remove(conn);
    const envConns = this.#envConnections.get(identity.envId);
    envConns?.delete(conn);
    if (envConns?.size === 0) {
      this.#envConnections.delete(identity.envId);
      this.#envConfigs.delete(identity.envId);
    }
    this.#releaseUser(conn);
    if (room.connections.size === 0) this.#maybeDisposeRoom(room);
  }

  #maybeDisposeRoom(room: LocalRoom): void {
    // Presence leaves after a grace period; the room stays until its last member has left.
    const check = () => {
      if (room.connections.size === 0 && room.presence.size === 0 && this.#rooms.get(roomKey(room.envId, room.roomId)) === room) {
        room.flush();
        room.dispose();
        this.#rooms.delete(roomKey(room.envId, room.roomId));
      }
    };
    if (room.presence.size === 0) check();
    else setTimeout(check, this.options.leaveGraceMs + 50).unref();
  }

  /** Adds an authenticated connection to its room; events start buffering for it at once. */
  join(conn: Connection, config: EnvConfig): LocalRoom {
    const { envId, roomId, user } = conn.identity!;
    const key = roomKey(envId, roomId);
    let room = this.#rooms.get(key);
    if (!room) {
      const channel = roomChannel(envId, roomId);
      room = new LocalRoom(
        envId,
        roomId,
        this.options.leaveGraceMs,
        {
          publish: (delivery, json) =>
            delivery === 'durable' ? this.bus.publish(channel, DURABLE_PREFIX + json) : this.bus.publish(channel, EPHEMERAL_PREFIX + json, 'ephemeral'),
          showPresence: () => this.#envConfigs.get(envId)?.showPresence !== false,
          publishPresence: (json) => this.bus.publish(channel, PRESENCE_PREFIX + json),
        },
        this.#cluster,
      );
      const r = room;
      room.unsubscribe = this.bus.subscribe(channel, (payload) => this.#fromBus(r, payload));
      if (r.cluster) {
        const cluster = this.#cluster!;
        // Subscribed first, then loaded: a change made meanwhile arrives as a message (newer versions win).
        r.ready = this.bus.subscribed(channel).then(() => cluster.load(r.cluster!));
      }
      this.#rooms.set(key, room);
    }
    if (room.connections.size >= this.options.connectionsPerRoom) throw new PulseError('room_full');
    conn.backlog = [];
    conn.room = room;
    room.connections.add(conn);
    let envConns = this.#envConnections.get(envId);
    if (!envConns) this.#envConnections.set(envId, (envConns = new Set()));
    envConns.add(conn);
    this.#envConfigs.set(envId, config);
    this.#retainUser(conn);
    return room;
  }

  #fromBus(room: LocalRoom, payload: string): void {
    const kind = payload.charCodeAt(0);
    if (kind === 112 /* p */) {
      try {
        room.cluster?.remote(JSON.parse(payload.slice(1)) as PresenceWire);
      } catch (err) {
        console.error('[pulse] bad presence message from the bus:', err);
      }
      return;
    }
    const delivery: Delivery = kind === 101 /* e */ ? 'ephemeral' : 'durable';
    room.deliver(Buffer.from(payload.slice(1)), delivery);
  }

  #retainUser(conn: Connection): void {
    const { envId, user } = conn.identity!;
    const key = `${envId}\u0000${user.id}`;
    const existing = this.#userSubscriptions.get(key);
    if (existing) {
      existing.connections.add(conn);
      return;
    }
    const connections = new Set([conn]);
    const unsubscribe = this.bus.subscribe(userChannel(envId, user.id), (payload) => {
      const frame = Buffer.from(payload);
      for (const c of connections) c.sendFrame(frame, 'durable');
    });
    this.#userSubscriptions.set(key, { connections, unsubscribe });
  }

  #releaseUser(conn: Connection): void {
    const { envId, user } = conn.identity!;
    const key = `${envId}\u0000${user.id}`;
    const sub = this.#userSubscriptions.get(key);
    if (sub && sub.connections.delete(conn) && sub.connections.size === 0) {
      sub.unsubscribe();
      this.#userSubscriptions.delete(key);
    }
  }

  configFor(envId: string): EnvConfig | undefined {
    return this.#envConfigs.get(envId);
  }

  #sweep(): void {
    const now = Date.now();
    for (const conn of this.#connections) {
      if (!conn.identity) {
        if (!conn.authenticating && now - conn.openedAt > this.options.authTimeoutMs) this.rejectAuth(conn, new PulseError('auth_timeout'));
      } else if (now - conn.lastSeen > this.options.offlineAfterMs) {
        conn.close(CLOSE_CODES.HEARTBEAT_TIMEOUT, 'no heartbeat');
      }
    }
  }

  // --- RealtimeSink: durable changes from the domain services, to every node.

  roomEvent(envId: string, roomId: string, event: DurableRoomEvent): void {
    this.bus.publish(roomChannel(envId, roomId), DURABLE_PREFIX + JSON.stringify(event));
  }

  notification(envId: string, userId: string, notification: Notification): void {
    this.bus.publish(userChannel(envId, userId), JSON.stringify({ type: 'notification:created', notification } satisfies ServerMessage));
  }

  notificationsRead(envId: string, userId: string, ids: string[], all: boolean): void {
    this.bus.publish(userChannel(envId, userId), JSON.stringify({ type: 'notifications:read', ids, all } satisfies ServerMessage));
  }

  /** Pushes a changed config to this node's sockets of the environment. */
  configUpdated(envId: string, config: EnvConfig): void {
    const conns = this.#envConnections.get(envId);
    if (!conns) return;
    this.#envConfigs.set(envId, config);
    const frame = Buffer.from(JSON.stringify({ type: 'config:updated', config } satisfies ServerMessage));
    for (const conn of conns) conn.sendFrame(frame, 'durable');
  }

  // --- Control events (keys, config) from this process or any other.

  async environmentChanged(envId: string, kind: string): Promise<void> {
    const conns = this.#envConnections.get(envId);
    if (!conns || conns.size === 0) return;
    if (kind === 'config.updated') {
      this.ctx.configs.invalidate(envId);
      const config = await this.ctx.configs.get(envId);
      if (config) this.configUpdated(envId, config);
      return;
    }
    if (kind === 'keys.rotated' || kind === 'key.revoked') {
      const keys = await this.ctx.store.listKeys(envId);
      const revoked = new Set(keys.filter((k) => k.revokedAt).map((k) => k.id));
      for (const conn of conns) {
        const id = conn.identity!;
        if (revoked.has(id.publishableKeyId)) {
          conn.sendNow({ type: 'error', code: 'key_revoked', message: new PulseError('key_revoked').message });
          conn.close(CLOSE_CODES.FORBIDDEN, 'key_revoked');
        } else if (revoked.has(id.secretKeyId)) {
          conn.sendNow({ type: 'error', code: 'token_revoked', message: new PulseError('token_revoked').message });
          conn.close(CLOSE_CODES.UNAUTHORIZED, 'token_revoked');
        }
      }
    }
  }

  /** Who is in a room: on this node, or in cluster mode on every node. */
  async presenceMembers(envId: string, roomId: string): Promise<PresenceMember[]> {
    const room = this.#rooms.get(roomKey(envId, roomId));
    if (!this.#cluster) return room?.presence.list() ?? [];
    if (room?.cluster) {
      if (room.ready) await room.ready;
      return room.cluster.list();
    }
    try {
      return await this.#cluster.members(envId, roomId);
    } catch (err) {
      throw new PulseError('service_unavailable', `Presence is unavailable: ${(err as Error).message}`);
    }
  }

  /** Live presence of a room, in the REST shape. */
  async presence(envId: string, roomId: string): Promise<PresenceEntry[]> {
    if (!this.#cluster) {
      const room = this.#rooms.get(roomKey(envId, roomId));
      if (!room) return [];
      return room.presence.list().map((m) => toEntry(envId, m));
    }
    return (await this.presenceMembers(envId, roomId)).map((m) => toEntry(envId, m));
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    await this.#cluster?.close();
    for (const conn of this.#connections) conn.close(CLOSE_CODES.SERVER_SHUTTING_DOWN, 'server shutting down');
    for (const room of this.#rooms.values()) room.dispose();
    this.#rooms.clear();
    for (const sub of this.#userSubscriptions.values()) sub.unsubscribe();
    this.#userSubscriptions.clear();
    this.#wss.close();
  }
}

function refOf(message: unknown): string | undefined {
  const ref = (message as { ref?: unknown } | null)?.ref;
  return typeof ref === 'string' && ref.length <= 64 ? ref : undefined;
}

function roomKey(envId: string, roomId: string): string {
  return `${envId}\u0000${roomId}`;
}
