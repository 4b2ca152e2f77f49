import type { PresenceMember, PresenceStatus } from '@pulse/protocol';
import type { Connection } from './connection.ts';

interface Slot {
  member: PresenceMember;
  connections: Set<Connection>;
  leaveTimer: NodeJS.Timeout | undefined;
  visible: boolean;
  /** Cluster mode: what was last reported of this slot (status, device, visibility, user). */
  reported?: string;
}

/** This node's part of one user's presence in a room (cluster mode shares it with the other nodes). */
export interface NodeSlot {
  member: PresenceMember;
  /** The user has a tab here that does not appear offline. */
  visible: boolean;
  /** The user chose to appear offline (on a tab here). */
  hidden: boolean;
  /** When the newest of the user's sockets here opened (epoch ms): its device type is the user's. */
  openedAt: number;
}

export interface PresenceOutput {
  /** A visible change of the user's presence as seen from this node's sockets alone. */
  emit(change: PresenceChange): void;
  /** Cluster mode: every change of this node's slot for a user, visible or not; undefined once it is gone. */
  slot?(userId: string, slot: NodeSlot | undefined): void;
  /** Cluster mode: the user chose appear-offline (true) or to be seen again (false) on a socket here. */
  hide?(userId: string, hidden: boolean): void;
  /** Cluster mode: whether the user appears offline on another node (decides a first tab here). */
  hiddenElsewhere?(userId: string): boolean;
}

export type PresenceChange =
  | { type: 'presence:join'; member: PresenceMember }
  | { type: 'presence:update'; member: PresenceMember }
  | { type: 'presence:leave'; userId: string };

/**
 * Who is in one room on this node, per user (two tabs are one avatar). A user whose last
 * socket closes stays for a grace period, so a reconnect does not flicker out and back in.
 */
export class RoomPresence {
  readonly #slots = new Map<string, Slot>();
  readonly #graceMs: number;
  readonly #emit: (change: PresenceChange) => void;
  readonly #out: PresenceOutput;

  constructor(graceMs: number, out: PresenceOutput) {
    this.#graceMs = graceMs;
    this.#out = out;
    this.#emit = (change) => out.emit(change);
  }

  #recompute(slot: Slot): { changed: boolean; wasVisible: boolean } {
    const before = slot.member;
    const wasVisible = slot.visible;
    let status: PresenceStatus = 'idle';
    let newest: Connection | undefined;
    let visible = false;
    for (const c of slot.connections) {
      if (c.status === 'online') status = 'online';
      if (!newest || c.openedAt > newest.openedAt) newest = c;
      if (!c.appearOffline) visible = true;
    }
    slot.visible = visible;
    slot.member = { ...before, status, deviceType: newest?.deviceType ?? before.deviceType };
    const changed = slot.member.status !== before.status || slot.member.deviceType !== before.deviceType;
    return { changed, wasVisible };
  }

  #announce(slot: Slot, changed: boolean, wasVisible: boolean) {
    if (slot.visible && !wasVisible) this.#emit({ type: 'presence:join', member: slot.member });
    else if (!slot.visible && wasVisible) this.#emit({ type: 'presence:leave', userId: slot.member.userId });
    else if (slot.visible && changed) this.#emit({ type: 'presence:update', member: slot.member });
    if (this.#out.slot) this.#report(slot);
  }

  /** Cluster mode: hands this node's slot on when anything the other nodes show has changed. */
  #report(slot: Slot): void {
    const hidden = !slot.visible && slot.connections.size > 0;
    const { user, status, deviceType } = slot.member;
    const signature = `${status}|${deviceType}|${slot.visible}|${hidden}|${user.name}|${user.avatar}|${user.color}`;
    if (signature === slot.reported) return;
    slot.reported = signature;
    let openedAt = 0;
    for (const c of slot.connections) if (c.openedAt > openedAt) openedAt = c.openedAt;
    this.#out.slot!(user.id, { member: slot.member, visible: slot.visible, hidden, openedAt });
  }

  add(conn: Connection): void {
    const identity = conn.identity!;
    let slot = this.#slots.get(identity.user.id);
    if (!slot) {
      slot = {
        member: {
          userId: identity.user.id,
          user: identity.user,
          status: conn.status,
          deviceType: conn.deviceType,
          lastSeen: new Date().toISOString(),
        },
        connections: new Set(),
        leaveTimer: undefined,
        visible: false,
      };
      this.#slots.set(identity.user.id, slot);
    }
    if (slot.leaveTimer) {
      clearTimeout(slot.leaveTimer);
      slot.leaveTimer = undefined;
    }
    // A user's appear-offline choice holds for all of their tabs (in cluster mode, on every node).
    const hidden = slot.connections.size > 0 ? [...slot.connections].some((c) => c.appearOffline) : this.#out.hiddenElsewhere?.(identity.user.id);
    if (hidden) conn.appearOffline = true;
    slot.connections.add(conn);
    slot.member = { ...slot.member, user: identity.user, lastSeen: new Date().toISOString() };
    const { changed, wasVisible } = this.#recompute(slot);
    this.#announce(slot, changed, wasVisible);
  }

  remove(conn: Connection): void {
    const userId = conn.identity?.user.id;
    const slot = userId ? this.#slots.get(userId) : undefined;
    if (!slot || !slot.connections.delete(conn)) return;
    if (slot.connections.size > 0) {
      const { changed, wasVisible } = this.#recompute(slot);
      this.#announce(slot, changed, wasVisible);
      return;
    }
    const leave = () => {
      if (slot.connections.size > 0 || this.#slots.get(slot.member.userId) !== slot) return;
      this.#slots.delete(slot.member.userId);
      if (slot.visible) this.#emit({ type: 'presence:leave', userId: slot.member.userId });
      this.#out.slot?.(slot.member.userId, undefined);
    };
    if (this.#graceMs <= 0) leave();
    else {
      slot.leaveTimer = setTimeout(leave, this.#graceMs);
      slot.leaveTimer.unref();
    }
  }

  /** After a connection changed its status, device or appear-offline flag. */
  changed(conn: Connection): void {
    const slot = conn.identity ? this.#slots.get(conn.identity.user.id) : undefined;
    if (!slot) return;
    const { changed, wasVisible } = this.#recompute(slot);
    this.#announce(slot, changed, wasVisible);
  }

  setAppearOffline(conn: Connection, appearOffline: boolean): void {
    const userId = conn.identity?.user.id;
    if (!userId || !this.#slots.has(userId)) return;
    this.#out.hide?.(userId, appearOffline);
    this.userAppearsOffline(userId, appearOffline);
  }

  /** Applies a user's appear-offline choice to all of their sockets here (made here or on another node). */
  userAppearsOffline(userId: string, appearOffline: boolean): void {
    const slot = this.#slots.get(userId);
    if (!slot) return;
    for (const c of slot.connections) c.appearOffline = appearOffline;
    const { changed, wasVisible } = this.#recompute(slot);
    this.#announce(slot, changed, wasVisible);
  }

  /** Cluster mode: this node's current slots, to hand on again after a Redis outage. */
  *slots(): Iterable<[string, NodeSlot]> {
    for (const [userId, slot] of this.#slots) {
      let openedAt = 0;
      for (const c of slot.connections) if (c.openedAt > openedAt) openedAt = c.openedAt;
      yield [userId, { member: slot.member, visible: slot.visible, hidden: !slot.visible && slot.connections.size > 0, openedAt }];
    }
  }

  touch(conn: Connection): void {
    const slot = conn.identity ? this.#slots.get(conn.identity.user.id) : undefined;
    if (slot) slot.member = { ...slot.member, lastSeen: new Date().toISOString() };
  }

  /** Visible members. */
  list(): PresenceMember[] {
    const out: PresenceMember[] = [];
    for (const slot of this.#slots.values()) if (slot.visible) out.push(slot.member);
    return out;
  }

  get size(): number {
    return this.#slots.size;
  }

  dispose(): void {
    for (const slot of this.#slots.values()) clearTimeout(slot.leaveTimer);
    this.#slots.clear();
  }
}
