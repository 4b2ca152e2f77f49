import type { ClientMessage } from '@pulse/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { Connection } from './connection.ts';
import { DurableQueue } from './durable-queue.ts';

/** A connection over a socket that only knows whether it is read. */
function fakeConnection() {
  const ws = { readyState: 1, paused: false, pause() { this.paused = true; }, resume() { this.paused = false; } };
  return { conn: new Connection('conn_1', ws as unknown as WebSocket, '127.0.0.1'), ws };
}

const message = (n: number) => ({ type: 'draw:clear', ref: `r${n}` }) as ClientMessage;

describe('DurableQueue', () => {
  it('runs a connection’s requests one at a time, in arrival order', async () => {
    const ran: string[] = [];
    let inFlight = 0;
    const queue = new DurableQueue(async (_c, m) => {
      expect(++inFlight).toBe(1);
      await new Promise((r) => setTimeout(r, 2));
      ran.push((m as { ref: string }).ref);
      inFlight--;
    });
    const { conn } = fakeConnection();
    for (let i = 0; i < 5; i++) expect(queue.enqueue(conn, message(i))).toBe(true);
    await vi.waitFor(() => expect(ran).toHaveLength(5), { timeout: 5000 });
    expect(ran).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  it('pauses a socket whose queue is full and resumes it at half', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const queue = new DurableQueue(() => gate, { perConnection: 4, perProcess: 100 });
    const { conn, ws } = fakeConnection();
    for (let i = 0; i < 4; i++) queue.enqueue(conn, message(i));
    expect(ws.paused).toBe(true);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(ws.paused).toBe(false);
  });

  it('refuses new requests once the process holds its bound, and takes them again after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const queue = new DurableQueue(() => gate, { perConnection: 100, perProcess: 3 });
    const a = fakeConnection().conn;
    const b = fakeConnection().conn;
    expect([queue.enqueue(a, message(1)), queue.enqueue(a, message(2)), queue.enqueue(b, message(3))]).toEqual([true, true, true]);
    expect(queue.enqueue(b, message(4))).toBe(false);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(queue.enqueue(b, message(5))).toBe(true);
  });

  it('runs nothing more and refuses everything once closed', async () => {
    const ran: string[] = [];
    const queue = new DurableQueue(async (_c, m) => {
      ran.push((m as { ref: string }).ref);
      await new Promise((r) => setTimeout(r, 5));
    });
    const { conn } = fakeConnection();
    queue.enqueue(conn, message(1));
    queue.enqueue(conn, message(2));
    queue.close();
    expect(queue.enqueue(conn, message(3))).toBe(false);
    await new Promise((r) => setTimeout(r, 30));
    expect(ran).toEqual(['r1']);
  });
});
