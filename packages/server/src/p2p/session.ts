import type { P2PPeer } from '@pulse/protocol';
import type { Bus } from '../realtime/bus.ts';
import type { Connection } from '../realtime/connection.ts';

export const p2pChannel = (envId: string, roomId: string) => `p2p:${envId}:${roomId}`;

/**
 * How long a node's new session of a room waits for the other nodes' answers to its `hello`
 * (a round trip through Redis, a few milliseconds) before its first join is answered.
 */
const HELLO_WAIT_MS = 100;

/** Where a relayed frame goes: every peer of the room but the sender, or a named one. */
export interface Route {
  /** The sending connection: never delivered to. */
  from?: string;
  /** Only this connection. */
  to?: string;
  /** Only this user's connections. */
  toUser?: string;
  /** Not these connections (they got it over a data channel). */
  except?: string[];
  /** Not sent to a socket that is behind (raw messages: not queued), as ephemeral frames. */
  droppable?: boolean;
}

/** Whether a frame on `route` goes to connection `id` of user `userId`. */
function reaches(route: Route, id: string, userId: string): boolean {
  return id !== route.from && (!route.to || id === route.to) && (route.toUser === undefined || userId === route.toUser) && !route.except?.includes(id);
}

/** Bus messages of a room's P2P channel: header JSON, then (for frames) a newline and the frame. */
type Header =
  | ({ k: 'frame'; n: string } & Route)
  | { k: 'join'; n: string; peer: P2PPeer }
  | { k: 'leave'; n: string; peer: P2PPeer }
  /** A peer's entry changed (a relay peer was given a place in the mesh). */
  | { k: 'update'; n: string; peer: P2PPeer }
  /** A node opened the room: the others answer with their peers. */
  | { k: 'hello'; n: string }
  | { k: 'here'; n: string; peers: P2PPeer[] }
  /** The room's shared state was deleted: every node drops what it holds and tells its peers. */
  | { k: 'reset'; n: string };

/** Publishes a reset of a room's shared state to every node (whether or not this one has the room). */
export function publishReset(bus: Bus, envId: string, roomId: string): void {
  bus.publish(p2pChannel(envId, roomId), JSON.stringify({ k: 'reset', n: bus.cluster?.nodeId ?? 'local' } satisfies Header));
}

export interface LocalPeer {
  conn: Connection;
  peer: P2PPeer;
}

/**
 * One room's P2P session on this node: its local peers, the peers of other nodes (announced on
 * the room's P2P channel), and delivery of relayed frames. Every frame goes through the bus, so
 * one node and a cluster behave the same; the frame is serialised once by its sender's node.
 */
export class P2PRoomSession {
  readonly envId: string;
  readonly roomId: string;
  /** This node's peers, in join order. */
  readonly local = new Map<string, LocalPeer>();
  /** Other nodes' peers. */
  readonly remote = new Map<string, P2PPeer & { node: string }>();
  readonly ready: Promise<void>;
  readonly #bus: Bus;
  readonly #node: string;
  readonly #channel: string;
  readonly #unsubscribe: () => void;
  persistTimer: NodeJS.Timeout | undefined;
  /** Called on a reset of the room's state (after its local peers were told). */
  onReset: () => void = () => undefined;
  /** What each user's raw messages still owe of the relay budget, in bytes (see chargeRelay). */
  readonly #owed = new Map<string, { bytes: number; at: number }>();
  #prunedAt = -Infinity;

  constructor(bus: Bus, envId: string, roomId: string) {
    this.envId = envId;
    this.roomId = roomId;
    this.#bus = bus;
    this.#node = bus.cluster?.nodeId ?? 'local';
    this.#channel = p2pChannel(envId, roomId);
    this.#unsubscribe = bus.subscribe(this.#channel, (payload) => this.#received(payload));
    this.ready = bus.subscribed(this.#channel).then(async () => {
      if (!bus.cluster) return;
      this.#publish({ k: 'hello', n: this.#node });
      // The other nodes' peers come back as `here` answers: the first join waits for them, or it
      // would be told of no peer and given a mesh place already taken.
      await new Promise((resolve) => setTimeout(resolve, HELLO_WAIT_MS));
    });
  }

  /** Every peer of the room, local first. */
  peers(): P2PPeer[] {
    return [...[...this.local.values()].map((l) => l.peer), ...[...this.remote.values()].map(({ node: _node, ...peer }) => peer)];
  }

  has(connectionId: string): boolean {
    return this.local.has(connectionId) || this.remote.has(connectionId);
  }

  hasUser(userId: string): boolean {
    for (const l of this.local.values()) if (l.peer.userId === userId) return true;
    for (const r of this.remote.values()) if (r.userId === userId) return true;
    return false;
  }

  /** Peers a frame on this route reaches (every node's). */
  receivers(route: Route): number {
    let n = 0;
    for (const [id, { peer }] of this.local) if (reaches(route, id, peer.userId)) n++;
    for (const [id, peer] of this.remote) if (reaches(route, id, peer.userId)) n++;
    return n;
  }

  /**
   * Charges a user's raw message to their relay budget in this room (`bytes`: its size times its
   * receivers); false, and nothing charged, while they owe more than a second's worth.
   */
  chargeRelay(userId: string, bytes: number, perSecond: number, now = performance.now()): boolean {
    const debtOf = (owed: { bytes: number; at: number } | undefined) => (owed ? Math.max(0, owed.bytes - ((now - owed.at) / 1000) * perSecond) : 0);
    const debt = debtOf(this.#owed.get(userId));
    if (debt > perSecond) return false;
    this.#owed.set(userId, { bytes: debt + bytes, at: now });
    // Paid-up users are forgotten now and then (at most once a second), so the map holds only recent senders.
    if (this.#owed.size > 64 && now - this.#prunedAt > 1000) {
      this.#prunedAt = now;
      for (const [id, owed] of this.#owed) if (debtOf(owed) === 0) this.#owed.delete(id);
    }
    return true;
  }

  get meshCount(): number {
    let n = 0;
    for (const p of this.peers()) if (p.mesh) n++;
    return n;
  }

  add(conn: Connection, peer: P2PPeer): void {
    this.local.set(peer.connectionId, { conn, peer });
    this.#publish({ k: 'join', n: this.#node, peer });
  }

  remove(connectionId: string): LocalPeer | undefined {
    const local = this.local.get(connectionId);
    if (!local) return undefined;
    this.local.delete(connectionId);
    this.#publish({ k: 'leave', n: this.#node, peer: local.peer });
    return local;
  }

  /**
   * A mesh place is free: the longest-present local peer that can do WebRTC but uses the relay
   * gets it. Everyone (the promoted peer included) hears of it with `p2p:peer-updated`.
   */
  promote(meshLimit: number): P2PPeer | undefined {
    if (this.meshCount >= meshLimit) return undefined;
    for (const local of this.local.values()) {
      if (!local.peer.webrtc || local.peer.mesh) continue;
      local.peer = { ...local.peer, mesh: true };
      this.#publish({ k: 'update', n: this.#node, peer: local.peer });
      return local.peer;
    }
    return undefined;
  }

  /** Relays a pre-serialised frame to the room's peers on every node. */
  relay(route: Route, frame: string): void {
    this.#publish({ k: 'frame', n: this.#node, ...route }, frame);
  }

  #publish(header: Header, frame?: string): void {
    this.#bus.publish(this.#channel, frame === undefined ? JSON.stringify(header) : `${JSON.stringify(header)}\n${frame}`);
  }

  #received(payload: string): void {
    const nl = payload.indexOf('\n');
    let header: Header;
    try {
      header = JSON.parse(nl < 0 ? payload : payload.slice(0, nl)) as Header;
    } catch (err) {
      console.error('[pulse] bad P2P message from the bus:', err);
      return;
    }
    const mine = header.n === this.#node;
    switch (header.k) {
      case 'frame':
        return this.#deliver(header, Buffer.from(payload.slice(nl + 1)));
      case 'join':
        if (!mine) this.remote.set(header.peer.connectionId, { ...header.peer, node: header.n });
        return this.#announce({ type: 'p2p:peer-joined', peer: header.peer }, header.peer.connectionId);
      case 'leave':
        if (!mine) this.remote.delete(header.peer.connectionId);
        return this.#announce({ type: 'p2p:peer-left', userId: header.peer.userId, connectionId: header.peer.connectionId }, header.peer.connectionId);
      case 'update': {
        if (!mine && this.remote.has(header.peer.connectionId)) this.remote.set(header.peer.connectionId, { ...header.peer, node: header.n });
        const frame = Buffer.from(JSON.stringify({ type: 'p2p:peer-updated', peer: header.peer }));
        for (const { conn } of this.local.values()) conn.sendFrame(frame, 'durable');
        return;
      }
      case 'hello':
        if (!mine && this.local.size > 0) this.#publish({ k: 'here', n: this.#node, peers: [...this.local.values()].map((l) => l.peer) });
        return;
      case 'reset':
        this.#announce({ type: 'p2p:reset' }, '');
        return this.onReset();
      case 'here':
        if (mine) return;
        for (const peer of header.peers) {
          if (this.remote.has(peer.connectionId)) continue;
          this.remote.set(peer.connectionId, { ...peer, node: header.n });
          this.#announce({ type: 'p2p:peer-joined', peer }, peer.connectionId);
        }
    }
  }

  #deliver(route: Route, frame: Buffer): void {
    for (const [id, { conn, peer }] of this.local) if (reaches(route, id, peer.userId)) conn.sendFrame(frame, route.droppable ? 'ephemeral' : 'durable');
  }

  #announce(message: object, about: string): void {
    const frame = Buffer.from(JSON.stringify(message));
    for (const [id, { conn }] of this.local) if (id !== about) conn.sendFrame(frame, 'durable');
  }

  /** Peers of a node that is gone (its connections can no longer leave by themselves). */
  forgetNode(node: string): void {
    for (const [id, peer] of this.remote) {
      if (peer.node !== node) continue;
      this.remote.delete(id);
      this.#announce({ type: 'p2p:peer-left', userId: peer.userId, connectionId: id }, id);
    }
  }

  close(): void {
    clearInterval(this.persistTimer);
    this.#unsubscribe();
  }
}
