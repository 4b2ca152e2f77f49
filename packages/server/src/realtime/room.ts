import { LIMITS, PRESENCE_BATCH_MS, ROOM_TICK_MS, type EphemeralEvent } from '@pulse/protocol';
import { textFrame, type Connection, type Delivery } from './connection.ts';
import type { ClusterPresence } from './cluster-presence.ts';
import { ClusterRoomPresence, type PresenceWire } from './cluster-room-presence.ts';
import { RoomPresence, type PresenceChange, type PresenceOutput } from './presence.ts';

/** The latest ephemeral state of one user since the last tick. */
interface Pending {
  cursor?: EphemeralEvent;
  viewport?: EphemeralEvent;
  selection?: EphemeralEvent;
  typing?: Map<string, EphemeralEvent>;
  oneShots?: EphemeralEvent[];
}

export interface RoomOutput {
  /** Publish a tick's batch of ephemeral events to every node's sockets in this room (this node's too). */
  publishBatch(json: string): void;
  /** Whether presence changes are shown in this environment right now. */
  showPresence(): boolean;
  /** Cluster mode: publish a presence message to the other nodes in this room. */
  publishPresence?(json: string): void;
}

/**
 * One room on this node: its local sockets, its presence, and the ephemeral events and presence
 * changes waiting to be sent. Ephemeral events are coalesced per user (the last cursor wins) and
 * leave as one frame per tick, serialised once for every recipient.
 */
export class LocalRoom {
  readonly envId: string;
  readonly roomId: string;
  readonly connections = new Set<Connection>();
  readonly presence: RoomPresence;
  /** Cluster mode: the room's presence on every node, merged. */
  readonly cluster: ClusterRoomPresence | undefined;
  /** Cluster mode: settles once the room's channel is subscribed and its stored presence loaded. */
  ready: Promise<void> | undefined;
  readonly #pending = new Map<string, Pending>();
  /** Presence changes for this node's sockets, waiting to be sent, the net one per user (see #queuePresence). */
  #presenceChanges = new Map<string, NetPresence>();
  #presenceTimer: NodeJS.Timeout | undefined;
  #presenceSentAt = -Infinity;
  readonly #out: RoomOutput;
  readonly #keepsSeq: boolean;
  #seq: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  unsubscribe: (() => void) | undefined;

  constructor(envId: string, roomId: string, graceMs: number, out: RoomOutput, cluster?: ClusterPresence, keepsSeq = false) {
    this.envId = envId;
    this.roomId = roomId;
    this.#out = out;
    this.#keepsSeq = keepsSeq;
    if (!cluster) {
      this.cluster = undefined;
      this.presence = new RoomPresence(graceMs, { emit: (change) => this.#presenceChanged(change) });
      return;
    }
    // Each node merges every node's slots and tells its own sockets what changed.
    const view = new ClusterRoomPresence(cluster, {
      envId,
      roomId,
      deliver: (change) => {
        if (out.showPresence()) this.#queuePresence(change);
      },
      publish: (wire: PresenceWire) => out.publishPresence!(JSON.stringify(wire)),
      appearOffline: (userId, hidden) => this.presence.userAppearsOffline(userId, hidden),
    });
    this.cluster = view;
    const output: PresenceOutput = {
      emit: () => undefined,
      slot: (userId, slot) => view.local(userId, slot),
      hide: (userId, hidden) => view.hide(userId, hidden),
      hiddenElsewhere: (userId) => view.hiddenElsewhere(userId),
    };
    this.presence = new RoomPresence(graceMs, output);
  }

  #presenceChanged(change: PresenceChange): void {
    if (this.#out.showPresence()) this.#queuePresence(change);
  }

  /**
   * Presence changes leave together, in order, in one write per socket: with the next tick, or
   * while they keep coming, PRESENCE_BATCH_MS after the previous ones. When many users join a
   * room at once (a reconnect after a restart), each member would otherwise get one system call
   * per joiner, and a room of n members n² of them. A user's changes within one batch are merged
   * into their net effect: one flipping appear-offline as fast as it may would otherwise send
   * every member hundreds of joins and leaves a second. A user who came and went within one batch
   * is mentioned to no one, except with a leave to the sockets sent the room's state since they
   * came: that state showed them.
   */
  #queuePresence(change: PresenceChange): void {
    const userId = change.type === 'presence:leave' ? change.userId : change.member.userId;
    this.#presenceChanges.set(userId, addPresence(this.#presenceChanges.get(userId), change));
    if (this.#presenceTimer) return;
    const wait = Math.max(ROOM_TICK_MS, this.#presenceSentAt + PRESENCE_BATCH_MS - performance.now());
    this.#presenceTimer = setTimeout(() => this.#flushPresence(), wait);
  }

  #flushPresence(): void {
    this.#presenceTimer = undefined;
    const changes = this.#presenceChanges;
    this.#presenceChanges = new Map();
    // Presence turned off while these waited: they must not reach anyone (nor a socket joined since).
    if (changes.size === 0 || !this.#out.showPresence()) return;
    this.#presenceSentAt = performance.now();
    const frames: Buffer[] = [];
    /** Leaves of users who came and went: for the sockets whose state showed them (with when they came). */
    const cameAndWent: { frame: Buffer; since: number }[] = [];
    for (const net of changes.values()) {
      const change = netPresence(net);
      if (change) frames.push(Buffer.from(JSON.stringify(change)));
      else if (net.last.type === 'presence:leave') cameAndWent.push({ frame: Buffer.from(JSON.stringify(net.last)), since: net.since });
    }
    // Framed once for all of the room's sockets (a reconnect wave sends every member each joiner).
    const wires = frames.length && this.connections.size > 1 ? frames.map(textFrame) : undefined;
    for (const conn of this.connections) {
      if (frames.length) conn.sendFrames(frames, 'durable', wires);
      if (cameAndWent.length === 0) continue;
      // Not sent its state yet (it is being prepared, and may show them) or sent it since they came.
      const shown = cameAndWent.filter(({ since }) => conn.stateSentAt === undefined || conn.stateSentAt >= since);
      if (shown.length) conn.sendFrames(shown.map((c) => c.frame), 'durable');
    }
  }

  /**
   * With `keepsSeq` (one node: every durable event of the room is published by this process, and
   * reaches the room's sockets as it is published): the room's sequence number as read from the
   * database since the room opened, raised by every event published since. Every event up to it
   * is committed, and every later one reaches the sockets in the room from now on, so a joiner's
   * snapshot may be labelled with it without reading the number again (its content, read later,
   * may be newer: clients skip what they already have). Events published before the first read
   * do not set it: one published late, out of order, would vouch for events never delivered here.
   */
  get seq(): number | undefined {
    return this.#seq;
  }

  /** A sequence number read from the database while the room was open here. */
  seqRead(seq: number): void {
    if (this.#keepsSeq && (this.#seq === undefined || seq > this.#seq)) this.#seq = seq;
  }

  /** A durable event of this room is being published. */
  eventPublished(seq: number): void {
    if (this.#seq !== undefined && seq > this.#seq) this.#seq = seq;
  }

  /** A frame from the bus, for this node's sockets. */
  deliver(frame: Buffer, delivery: Delivery): void {
    const wire = this.connections.size > 1 ? textFrame(frame) : undefined;
    for (const conn of this.connections) conn.sendFrame(frame, delivery, wire);
  }

  queue(userId: string, event: EphemeralEvent): void {
    let p = this.#pending.get(userId);
    if (!p) this.#pending.set(userId, (p = {}));
    switch (event.type) {
      case 'cursor:move':
      case 'cursor:leave':
        p.cursor = event;
        break;
      case 'viewport':
        p.viewport = event;
        break;
      case 'selection':
        p.selection = event;
        break;
      case 'typing': {
        // A few threads per user per tick (one typed in, one just left): not one entry per thread id sent.
        const typing = (p.typing ??= new Map());
        if (typing.has(event.threadId) || typing.size < LIMITS.typingThreadsPerTick) typing.set(event.threadId, event);
        break;
      }
      default:
        if ((p.oneShots ??= []).length < LIMITS.oneShotsPerTick) p.oneShots.push(event);
    }
    this.#timer ??= setTimeout(() => this.flush(), ROOM_TICK_MS);
  }

  flush(): void {
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const events: EphemeralEvent[] = [];
    for (const p of this.#pending.values()) {
      if (p.cursor) events.push(p.cursor);
      if (p.viewport) events.push(p.viewport);
      if (p.selection) events.push(p.selection);
      if (p.typing) for (const t of p.typing.values()) events.push(t);
      if (p.oneShots) events.push(...p.oneShots);
    }
    this.#pending.clear();
    this.#out.publishBatch(JSON.stringify({ type: 'batch', events }));
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
    clearTimeout(this.#presenceTimer);
    this.#presenceTimer = undefined;
    this.#presenceChanges.clear();
    this.presence.dispose();
    this.unsubscribe?.();
  }
}

/** A user's presence changes within one batch: whether they were shown before it, the last one, and when the first came (performance.now()). */
export interface NetPresence {
  shownBefore: boolean;
  last: PresenceChange;
  since: number;
}

/** Adds a change to a user's batch (a join means they were not shown before it; an update or a leave, that they were). */
export function addPresence(net: NetPresence | undefined, change: PresenceChange): NetPresence {
  return net ? { shownBefore: net.shownBefore, last: change, since: net.since } : { shownBefore: change.type !== 'presence:join', last: change, since: performance.now() };
}

/**
 * What a user's batch amounts to: shown before and after, their last state (a join, which adds or
 * replaces, when they left and came back meanwhile); shown only after, a join; only before, a
 * leave; neither, nothing.
 */
export function netPresence({ shownBefore, last }: NetPresence): PresenceChange | undefined {
  if (last.type === 'presence:leave') return shownBefore ? last : undefined;
  return shownBefore && last.type === 'presence:update' ? last : { type: 'presence:join', member: last.member };
}
