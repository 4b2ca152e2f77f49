import { LIMITS } from '@pulse/protocol';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../token-bucket.ts';
import { Connection, textFrame, type UserSockets } from './connection.ts';

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
    _socket: {
      cork() {},
      uncork() {},
      write(chunk: Buffer) {
        ws.bufferedAmount += chunk.length;
        return true;
      },
    },
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
    conn.sendNow([state]);
    const frame = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 16; i++) conn.sendFrame(frame, 'durable'); // 1 MB on top of the state
    expect(ws.closed).toBeUndefined();
    conn.sendFrame(frame, 'durable');
    expect(ws.closed).toBe(4410);
    // A second state on top of a first one unread: closed, not buffered (a room:resync flood).
    const other = socket();
    other.conn.sendNow([state]);
    other.conn.sendFrame(state, 'durable');
    expect(other.ws.closed).toBe(4410);
    expect(other.ws.bufferedAmount).toBe(state.length + 4 + 6); // + the frame's header
  });

  it("closes a socket that is behind once all its user's sockets together hold wsUserBufferBytes unsent", () => {
    const user: UserSockets = { connections: new Set(), resyncs: new TokenBucket(1, 1), writes: new TokenBucket(1, 1), queuePaused: 0 };
    const tabs = Array.from({ length: 12 }, () => socket());
    for (const t of tabs) {
      t.conn.userSockets = user;
      user.connections.add(t.conn);
    }
    const frame = Buffer.alloc(64 * 1024, 'x');
    // Each stops reading at 3 MB behind (under its own limit): together they pass the user's.
    let closed = 0;
    for (const t of tabs) {
      while (!t.ws.closed && t.ws.bufferedAmount + frame.length <= 3 * 1024 * 1024) t.conn.sendFrame(frame, 'durable');
      if (t.ws.closed) closed++;
    }
    expect(closed).toBeGreaterThan(0);
    const unsent = tabs.filter((t) => !t.ws.closed).reduce((sum, t) => sum + t.ws.bufferedAmount, 0);
    expect(unsent).toBeLessThanOrEqual(LIMITS.wsUserBufferBytes);
    // A socket of theirs that keeps up is not closed for the others.
    const reader = socket();
    reader.conn.userSockets = user;
    user.connections.add(reader.conn);
    reader.conn.sendFrame(frame, 'durable');
    expect(reader.ws.closed).toBeUndefined();
  });
});

describe('frames written by Connection itself', () => {
  // 7-bit, 16-bit and 64-bit lengths (in bytes), at and around each boundary; and multi-byte text.
  const texts = [0, 1, 125, 126, 127, 65_535, 65_536, 70_001].map((n) => 'x'.repeat(n)).concat('é'.repeat(40_000));

  it('textFrame: frames text of every header size as a WebSocket client reads it', async () => {
    const received = await receive((ws) => {
      const raw = (ws as unknown as { _socket: { write(b: Buffer): boolean } })._socket;
      for (const text of texts) raw.write(textFrame(Buffer.from(text)));
    }, texts.length);
    expect(received).toEqual(texts);
  });

  it('sendNow: sends the pieces of a text (split anywhere, a character too) as one message', async () => {
    const received = await receive((ws) => {
      const conn = new Connection('c1', ws, '127.0.0.1');
      for (const text of texts) {
        const bytes = Buffer.from(text);
        const cut = Math.floor(bytes.length / 2) + 1; // mid-character for 'é'
        conn.sendNow([bytes.subarray(0, Math.min(cut, bytes.length)), Buffer.alloc(0), bytes.subarray(Math.min(cut, bytes.length))]);
      }
      conn.sendNow({ type: 'error', code: 'forbidden', message: 'after' });
    }, texts.length + 1);
    expect(received.slice(0, texts.length)).toEqual(texts);
    expect(JSON.parse(received[texts.length]!)).toMatchObject({ code: 'forbidden' });
  });

  it("sendNow: what a socket is sent in one tick (errors, a text, a room's frame) leaves in one write, in order", async () => {
    const writes: number[] = [];
    const received = await receive((ws) => {
      const raw = (ws as unknown as { _socket: { _writev: (chunks: unknown[], cb: () => void) => void; _write: (...a: unknown[]) => void } })._socket;
      const writev = raw._writev.bind(raw);
      const write = raw._write.bind(raw);
      raw._writev = (chunks, cb) => (writes.push(chunks.length), writev(chunks, cb));
      raw._write = (...a) => (writes.push(1), write(...a));
      const conn = new Connection('c1', ws, '127.0.0.1');
      conn.sendNow({ type: 'error', code: 'service_unavailable', message: 'one' });
      conn.sendNow('{"type":"pong"}');
      conn.sendFrame(Buffer.from('{"type":"room:event"}'), 'durable', textFrame(Buffer.from('{"type":"room:event"}')));
      conn.sendNow({ type: 'error', code: 'rate_limited', message: 'two' });
    }, 4);
    expect(received.map((text) => (JSON.parse(text) as { type: string }).type)).toEqual(['error', 'pong', 'room:event', 'error']);
    expect(writes).toHaveLength(1);
  });

  /** Starts a server whose sockets `send` writes to, and collects what a ws client receives. */
  async function receive(send: (ws: WebSocket) => void, count: number): Promise<string[]> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    try {
      await new Promise((resolve) => wss.once('listening', resolve));
      wss.on('connection', send);
      const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
      const received: string[] = [];
      await new Promise<void>((resolve, reject) => {
        client.on('error', reject);
        client.on('close', () => reject(new Error('closed')));
        client.on('message', (data, binary) => {
          expect(binary).toBe(false);
          received.push(String(data));
          if (received.length === count) resolve();
        });
      });
      client.removeAllListeners('close');
      client.close();
      return received;
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  }
});
