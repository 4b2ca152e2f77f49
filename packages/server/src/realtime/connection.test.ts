import { LIMITS } from '@pulse/protocol';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { Connection } from './connection.ts';

function socket() {
  const ws = {
    readyState: 1,
    bufferedAmount: 0,
    sent: 0,
    closed: undefined as number | undefined,
    send(frame: Buffer) {
      this.sent++;
      this.bufferedAmount += frame.length;
    },
    close(code: number) {
      this.closed = code;
    },
    _socket: { cork() {}, uncork() {} },
  };
  return { ws, conn: new Connection('c1', ws as unknown as WebSocket, '127.0.0.1') };
}

describe('Connection: slow consumers', () => {
  it('closes a socket that a frame would take past the hard limit of unsent data, durable frames kept until then', () => {
    const { ws, conn } = socket();
    const frame = Buffer.alloc(64 * 1024, 'x');
    while (ws.bufferedAmount + frame.length <= LIMITS.wsHardBufferBytes) conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBeUndefined();
    conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBe(4410);
    expect(ws.bufferedAmount).toBeLessThanOrEqual(LIMITS.wsHardBufferBytes);
  });

  it('lets a socket still reading a large room state fall 1 MB behind it, and no more', () => {
    const { ws, conn } = socket();
    const state = Buffer.alloc(LIMITS.wsHardBufferBytes, 'x');
    conn.sendNow(state);
    const frame = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 16; i++) conn.sendFrame(frame, 'durable'); // 1 MB on top of the state
    expect(ws.closed).toBeUndefined();
    conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBe(4410);
    // A second state on top of a first one unread: closed, not buffered (a room:resync flood).
    const other = socket();
    other.conn.sendNow(state);
    other.conn.sendFrame(state, 'durable');
    expect(other.ws.closed).toBe(4410);
    expect(other.ws.bufferedAmount).toBe(state.length);
  });
});
