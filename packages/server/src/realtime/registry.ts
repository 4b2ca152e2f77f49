import { LIMITS, PulseError, type EnvConfig, type PresenceEntry, type PresenceMember } from '@pulse/protocol';
import { KeyedBuckets } from '../token-bucket.ts';
import { roomChannel, userChannel, type Bus } from './bus.ts';
import type { ClusterPresence } from './cluster-presence.ts';
import { toEntry, type PresenceWire } from './cluster-room-presence.ts';
import { READING_PAUSED, type Connection, type Delivery, type UserSockets } from './connection.ts';
import { LocalRoom } from './room.ts';

/** First character of a payload on a room channel: what kind of frame follows. */
export const PAYLOAD = { durable: 'd', ephemeral: 'e', presence: 'p' } as const;

export interface RegistryOptions {
  leaveGraceMs: number;
  connectionsPerRoom: number;
  connectionsPerUserPerRoom: number;
  connectionsPerUser: number;
}

/**
 * Who is where on this node: rooms and their sockets, each user's channel (notifications reach
 * every socket of the user, in any room), and each environment's sockets and config (for config
 * pushes and key revocation). Rooms are subscribed to the bus while they have members.
 */
export class RoomRegistry {
  readonly #bus: Bus;
  readonly #options: RegistryOptions;
  readonly #cluster: ClusterPresence | undefined;
  readonly #rooms = new Map<string, LocalRoom>();
  readonly #envConnections = new Map<string, Set<Connection>>();
  readonly #envConfigs = new Map<string, EnvConfig>();
  readonly #users = new Map<string, UserSockets & { unsubscribe: () => void }>();
  /** Per-user allowances, kept while the user has no socket (signing in again does not renew them). */
  readonly #userResyncs = new KeyedBuckets(LIMITS.resyncsPerUserBurst, LIMITS.resyncsPerUserPerSecond);
  readonly #userWrites = new KeyedBuckets(LIMITS.writesPerUserBurst, LIMITS.writesPerUserPerSecond);
  /** Called when a room leaves this node (its last member gone). */
  onRoomDisposed: (envId: string, roomId: string) => void = () => undefined;

  constructor(bus: Bus, options: RegistryOptions, cluster: ClusterPresence | undefined) {
    this.#bus = bus;
    this.#options = options;
    this.#cluster = cluster;
  }

  get rooms(): IterableIterator<LocalRoom> {
    return this.#rooms.values();
  }

  room(envId: string, roomId: string): LocalRoom | undefined {
    return this.#rooms.get(roomKey(envId, roomId));
  }

  connectionsOf(envId: string): ReadonlySet<Connection> | undefined {
    return this.#envConnections.get(envId);
  }

  configFor(envId: string): EnvConfig | undefined {
    return this.#envConfigs.get(envId);
  }

  setConfig(envId: string, config: EnvConfig): boolean {
    if (!this.#envConnections.has(envId)) return false;
    this.#envConfigs.set(envId, config);
    return true;
  }

  /** Adds an authenticated connection to its room; durable events start buffering for it at once. */
  join(conn: Connection, config: EnvConfig): LocalRoom {
    const { envId, roomId, user } = conn.identity!;
    // Before the room is opened: a refused join must not leave an empty room behind.
    if ((this.#users.get(roomKey(envId, user.id))?.connections.size ?? 0) >= this.#options.connectionsPerUser) {
      throw new PulseError('too_many_connections', `A user may have ${this.#options.connectionsPerUser} connections on one server, all rooms together.`);
    }
    const room = this.#rooms.get(roomKey(envId, roomId)) ?? this.#open(envId, roomId);
    if (room.connections.size >= this.#options.connectionsPerRoom) throw new PulseError('room_full');
    let mine = 0;
    for (const c of room.connections) if (c.identity!.user.id === user.id && ++mine >= this.#options.connectionsPerUserPerRoom) {
      throw new PulseError('too_many_connections', `A user may have ${this.#options.connectionsPerUserPerRoom} connections in one room.`);
    }
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

  #open(envId: string, roomId: string): LocalRoom {
    const channel = roomChannel(envId, roomId);
    const room = new LocalRoom(
      envId,
      roomId,
      this.#options.leaveGraceMs,
      {
        publishBatch: (json) => this.#bus.publish(channel, PAYLOAD.ephemeral + json, 'ephemeral'),
        showPresence: () => this.#envConfigs.get(envId)?.showPresence !== false,
        publishPresence: (json) => this.#bus.publish(channel, PAYLOAD.presence + json),
      },
      this.#cluster,
      // One node sees every event of its rooms; a cluster node may miss other nodes' in an outage.
      !this.#bus.cluster,
    );
    room.unsubscribe = this.#bus.subscribe(channel, (payload) => fromBus(room, payload));
    if (room.cluster && this.#cluster) {
      const cluster = this.#cluster;
      // Subscribed first, then loaded: a change made meanwhile arrives as a message (newer versions win).
      room.ready = this.#bus.subscribed(channel).then(() => cluster.load(room.cluster!));
    }
    this.#rooms.set(roomKey(envId, roomId), room);
    return room;
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
    if (room.connections.size === 0) this.#maybeDispose(room);
  }

  #maybeDispose(room: LocalRoom): void {
    // Presence leaves after a grace period; the room stays until its last member has left.
    const check = () => {
      const key = roomKey(room.envId, room.roomId);
      if (room.connections.size === 0 && room.presence.size === 0 && this.#rooms.get(key) === room) {
        room.flush();
        room.dispose();
        this.#rooms.delete(key);
        this.onRoomDisposed(room.envId, room.roomId);
      }
    };
    if (room.presence.size === 0) check();
    else setTimeout(check, this.#options.leaveGraceMs + 50).unref();
  }

  #retainUser(conn: Connection): void {
    const { envId, user } = conn.identity!;
    const key = roomKey(envId, user.id);
    const existing = this.#users.get(key);
    if (existing) {
      existing.connections.add(conn);
      conn.userSockets = existing;
      return;
    }
    const connections = new Set([conn]);
    const unsubscribe = this.#bus.subscribe(userChannel(envId, user.id), (payload) => {
      const frame = Buffer.from(payload);
      for (const c of connections) c.sendFrame(frame, 'durable');
    });
    const sockets = {
      connections,
      unsubscribe,
      resyncs: this.#userResyncs.get(key),
      writes: this.#userWrites.get(key),
      queuePaused: 0,
    };
    this.#users.set(key, sockets);
    conn.userSockets = sockets;
  }

  #releaseUser(conn: Connection): void {
    const { envId, user } = conn.identity!;
    const key = roomKey(envId, user.id);
    const sub = this.#users.get(key);
    // A socket closed while its queue held it: the user's write allowance stops accruing for it.
    conn.resumeReading(READING_PAUSED.durableQueue);
    conn.resumeReading(READING_PAUSED.laneOrder);
    if (sub && sub.connections.delete(conn) && sub.connections.size === 0) {
      sub.unsubscribe();
      this.#users.delete(key);
    }
  }

  /** Who is in a room: on this node, or in cluster mode on every node. */
  async presenceMembers(envId: string, roomId: string): Promise<PresenceMember[]> {
    const room = this.room(envId, roomId);
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
    return (await this.presenceMembers(envId, roomId)).map((m) => toEntry(envId, m));
  }

  close(): void {
    for (const room of this.#rooms.values()) room.dispose();
    this.#rooms.clear();
    for (const sub of this.#users.values()) sub.unsubscribe();
    this.#users.clear();
  }
}

/** A payload from the room's channel, for this node's sockets in it. */
function fromBus(room: LocalRoom, payload: string): void {
  const kind = payload[0];
  if (kind === PAYLOAD.presence) {
    try {
      room.cluster?.remote(JSON.parse(payload.slice(1)) as PresenceWire);
    } catch (err) {
      console.error('[pulse] bad presence message from the bus:', err);
    }
    return;
  }
  const delivery: Delivery = kind === PAYLOAD.ephemeral ? 'ephemeral' : 'durable';
  room.deliver(Buffer.from(payload.slice(1)), delivery);
}

function roomKey(envId: string, id: string): string {
  return `${envId}\u0000${id}`;
}
