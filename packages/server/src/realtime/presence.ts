import type { PresenceMember, PresenceStatus } from '@pulse/protocol';
import type { Connection } from './connection.ts';

interface Slot {
  member: PresenceMember;
  connections: Set<Connection>;
  leaveTimer: NodeJS.Timeout | undefined;
  visible: boolean;
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

  constructor(graceMs: number, emit: (change: PresenceChange) => void) {
    this.#graceMs = graceMs;
    this.#emit = emit;
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
    // A user's appear-offline choice holds for all of their tabs.
    const hidden = [...slot.connections].some((c) => c.appearOffline);
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
    const slot = conn.identity ? this.#slots.get(conn.identity.user.id) : undefined;
    if (!slot) return;
    for (const c of slot.connections) c.appearOffline = appearOffline;
    this.changed(conn);
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
