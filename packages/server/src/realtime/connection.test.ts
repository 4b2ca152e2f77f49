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
  it('closes a socket past the hard limit of unsent data, durable frames kept until then', () => {
    const { ws, conn } = socket();
    const frame = Buffer.alloc(64 * 1024, 'x');
    // The limit is raised by the largest frame sent (here 64 KB).
    while (ws.bufferedAmount <= LIMITS.wsHardBufferBytes + frame.length) conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBeUndefined();
    conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBe(4410);
  });

  it('allows a room state on top of the hard limit: a client still reading a large auth:ok is not slow', () => {
    const { ws, conn } = socket();
    const state = Buffer.alloc(LIMITS.roomContentBytes, 'x');
    conn.sendNow(state);
    const frame = Buffer.alloc(64 * 1024, 'x');
    while (ws.bufferedAmount <= LIMITS.wsHardBufferBytes) conn.sendFrame(frame, 'durable');
    conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBeUndefined();
    while (ws.bufferedAmount <= LIMITS.wsHardBufferBytes + state.length) conn.sendFrame(frame, 'durable');
    conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBe(4410);
  });
});
