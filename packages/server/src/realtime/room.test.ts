import { ROOM_TICK_MS } from '@pulse/protocol';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection } from './connection.ts';
import { LocalRoom } from './room.ts';

/** A socket that records what is written to it, and when its TCP socket was corked. */
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

describe('room presence delivery', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const room = () => new LocalRoom('env', 'room', 0, { publishBatch: () => undefined, showPresence: () => true });

  it("sends a tick's presence changes together, in order, in one write per socket", () => {
    const r = room();
    const alice = joinAs(r, 'alice');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    alice.log.length = 0;

    const bob = joinAs(r, 'bob');
    joinAs(r, 'carol');
    r.connections.delete(bob.conn);
    r.presence.remove(bob.conn);
    expect(alice.log).toEqual([]);

    vi.advanceTimersByTime(ROOM_TICK_MS);
    expect(alice.log).toEqual(['cork', 'presence:join:bob', 'presence:join:carol', 'presence:leave:bob', 'uncork']);
    r.dispose();
  });

  it('sends nothing when presence is hidden, and forgets queued changes when the room goes', () => {
    let shown = true;
    const r = new LocalRoom('env', 'room', 0, { publishBatch: () => undefined, showPresence: () => shown });
    const alice = joinAs(r, 'alice');
    r.dispose();
    vi.advanceTimersByTime(ROOM_TICK_MS);
    expect(alice.log).toEqual([]);

    const r2 = new LocalRoom('env', 'room', 0, { publishBatch: () => undefined, showPresence: () => shown });
    const bob = joinAs(r2, 'bob');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    shown = false;
    joinAs(r2, 'carol');
    vi.advanceTimersByTime(ROOM_TICK_MS);
    expect(bob.log).toEqual(['presence:join:bob']);
    r2.dispose();
  });
});
