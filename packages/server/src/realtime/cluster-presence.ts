import type { PresenceMember } from '@pulse/protocol';
import { parseBeacon, type NodeBeacon } from '../cluster/fingerprint.ts';
import type { ClusterLink } from './bus.ts';
import { aggregate, type ClusterRoomPresence, type SlotRecord } from './cluster-room-presence.ts';

export interface ClusterPresenceOptions {
  /** How long a node counts as alive after its last heartbeat; it heartbeats three times per period. */
  nodeTtlMs: number;
  /** How long a node's users stay after it shut down cleanly (they may reconnect elsewhere meanwhile). */
  leaveGraceMs: number;
  /** secretFingerprint() of this node's PULSE_SECRET, published with its heartbeat. */
  secretFingerprint: string;
  log?: (message: string) => void;
}

/**
 * The node-level side of cluster presence: this node's heartbeat key, the hashes of the rooms it
 * has sockets in, detection of nodes that died (their key expired: their users leave every
 * node's presence), repair after a Redis outage, and presence of rooms this node does not hold.
 */
export class ClusterPresence {
  readonly #link: ClusterLink;
  readonly #options: ClusterPresenceOptions;
  readonly #rooms: () => Iterable<ClusterRoomPresence>;
  readonly #misses = new Map<string, number>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #log: (message: string) => void;
  #version = 0;
  #quietUntil = 0;
  #heartbeats = 0;
  #closed = false;

  constructor(link: ClusterLink, options: ClusterPresenceOptions, rooms: () => Iterable<ClusterRoomPresence>) {
    this.#link = link;
    this.#options = options;
    this.#rooms = rooms;
    this.#log = options.log ?? ((m) => console.warn(`[pulse] ${m}`));
  }

  get nodeId(): string {
    return this.#link.nodeId;
  }

  nextVersion(): number {
    return ++this.#version;
  }

  hashKey(envId: string, roomId: string): string {
    return `${this.#link.prefix}presence:${envId}:${roomId}`;
  }

  #nodeKey(node: string): string {
    return `${this.#link.prefix}node:${node}`;
  }

  #beacon(): string {
    return JSON.stringify({ t: Date.now(), fp: this.#options.secretFingerprint } satisfies NodeBeacon);
  }

  async start(): Promise<void> {
    const beat = Math.max(50, Math.floor(this.#options.nodeTtlMs / 3));
    await this.heartbeat();
    await this.#compareSecrets();
    if (this.#closed) return;
    this.#timers.push(setInterval(() => void this.heartbeat(), beat), setInterval(() => void this.checkNodes(), Math.min(beat, 5_000)));
    for (const t of this.#timers) t.unref();
  }

  /** Stores (or removes) one of this node's slots in the room's hash. */
  write(room: ClusterRoomPresence, userId: string, record: SlotRecord): void {
    if (!this.#link.ready()) return; // written again on recovery
    const field = `${this.nodeId}:${userId}`;
    const redis = this.#link.redis;
    const done = record.gone
      ? redis.hdel(room.hashKey, field)
      : redis.multi().hset(room.hashKey, field, JSON.stringify(record)).pexpire(room.hashKey, this.#options.nodeTtlMs).exec();
    done.catch(() => undefined); // a failed write shows as an outage; recovery writes everything again
  }

  /** Refreshes this node's key and the hashes it has slots in; a node found presumed dead hands its slots on again. */
  async heartbeat(): Promise<void> {
    if (!this.#link.ready()) return;
    const ttl = this.#options.nodeTtlMs;
    try {
      const pipeline = this.#link.redis.pipeline().set(this.#nodeKey(this.nodeId), this.#beacon(), 'PX', ttl, 'GET');
      for (const room of this.#rooms()) if (room.hasOwnSlots) pipeline.pexpire(room.hashKey, ttl);
      const results = await pipeline.exec();
      const previous = results?.[0]?.[1];
      if (this.#heartbeats++ > 0 && previous === null) {
        this.#log('cluster: this node was presumed dead (its heartbeat had expired); announcing its presence again');
        await this.republish();
      }
    } catch {
      // Redis is down: the bus reports it and recovery repairs presence.
    }
  }

  /** Tokens minted on one node must verify on every other: say so loudly when the secrets differ. */
  async #compareSecrets(): Promise<void> {
    const own = this.#options.secretFingerprint;
    if (own === 'unset') {
      this.#log('cluster: PULSE_SECRET is not set; each node signs tokens with its own secret, so tokens minted on one node fail on the others. Set the same PULSE_SECRET on every node.');
    }
    try {
      const others = await liveNodes(this.#link.redis, this.#link.prefix);
      const differing = others.filter(([id, b]) => id !== this.nodeId && b.fp !== own);
      if (differing.length) {
        this.#log(`cluster: ${differing.length} other node(s) use a different PULSE_SECRET (${differing.map(([id]) => id).join(', ')}); tokens will not verify across nodes`);
      }
    } catch {
      // Redis is down: the cluster check reports it too.
    }
  }

  /** Drops nodes whose heartbeat key is gone (two checks in a row), from every room here and from Redis. */
  async checkNodes(): Promise<void> {
    if (!this.#link.ready() || Date.now() < this.#quietUntil) return;
    const nodes = new Set<string>();
    for (const room of this.#rooms()) room.otherNodes(nodes);
    for (const node of this.#misses.keys()) if (!nodes.has(node)) this.#misses.delete(node);
    if (nodes.size === 0) return;
    const ids = [...nodes];
    let alive: (string | null)[];
    try {
      alive = await this.#link.redis.mget(...ids.map((n) => this.#nodeKey(n)));
    } catch {
      return;
    }
    const dead: string[] = [];
    ids.forEach((node, i) => {
      if (alive[i] !== null) return this.#misses.delete(node);
      const misses = (this.#misses.get(node) ?? 0) + 1;
      this.#misses.set(node, misses);
      if (misses >= 2) dead.push(node);
    });
    for (const node of dead) {
      this.#misses.delete(node);
      this.#log(`cluster: node ${node} stopped heartbeating; removing its users from presence`);
      for (const room of this.#rooms()) {
        const fields = room.dropNode(node);
        if (fields.length) this.#link.redis.hdel(room.hashKey, ...fields).catch(() => undefined);
      }
    }
  }

  /** Reads the slots of live nodes from a room's hash (dropping those of dead nodes). */
  async #read(hashKey: string): Promise<[string, string, SlotRecord][]> {
    const redis = this.#link.redis;
    const hash = await redis.hgetall(hashKey);
    const entries: [string, string, SlotRecord][] = [];
    for (const [field, json] of Object.entries(hash)) {
      const at = field.indexOf(':');
      try {
        entries.push([field.slice(0, at), field.slice(at + 1), JSON.parse(json) as SlotRecord]);
      } catch {
        // not ours
      }
    }
    const nodes = [...new Set(entries.map((e) => e[0]))];
    if (nodes.length === 0) return [];
    const alive = await redis.mget(...nodes.map((n) => this.#nodeKey(n)));
    const live = new Set(nodes.filter((_, i) => alive[i] !== null));
    return entries.filter((e) => live.has(e[0]) || e[0] === this.nodeId);
  }

  /** Loads a room's stored slots into its view (when the room starts on this node, and after an outage). */
  async load(room: ClusterRoomPresence): Promise<void> {
    if (!this.#link.ready()) return;
    try {
      room.load(await this.#read(room.hashKey));
    } catch (err) {
      this.#log(`cluster: reading presence failed (${(err as Error).message}); repaired on recovery`);
    }
  }

  /** Presence of a room this node holds no sockets of, merged from Redis. */
  async members(envId: string, roomId: string): Promise<PresenceMember[]> {
    const byUser = new Map<string, SlotRecord[]>();
    for (const [, userId, record] of await this.#read(this.hashKey(envId, roomId))) {
      let list = byUser.get(userId);
      if (!list) byUser.set(userId, (list = []));
      list.push(record);
    }
    const out: PresenceMember[] = [];
    for (const records of byUser.values()) {
      const m = aggregate(records);
      if (m) out.push(m);
    }
    return out;
  }

  /** Writes this node's slots again (Redis may have restarted empty, or declared this node dead). */
  async republish(): Promise<void> {
    const ttl = this.#options.nodeTtlMs;
    const pipeline = this.#link.redis.pipeline().set(this.#nodeKey(this.nodeId), this.#beacon(), 'PX', ttl);
    for (const room of this.#rooms()) {
      let any = false;
      for (const [userId, record] of room.ownRecords()) {
        pipeline.hset(room.hashKey, `${this.nodeId}:${userId}`, JSON.stringify(record));
        room.announce(userId, record);
        any = true;
      }
      if (any) pipeline.pexpire(room.hashKey, ttl);
    }
    await pipeline.exec();
  }

  /**
   * After a Redis outage: this node's slots are written and announced again, every room's view is
   * reloaded, and no node is declared dead until the others have had a full period to heartbeat.
   */
  async recover(): Promise<void> {
    this.#quietUntil = Date.now() + this.#options.nodeTtlMs;
    this.#misses.clear();
    await this.republish();
    for (const room of this.#rooms()) await this.load(room);
  }

  /** Stops heartbeating; this node's users leave the other nodes' presence after the leave grace period. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (!this.#link.ready()) return;
    await this.#link.redis.pexpire(this.#nodeKey(this.nodeId), Math.max(1, this.#options.leaveGraceMs)).catch(() => undefined);
  }
}

/** Nodes with a live heartbeat key under a prefix, with what they published. */
export async function liveNodes(redis: ClusterLink['redis'], prefix: string): Promise<[string, NodeBeacon][]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}node:*`, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  const out: [string, NodeBeacon][] = [];
  keys.forEach((key, i) => {
    const beacon = parseBeacon(values[i]);
    if (beacon) out.push([key.slice(prefix.length + 'node:'.length), beacon]);
  });
  return out;
}
