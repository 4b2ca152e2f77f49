import type { PresenceMember } from '@pulse/protocol';
import { describe, expect, it } from 'vitest';
import type { ClusterPresence } from './cluster-presence.ts';
import { aggregate, ClusterRoomPresence, type PresenceWire, type SlotRecord } from './cluster-room-presence.ts';
import type { PresenceChange } from './presence.ts';

const member = (userId: string, status: 'online' | 'idle' = 'online', deviceType: 'desktop' | 'mobile' = 'desktop', lastSeen = '2026-01-01T00:00:00.000Z'): PresenceMember => ({
  userId,
  user: { id: userId, name: userId, avatar: null, color: '#000000' },
  status,
  deviceType,
  lastSeen,
});
const rec = (v: number, m: PresenceMember, extra: Partial<SlotRecord> = {}): SlotRecord => ({ v, member: m, visible: true, hidden: false, openedAt: v, ...extra });

/** A room view on node "self" with an in-memory stand-in for the node-level side. */
function view() {
  let version = 0;
  const delivered: PresenceChange[] = [];
  const published: PresenceWire[] = [];
  const writes: [string, SlotRecord][] = [];
  const hidden: [string, boolean][] = [];
  const cluster = {
    nodeId: 'self00000000',
    nextVersion: () => ++version,
    hashKey: () => 'k',
    write: (_room: unknown, userId: string, record: SlotRecord) => writes.push([userId, record]),
  } as unknown as ClusterPresence;
  const room = new ClusterRoomPresence(cluster, {
    envId: 'env',
    roomId: 'room',
    deliver: (c) => delivered.push(c),
    publish: (w) => published.push(w),
    appearOffline: (u, h) => hidden.push([u, h]),
  });
  return { room, delivered, published, writes, hidden };
}

describe('cluster presence merge', () => {
  it('shows a user once whatever the number of nodes, online if any visible tab is, device of the newest', () => {
    expect(aggregate([rec(1, member('bob', 'idle', 'desktop')), rec(2, member('bob', 'online', 'mobile'), { openedAt: 5 })])).toMatchObject({
      status: 'online',
      deviceType: 'mobile',
    });
    expect(aggregate([rec(1, member('bob', 'idle')), rec(2, member('bob', 'online'), { visible: false, hidden: true })])).toMatchObject({ status: 'idle' });
    expect(aggregate([rec(1, member('bob'), { visible: false, hidden: true }), { v: 2, gone: true }])).toBeUndefined();
  });

  it('announces join, update and leave to this node’s sockets only when the merged user changes', () => {
    const { room, delivered, published, writes } = view();
    room.local('bob', { member: member('bob'), visible: true, hidden: false, openedAt: 1 });
    expect(delivered.map((c) => c.type)).toEqual(['presence:join']);
    expect(writes).toHaveLength(1);
    expect(published[0]).toMatchObject({ n: 'self00000000', u: 'bob', r: { v: 1 } });
    // The same user on another node: no change; idle there: still online.
    room.remote({ n: 'other0000000', u: 'bob', r: rec(7, member('bob', 'idle')) });
    expect(delivered).toHaveLength(1);
    // Idle here too: now idle everywhere.
    room.local('bob', { member: member('bob', 'idle'), visible: true, hidden: false, openedAt: 1 });
    expect(delivered.map((c) => c.type)).toEqual(['presence:join', 'presence:update']);
    room.local('bob', undefined);
    expect(delivered).toHaveLength(2); // still on the other node
    room.remote({ n: 'other0000000', u: 'bob', r: { v: 8, gone: true } });
    expect(delivered.at(-1)).toEqual({ type: 'presence:leave', userId: 'bob' });
    expect(room.list()).toEqual([]);
  });

  it('keeps the newest state of a slot whatever the arrival order, and never revives a removed one', () => {
    const { room, delivered } = view();
    room.remote({ n: 'other0000000', u: 'carol', r: rec(5, member('carol', 'idle')) });
    room.remote({ n: 'other0000000', u: 'carol', r: rec(3, member('carol', 'online')) }); // older: ignored
    expect(room.list()).toEqual([expect.objectContaining({ userId: 'carol', status: 'idle' })]);
    room.remote({ n: 'other0000000', u: 'carol', r: { v: 6, gone: true } });
    // A snapshot read before the removal arrives after it.
    room.load([['other0000000', 'carol', rec(5, member('carol', 'idle'))]]);
    expect(room.list()).toEqual([]);
    expect(delivered.map((c) => c.type)).toEqual(['presence:join', 'presence:leave']);
  });

  it('drops a dead node’s users, except those connected through another node', () => {
    const { room, delivered } = view();
    room.remote({ n: 'dead00000000', u: 'carol', r: rec(1, member('carol')) });
    room.remote({ n: 'dead00000000', u: 'bob', r: rec(2, member('bob')) });
    room.remote({ n: 'live00000000', u: 'bob', r: rec(1, member('bob')) });
    const nodes = new Set<string>();
    room.otherNodes(nodes);
    expect([...nodes].sort()).toEqual(['dead00000000', 'live00000000']);
    expect(room.dropNode('dead00000000').sort()).toEqual(['dead00000000:bob', 'dead00000000:carol']);
    expect(delivered.filter((c) => c.type === 'presence:leave')).toEqual([{ type: 'presence:leave', userId: 'carol' }]);
    expect(room.list().map((m) => m.userId)).toEqual(['bob']);
  });

  it('spreads appear-offline: a choice here is published, one from elsewhere is applied, and a new tab here starts hidden', () => {
    const { room, published, hidden } = view();
    room.hide('bob', true);
    expect(published).toEqual([{ n: 'self00000000', u: 'bob', h: true }]);
    room.remote({ n: 'other0000000', u: 'bob', h: false });
    expect(hidden).toEqual([['bob', false]]);
    room.remote({ n: 'other0000000', u: 'dora', r: rec(1, member('dora'), { visible: false, hidden: true }) });
    expect(room.hiddenElsewhere('dora')).toBe(true);
    expect(room.hiddenElsewhere('bob')).toBe(false);
    expect(room.list()).toEqual([]);
    // Own messages echoed back are ignored.
    room.remote({ n: 'self00000000', u: 'bob', h: true });
    expect(hidden).toHaveLength(1);
  });
});
