import { PRESENCE_BATCH_MS, ROOM_TICK_MS } from '@pulse/protocol';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection } from './connection.ts';
import type { PresenceChange } from './presence.ts';
import { addPresence, LocalRoom, netPresence, type NetPresence } from './room.ts';
import { sendRoomState } from './send-state.ts';

/**
 * A socket that records what reaches its TCP socket: each entry is one write (the frames sent
 * while it was corked leave together when it is uncorked).
 */
function fakeSocket() {
  const writes: string[][] = [];
  let corked = 0;
  let pending: string[] = [];
  const record = (frame: Buffer) => {
    const m = JSON.parse(frame.toString()) as { type: string; userId?: string; member?: { userId: string } };
    const label = `${m.type}:${m.member?.userId ?? m.userId}`;
    if (corked > 0) pending.push(label);
    else writes.push([label]);
  };
  const ws = {
    readyState: 1,
    bufferedAmount: 0,
    send: record,
    _socket: {
      // A frame framed once for every socket of the room (textFrame): its payload after the header.
      write: (wire: Buffer) => record(wire.subarray((wire[1]! & 0x7f) < 126 ? 2 : (wire[1]! & 0x7f) === 126 ? 4 : 10)),
      cork: () => void corked++,
      uncork: () => {
        if (--corked > 0 || pending.length === 0) return;
        writes.push(pending);
        pending = [];
      },
    },
  };
  return { ws: ws as unknown as WebSocket, log: writes };
}

/** Lets the socket's end-of-tick uncork run (fake timers leave process.nextTick alone). */
const endOfTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

function joinAs(room: LocalRoom, userId: string) {
  const { ws, log } = fakeSocket();
  const conn = new Connection(`conn-${userId}`, ws, '127.0.0.1');
  conn.identity = { envId: 'env', roomId: 'room', user: { id: userId, name: userId, avatar: null, color: '#000000' }, publishableKeyId: 'pk', secretKeyId: 'sk', expiresAt: Infinity };
  conn.room = room;
  room.connections.add(conn);
  room.presence.add(conn);
  return { conn, log };
}

const leave = (room: LocalRoom, conn: Connection) => {
  room.connections.delete(conn);
  room.presence.remove(conn);
};

describe('room presence delivery', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const room = (showPresence = () => true) => new LocalRoom('env', 'room', 0, { publishBatch: () => undefined, showPresence });

  it('sends a change after a quiet spell with the next tick', async () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    vi.advanceTimersByTime(ROOM_TICK_MS - 1);
    await endOfTick();
    expect(alice.log).toEqual([]);
    vi.advanceTimersByTime(1);
    await endOfTick();
    expect(alice.log).toEqual([['presence:join:alice']]);
    r.dispose();
  });

  it('sends changes that keep coming together, in order, in one write per socket, at most once per PRESENCE_BATCH_MS', async () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    await endOfTick();
    alice.log.length = 0;

    const bob = joinAs(r, 'bob');
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    alice.log.length = 0;

    joinAs(r, 'carol');
    leave(r, bob.conn);
    joinAs(r, 'dave');
    vi.advanceTimersByTime(PRESENCE_BATCH_MS - 1);
    await endOfTick();
    expect(alice.log).toEqual([]);
    vi.advanceTimersByTime(1);
    await endOfTick();
    expect(alice.log).toEqual([['presence:join:carol', 'presence:leave:bob', 'presence:join:dave']]);

    // Quiet for longer than the interval: the next change goes with the next tick again.
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    alice.log.length = 0;
    joinAs(r, 'erin');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    await endOfTick();
    expect(alice.log).toEqual([['presence:join:erin']]);
    r.dispose();
  });

  it("sends a user's net change per batch: appear-offline flipped hundreds of times is one change", async () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    const tabs = [joinAs(r, 'mallory'), joinAs(r, 'mallory')];
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    alice.log.length = 0;
    // An even number of flips: shown again at the end, one join (which adds or replaces).
    for (let i = 0; i < 200; i++) r.presence.setAppearOffline(tabs[i % 2]!.conn, i % 2 === 0);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(alice.log).toEqual([['presence:join:mallory']]);
    // An odd number: one leave.
    alice.log.length = 0;
    for (let i = 0; i < 201; i++) r.presence.setAppearOffline(tabs[0]!.conn, i % 2 === 0);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(alice.log).toEqual([['presence:leave:mallory']]);
    // Hidden, then shown and their status changed in the same batch: one join with the new status.
    alice.log.length = 0;
    r.presence.setAppearOffline(tabs[0]!.conn, false);
    tabs[0]!.conn.status = 'idle';
    tabs[1]!.conn.status = 'idle';
    r.presence.changed(tabs[0]!.conn);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(alice.log).toEqual([['presence:join:mallory']]);
    r.dispose();
  });

  it('tells a socket whose state showed a user who came and went within one batch that they left, and no one else', async () => {
    const r = room();
    const carol = joinAs(r, 'carol');
    carol.conn.stateSentAt = performance.now();
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    carol.log.length = 0;
    const alice = joinAs(r, 'alice');
    alice.conn.stateSentAt = performance.now();
    // Bob's state is sent after Alice came: it shows her. Dave's is still being prepared.
    const bob = joinAs(r, 'bob');
    bob.conn.stateSentAt = performance.now();
    const dave = joinAs(r, 'dave');
    r.presence.setAppearOffline(alice.conn, true);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(carol.log).toEqual([['presence:join:bob', 'presence:join:dave']]);
    expect(bob.log).toEqual([['presence:join:bob', 'presence:join:dave', 'presence:leave:alice']]);
    expect(dave.log).toEqual([['presence:join:bob', 'presence:join:dave', 'presence:leave:alice']]);
    r.dispose();
  });

  it('tells a socket being sent the room state (room:resync) of a user who came and went while it was read', async () => {
    const r = room();
    const carol = joinAs(r, 'carol');
    carol.conn.stateSentAt = performance.now();
    const alice = joinAs(r, 'alice');
    r.presence.setAppearOffline(alice.conn, true);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS * 4);
    await endOfTick();
    carol.log.length = 0;
    r.presence.setAppearOffline(alice.conn, false);
    // The state read shows Alice; she hides again before it is sent, in the same batch.
    let release!: (frame: Buffer) => void;
    const sent = sendRoomState([carol.conn], () => new Promise<Buffer>((resolve) => (release = resolve)));
    r.presence.setAppearOffline(alice.conn, true);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(carol.log).toEqual([]);
    release(Buffer.from(JSON.stringify({ type: 'room:state', userId: 'showing-alice' })));
    await sent;
    await endOfTick();
    // The state first, then the leave that waited behind it.
    expect(carol.log.flat()).toEqual(['room:state:showing-alice', 'presence:leave:alice']);
    r.dispose();
  });

  it('sends nothing while presence is hidden, and forgets queued changes when the room goes', async () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    r.dispose();
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(alice.log).toEqual([]);

    let shown = true;
    const r2 = room(() => shown);
    const bob = joinAs(r2, 'bob');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    await endOfTick();
    shown = false;
    joinAs(r2, 'carol');
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(bob.log).toEqual([['presence:join:bob']]);
    r2.dispose();
  });

  it('drops changes queued before presence was hidden, also for sockets that joined since', async () => {
    let shown = true;
    const r = room(() => shown);
    const alice = joinAs(r, 'alice');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    await endOfTick();
    joinAs(r, 'bob'); // waits for the batch interval
    shown = false;
    const carol = joinAs(r, 'carol');
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    await endOfTick();
    expect(alice.log).toEqual([['presence:join:alice']]);
    expect(carol.log).toEqual([]);
    r.dispose();
  });
});

describe('netPresence', () => {
  const member = (status: 'online' | 'idle') => ({ userId: 'u', user: { id: 'u', name: 'u', avatar: null, color: '#000000' }, status, deviceType: 'desktop' as const, lastSeen: '' });
  const join = (status: 'online' | 'idle' = 'online') => ({ type: 'presence:join' as const, member: member(status) });
  const update = (status: 'online' | 'idle') => ({ type: 'presence:update' as const, member: member(status) });
  const leave = { type: 'presence:leave' as const, userId: 'u' };

  it("tells a user's batch of changes by where it started and where it ended", () => {
    const net = (...changes: PresenceChange[]) => netPresence(changes.reduce<NetPresence | undefined>(addPresence, undefined)!);
    expect(net(leave)).toEqual(leave);
    expect(net(join(), leave)).toBeUndefined();
    expect(net(join(), update('idle'))).toEqual(join('idle'));
    expect(net(leave, join('idle'))).toEqual(join('idle'));
    expect(net(leave, join(), leave)).toEqual(leave);
    expect(net(join(), leave, join('idle'), leave)).toBeUndefined();
    expect(net(update('idle'), update('online'))).toEqual(update('online'));
    expect(net(update('idle'), leave)).toEqual(leave);
  });
});

describe('connection writes', () => {
  const connection = () => {
    const { ws, log } = fakeSocket();
    return { conn: new Connection('c', ws, '127.0.0.1'), log };
  };
  const frame = (userId: string) => Buffer.from(JSON.stringify({ type: 'f', userId }));

  it('sends every frame of one tick to a socket in one write, in order, and the next tick\'s apart', async () => {
    const a = connection();
    const b = connection();
    a.conn.sendFrame(frame('1'), 'durable');
    b.conn.sendFrame(frame('1'), 'durable');
    a.conn.sendFrames([frame('2'), frame('3')], 'durable');
    a.conn.sendFrame(frame('4'), 'ephemeral');
    expect(a.log).toEqual([]);
    await endOfTick();
    expect(a.log).toEqual([['f:1', 'f:2', 'f:3', 'f:4']]);
    expect(b.log).toEqual([['f:1']]);
    a.conn.sendFrame(frame('5'), 'durable');
    await endOfTick();
    expect(a.log).toEqual([['f:1', 'f:2', 'f:3', 'f:4'], ['f:5']]);
  });
});

describe('room ephemeral batches', () => {
  it("relays one user's typing for a few threads per tick, not for every thread id sent", () => {
    const batches: string[] = [];
    const room = new LocalRoom('env', 'room', 0, { publishBatch: (b) => void batches.push(b), showPresence: () => true });
    for (let i = 0; i < 500; i++) room.queue('mallory', { type: 'typing', userId: 'mallory', threadId: `t${i}`, typing: true });
    room.queue('mallory', { type: 'typing', userId: 'mallory', threadId: 't0', typing: false }); // a change for a kept thread still counts
    room.queue('alice', { type: 'typing', userId: 'alice', threadId: 'a1', typing: true });
    room.flush();
    const events = (JSON.parse(batches[0]!) as { events: { userId: string; threadId: string; typing: boolean }[] }).events;
    expect(events.filter((e) => e.userId === 'mallory')).toEqual([
      { type: 'typing', userId: 'mallory', threadId: 't0', typing: false },
      { type: 'typing', userId: 'mallory', threadId: 't1', typing: true },
    ]);
    expect(events.filter((e) => e.userId === 'alice')).toHaveLength(1);
    room.dispose();
  });
});
