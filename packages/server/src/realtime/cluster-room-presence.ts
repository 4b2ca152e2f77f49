import type { PresenceEntry, PresenceMember } from '@pulse/protocol';
import type { ClusterPresence } from './cluster-presence.ts';
import type { NodeSlot, PresenceChange } from './presence.ts';

/**
 * One node's slot of one user in one room, as every node keeps it: in Redis (a hash per room,
 * field `<nodeId>:<userId>`) and in the memory of every node with sockets in the room. Versions
 * come from the owning node's counter, so a newer state always wins whatever the arrival order.
 */
export interface SlotRecord {
  v: number;
  /** Gone (tombstone, memory only). */
  gone?: true;
  member?: PresenceMember;
  visible?: boolean;
  hidden?: boolean;
  openedAt?: number;
}

/** A presence message on a room channel ('p' + JSON): a slot changed (r), or an appear-offline choice (h). */
export interface PresenceWire {
  n: string;
  u: string;
  r?: SlotRecord;
  h?: boolean;
}

/** The user as every node shows them: one avatar for all their tabs on all nodes. */
export function aggregate(records: Iterable<SlotRecord>): PresenceMember | undefined {
  let newest: SlotRecord | undefined;
  let online = false;
  let lastSeen = '';
  for (const r of records) {
    if (r.gone || !r.visible || !r.member) continue;
    if (!newest || r.openedAt! > newest.openedAt!) newest = r;
    if (r.member.status === 'online') online = true;
    if (r.member.lastSeen > lastSeen) lastSeen = r.member.lastSeen;
  }
  if (!newest) return undefined;
  return { ...newest.member!, status: online ? 'online' : 'idle', lastSeen };
}

export const toEntry = (envId: string, m: PresenceMember): PresenceEntry => ({
  user: { id: `${envId}:${m.userId}`, name: m.user.name, avatar: m.user.avatar, color: m.user.color },
  status: m.status,
  lastSeen: m.lastSeen,
});

/** What a room's cluster view needs from its room and from the node. */
export interface ClusterRoomHost {
  readonly envId: string;
  readonly roomId: string;
  /** Delivers a presence change to this node's sockets in the room (not to other nodes). */
  deliver(change: PresenceChange): void;
  /** Publishes a presence message on the room channel. */
  publish(wire: PresenceWire): void;
  /** Applies an appear-offline choice made on another node to this node's sockets. */
  appearOffline(userId: string, hidden: boolean): void;
}

/**
 * Presence of one room across the cluster, on one node: every node's slots, merged per user.
 * Changes of this node's slots are written to Redis and published; other nodes' changes arrive
 * on the room channel; nodes that stopped heartbeating are dropped. Every change of the merged
 * view is delivered to this node's sockets, so each node serialises its own presence frames.
 */
export class ClusterRoomPresence {
  readonly #users = new Map<string, Map<string, SlotRecord>>();
  readonly #shown = new Map<string, PresenceMember>();
  readonly #host: ClusterRoomHost;
  readonly #cluster: ClusterPresence;
  readonly hashKey: string;

  constructor(cluster: ClusterPresence, host: ClusterRoomHost) {
    this.#cluster = cluster;
    this.#host = host;
    this.hashKey = cluster.hashKey(host.envId, host.roomId);
  }

  /** This node's slot of a user changed (from RoomPresence). */
  local(userId: string, slot: NodeSlot | undefined): void {
    const v = this.#cluster.nextVersion();
    const record: SlotRecord = slot ? { v, member: slot.member, visible: slot.visible, hidden: slot.hidden, openedAt: slot.openedAt } : { v, gone: true };
    this.#put(userId, this.#cluster.nodeId, record);
    this.#cluster.write(this, userId, record);
    this.#host.publish({ n: this.#cluster.nodeId, u: userId, r: record });
  }

  /** A user chose appear-offline (or not) on a socket here: every node applies it to the user's sockets. */
  hide(userId: string, hidden: boolean): void {
    this.#host.publish({ n: this.#cluster.nodeId, u: userId, h: hidden });
  }

  hiddenElsewhere(userId: string): boolean {
    for (const [node, r] of this.#users.get(userId) ?? []) if (node !== this.#cluster.nodeId && !r.gone && r.hidden) return true;
    return false;
  }

  /** A presence message from another node. */
  remote(wire: PresenceWire): void {
    if (wire.n === this.#cluster.nodeId) return;
    if (wire.h !== undefined) this.#host.appearOffline(wire.u, wire.h);
    if (wire.r) this.#put(wire.u, wire.n, wire.r);
  }

  /** Merges the slots stored in Redis (from live nodes), at creation and after an outage. */
  load(stored: Iterable<[node: string, userId: string, record: SlotRecord]>): void {
    for (const [node, userId, record] of stored) if (node !== this.#cluster.nodeId) this.#put(userId, node, record);
  }

  /** Forgets a node that stopped heartbeating: its users leave unless they are here through another node. */
  dropNode(node: string): string[] {
    const fields: string[] = [];
    for (const [userId, byNode] of this.#users) {
      if (!byNode.delete(node)) continue;
      fields.push(`${node}:${userId}`);
      if (byNode.size === 0) this.#users.delete(userId);
      this.#recompute(userId);
    }
    return fields;
  }

  /** Nodes other than this one with slots here. */
  otherNodes(into: Set<string>): void {
    for (const byNode of this.#users.values()) for (const node of byNode.keys()) if (node !== this.#cluster.nodeId) into.add(node);
  }

  /** Publishes one of this node's slots again (after an outage). */
  announce(userId: string, record: SlotRecord): void {
    this.#host.publish({ n: this.#cluster.nodeId, u: userId, r: record });
  }

  /** This node's live slots (to write and publish again after an outage). */
  *ownRecords(): Iterable<[string, SlotRecord]> {
    for (const [userId, byNode] of this.#users) {
      const r = byNode.get(this.#cluster.nodeId);
      if (r && !r.gone) yield [userId, r];
    }
  }

  get hasOwnSlots(): boolean {
    for (const _ of this.ownRecords()) return true;
    return false;
  }

  list(): PresenceMember[] {
    return [...this.#shown.values()];
  }

  #put(userId: string, node: string, record: SlotRecord): void {
    let byNode = this.#users.get(userId);
    const existing = byNode?.get(node);
    // Tombstones stay (until the room closes here) so that an older state read later cannot revive a slot.
    if (existing && existing.v >= record.v) return;
    if (!byNode) this.#users.set(userId, (byNode = new Map()));
    byNode.set(node, record);
    this.#recompute(userId);
  }

  #recompute(userId: string): void {
    const byNode = this.#users.get(userId);
    const now = byNode ? aggregate(byNode.values()) : undefined;
    const before = this.#shown.get(userId);
    if (now) this.#shown.set(userId, now);
    else this.#shown.delete(userId);
    if (now && !before) this.#host.deliver({ type: 'presence:join', member: now });
    else if (!now && before) this.#host.deliver({ type: 'presence:leave', userId });
    else if (now && before && (now.status !== before.status || now.deviceType !== before.deviceType || now.user.name !== before.user.name))
      this.#host.deliver({ type: 'presence:update', member: now });
  }
}
