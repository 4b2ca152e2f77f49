import { PRESENCE_BATCH_MS, ROOM_TICK_MS } from '@pulse/protocol';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection } from './connection.ts';
import { LocalRoom } from './room.ts';

/** A socket that records the frames written to it, and when its TCP socket was corked. */
function fakeSocket() {
  const log: string[] = [];
  const ws = {
    readyState: 1,
    bufferedAmount: 0,
    send: (frame: Buffer) => {
      const m = JSON.parse(frame.toString()) as { type: string; userId?: string; member?: { userId: string } };
      log.push(`${m.type}:${m.member?.userId ?? m.userId}`);
    },
    _socket: { cork: () => log.push('cork'), uncork: () => log.push('uncork') },
  };
  return { ws: ws as unknown as WebSocket, log };
}

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

  it('sends a change after a quiet spell with the next tick', () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    vi.advanceTimersByTime(ROOM_TICK_MS - 1);
    expect(alice.log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(alice.log).toEqual(['presence:join:alice']);
    r.dispose();
  });

  it('sends changes that keep coming together, in order, in one write per socket, at most once per PRESENCE_BATCH_MS', () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    alice.log.length = 0;

    const bob = joinAs(r, 'bob');
    joinAs(r, 'carol');
    leave(r, bob.conn);
    vi.advanceTimersByTime(PRESENCE_BATCH_MS - 1);
    expect(alice.log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(alice.log).toEqual(['cork', 'presence:join:bob', 'presence:join:carol', 'presence:leave:bob', 'uncork']);

    // Quiet for longer than the interval: the next change goes with the next tick again.
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    alice.log.length = 0;
    joinAs(r, 'dave');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    expect(alice.log).toEqual(['presence:join:dave']);
    r.dispose();
  });

  it('sends nothing while presence is hidden, and forgets queued changes when the room goes', () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    r.dispose();
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    expect(alice.log).toEqual([]);

    let shown = true;
    const r2 = room(() => shown);
    const bob = joinAs(r2, 'bob');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    shown = false;
    joinAs(r2, 'carol');
    vi.advanceTimersByTime(PRESENCE_BATCH_MS);
    expect(bob.log).toEqual(['presence:join:bob']);
    r2.dispose();
  });
});
