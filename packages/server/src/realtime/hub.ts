import type { Server } from 'node:http';
import {
  AUTH_TIMEOUT_MS,
  CLOSE_CODES,
  ERROR_CATALOGUE,
  LIMITS,
  PRESENCE_LEAVE_GRACE_MS,
  PRESENCE_OFFLINE_AFTER_MS,
  PulseError,
  type ClientMessage,
  type ClientMessageOf,
  type DurableRoomEvent,
  type EnvConfig,
  type ErrorCode,
  type Notification,
  type PresenceEntry,
  type PresenceMember,
} from '@pulse/protocol';
import type { ServerContext } from '../context.ts';
import type { RealtimeSink } from '../domain/events.ts';
import { isUnavailable } from '../store/errors.ts';
import type { Bus } from './bus.ts';
import { secretFingerprint } from '../cluster/fingerprint.ts';
import { ClusterPresence } from './cluster-presence.ts';
import type { Connection } from './connection.ts';
import { DurableQueue } from './durable-queue.ts';
import { Gateway } from './gateway.ts';
import { HANDLERS } from './handlers.ts';
import { authenticate } from './join.ts';
import { RoomRegistry } from './registry.ts';
import { closeRevokedSockets } from './revocation.ts';
import { RoomSnapshots } from './room-state.ts';
import { sendRoomState } from './send-state.ts';
import { EventSink } from './sink.ts';
import { NEW_ROOM_BURST, NEW_ROOMS_PER_MINUTE, SIGN_IN_BURST, SIGN_INS_PER_MINUTE, UserRateLimiter } from '../user-rate-limiter.ts';

export interface HubOptions {
  /** How long a user stays present after their last socket closed. */
  leaveGraceMs?: number;
  authTimeoutMs?: number;
  offlineAfterMs?: number;
  connectionsPerRoom?: number;
  connectionsPerUserPerRoom?: number;
  connectionsPerUser?: number;
  unauthenticatedPerAddress?: number;
  unauthenticatedPerServer?: number;
  /**
   * Cluster mode: how long a node counts as alive after its last heartbeat (it heartbeats three
   * times per period). A node that dies has its users leave every node's presence within this
   * plus two checks (at most 5 s each). Default half the offline timeout.
   */
  clusterNodeTtlMs?: number;
}

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
    case 'too_many_connections':
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
 * The realtime server, put together: the gateway (sockets and frames), the durable queue (each
 * connection's requests in order), the room registry (who is where), room snapshots, and the
 * event sink through which domain services announce committed changes.
 */
export class RealtimeHub implements RealtimeSink {
  readonly ctx: ServerContext;
  readonly bus: Bus;
  readonly registry: RoomRegistry;
  readonly snapshots: RoomSnapshots;
  /** Sign-ins per user (each may store a room and the user): see SIGN_IN_BURST. */
  readonly signIns = new UserRateLimiter('sign-ins', SIGN_IN_BURST, SIGN_INS_PER_MINUTE);
  readonly newRooms = new UserRateLimiter('new rooms', NEW_ROOM_BURST, NEW_ROOMS_PER_MINUTE);
  readonly queue: DurableQueue;
  readonly #gateway: Gateway;
  readonly #sink: EventSink;
  /** Cluster mode (Redis bus): presence shared with the other nodes. */
  readonly #cluster: ClusterPresence | undefined;

  constructor(ctx: ServerContext, bus: Bus, options: HubOptions = {}) {
    this.ctx = ctx;
    this.bus = bus;
    const leaveGraceMs = options.leaveGraceMs ?? PRESENCE_LEAVE_GRACE_MS;
    const offlineAfterMs = options.offlineAfterMs ?? PRESENCE_OFFLINE_AFTER_MS;
    const link = bus.cluster;
    this.#cluster = link
      ? new ClusterPresence(
          link,
          { nodeTtlMs: options.clusterNodeTtlMs ?? offlineAfterMs / 2, leaveGraceMs, secretFingerprint: secretFingerprint(ctx.options.secret) },
          () => this.#clusterRooms(),
        )
      : undefined;
    this.registry = new RoomRegistry(
      bus,
      {
        leaveGraceMs,
        connectionsPerRoom: options.connectionsPerRoom ?? LIMITS.connectionsPerRoom,
        connectionsPerUserPerRoom: options.connectionsPerUserPerRoom ?? LIMITS.connectionsPerUserPerRoom,
        connectionsPerUser: options.connectionsPerUser ?? LIMITS.connectionsPerUser,
      },
      this.#cluster,
    );
    this.snapshots = new RoomSnapshots(ctx.store, {
      presence: (envId, roomId) => this.registry.presenceMembers(envId, roomId),
      open: (envId, roomId) => this.registry.room(envId, roomId),
    });
    this.registry.onRoomDisposed = (envId, roomId) => this.snapshots.forget(envId, roomId);
    // REST writes go to the store directly: the process is saturated when either holds its bound.
    this.queue = new DurableQueue((conn, message) => this.#handleQueued(conn, message), undefined, () => ctx.store.pendingWrites() >= LIMITS.durableQueuePerProcess);
    this.#gateway = new Gateway(this, {
      authTimeoutMs: options.authTimeoutMs ?? AUTH_TIMEOUT_MS,
      offlineAfterMs,
      unauthenticatedPerAddress: options.unauthenticatedPerAddress ?? LIMITS.unauthenticatedPerAddress,
      unauthenticatedPerServer: options.unauthenticatedPerServer ?? LIMITS.unauthenticatedPerServer,
    });
    this.#sink = new EventSink(bus, this.registry);
    if (this.#cluster && link) {
      void this.#cluster.start();
      link.onRecovered(() => void this.#recover());
    }
  }

  *#clusterRooms() {
    for (const room of this.registry.rooms) if (room.cluster) yield room.cluster;
  }

  /**
   * After a Redis outage: presence is written, announced and read again, and every socket gets
   * its room's full state, since events of other nodes published meanwhile did not reach it.
   */
  async #recover(): Promise<void> {
    try {
      await this.#cluster?.recover();
      for (const room of [...this.registry.rooms]) {
        if (room.connections.size === 0) continue;
        await sendRoomState([...room.connections], () => this.roomStateFrame(room.envId, room.roomId));
      }
    } catch (err) {
      console.error('[pulse] resynchronising rooms after a Redis outage failed:', err);
    }
  }

  attach(server: Server): void {
    this.#gateway.attach(server);
  }

  async authenticate(conn: Connection, message: ClientMessageOf<'auth'>): Promise<void> {
    await authenticate(this, conn, message);
    if (conn.identity && conn.open) this.#gateway.authenticated(conn);
  }

  /** Ephemeral and presence messages: handled at once, never behind a write. */
  handleNow(conn: Connection, message: ClientMessage): void {
    const pending = (HANDLERS[message.type] as (hub: RealtimeHub, conn: Connection, m: ClientMessage) => Promise<void> | void)(this, conn, message);
    pending?.catch((err: unknown) => this.fail(conn, err, 'ref' in message ? message.ref : undefined));
  }

  /** A durable request's turn in its connection's queue: run it, answer any failure. */
  async #handleQueued(conn: Connection, message: ClientMessage): Promise<void> {
    try {
      await (HANDLERS[message.type] as (hub: RealtimeHub, conn: Connection, m: ClientMessage) => Promise<void> | void)(this, conn, message);
    } catch (err) {
      this.fail(conn, err, 'ref' in message ? message.ref : undefined);
    }
  }

  /** The environment's config: as this node's sockets last received it, or from the cache. */
  async configOf(envId: string): Promise<EnvConfig> {
    return this.registry.configFor(envId) ?? (await this.ctx.configs.require(envId));
  }

  /** The room's full state as a `room:state` frame, with the config its sockets hold. */
  async roomStateFrame(envId: string, roomId: string): Promise<Buffer> {
    return this.snapshots.stateFrame(envId, roomId, await this.configOf(envId));
  }

  fail(conn: Connection, err: unknown, ref: string | undefined): void {
    if (err instanceof PulseError) {
      // Found malformed only once it ran (fields that go together): a strike, like a schema error.
      if (err.code === 'invalid_message') conn.strike();
      return this.error(conn, err.code, err.message, ref);
    }
    if (isUnavailable(err)) return this.error(conn, 'service_unavailable', undefined, ref);
    console.error('[pulse] realtime handler failed:', err);
    this.error(conn, 'internal_error', undefined, ref);
  }

  /** Also every refusal under overload: no Error is built just for its message. */
  error(conn: Connection, code: ErrorCode, message?: string, ref?: string): void {
    conn.sendNow({ type: 'error', code, message: message ?? ERROR_CATALOGUE[code].message, ...(ref ? { ref } : {}) });
  }

  /** Ends an authenticated connection: an `error` with the code, then the matching close code. */
  expel(conn: Connection, code: ErrorCode): void {
    this.error(conn, code);
    conn.close(closeCodeFor(code), code);
  }

  /** Ends a connection's authentication with an error: auth:error, then the matching close code. */
  rejectAuth(conn: Connection, err: PulseError): void {
    conn.sendNow({ type: 'auth:error', code: err.code, message: err.message });
    conn.close(closeCodeFor(err.code), err.code);
  }

  // --- RealtimeSink: durable changes from the domain services, to every node.

  roomEvent(envId: string, roomId: string, event: DurableRoomEvent): void {
    this.#sink.roomEvent(envId, roomId, event);
  }

  notification(envId: string, userId: string, notification: Notification): void {
    this.#sink.notification(envId, userId, notification);
  }

  notificationsRead(envId: string, userId: string, ids: string[], all: boolean): void {
    this.#sink.notificationsRead(envId, userId, ids, all);
  }

  configUpdated(envId: string, config: EnvConfig): void {
    this.#sink.configUpdated(envId, config);
  }

  // --- Control events (keys, config) from this process or any other.

  async environmentChanged(envId: string, kind: string): Promise<void> {
    if (!this.registry.connectionsOf(envId)?.size) return;
    if (kind === 'config.updated') {
      this.ctx.configs.invalidate(envId);
      const config = await this.ctx.configs.get(envId);
      if (config) this.configUpdated(envId, config);
    } else if (kind === 'keys.rotated' || kind === 'key.revoked') {
      await closeRevokedSockets(this.ctx.store, this.registry, envId, (conn, code) => this.expel(conn, code));
    }
  }

  presenceMembers(envId: string, roomId: string): Promise<PresenceMember[]> {
    return this.registry.presenceMembers(envId, roomId);
  }

  presence(envId: string, roomId: string): Promise<PresenceEntry[]> {
    return this.registry.presence(envId, roomId);
  }

  get connectionCount(): number {
    return this.#gateway.connections.size;
  }

  async close(): Promise<void> {
    this.queue.close();
    await this.#cluster?.close();
    this.#gateway.close();
    this.registry.close();
  }
}
