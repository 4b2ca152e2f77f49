import type { ClientMessage } from '@pulse/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { Connection, type ConnectionIdentity } from './connection.ts';
import { DurableQueue } from './durable-queue.ts';

let connections = 0;

/** A connection of a user (by default one of its own) over a socket that only knows whether it is read. */
function fakeConnection(userId = `user_${++connections}`) {
  const ws = { readyState: 1, paused: false, pause() { this.paused = true; }, resume() { this.paused = false; } };
  const conn = new Connection(`conn_${++connections}`, ws as unknown as WebSocket, '127.0.0.1');
  conn.identity = { envId: 'env_1', roomId: 'room', user: { id: userId, name: userId }, publishableKeyId: 'k', secretKeyId: 'k', expiresAt: Infinity } as ConnectionIdentity;
  return { conn, ws };
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

  it("runs a user's requests across their sockets in arrival order: a closed socket's before the new one's", async () => {
    const ran: string[] = [];
    const queue = new DurableQueue(async (_c, m) => {
      await new Promise((r) => setTimeout(r, (m as { ref: string }).ref.startsWith('old') ? 3 : 1));
      ran.push((m as { ref: string }).ref);
    });
    const before = fakeConnection('ann').conn;
    for (let i = 0; i < 4; i++) queue.enqueue(before, { type: 'draw:clear', ref: `old${i}` } as ClientMessage);
    queue.forget(before);
    // The client reconnected and resends what was not acked, then goes on.
    const after = fakeConnection('ann').conn;
    for (let i = 0; i < 3; i++) queue.enqueue(after, { type: 'draw:clear', ref: `new${i}` } as ClientMessage);
    await vi.waitFor(() => expect(ran).toHaveLength(7), { timeout: 5000 });
    expect(ran).toEqual(['old0', 'old1', 'old2', 'old3', 'new0', 'new1', 'new2']);
  });

  it("keeps a user's new socket behind what an old socket paused by a full queue has not been read yet", async () => {
    const ran: string[] = [];
    const queue = new DurableQueue(
      async (_c, m) => {
        await new Promise((r) => setTimeout(r, 1));
        ran.push((m as { ref: string }).ref);
      },
      { perConnection: 4, perProcess: 100 },
    );
    const old = fakeConnection('bea');
    const ref = (r: string) => ({ type: 'draw:clear', ref: r }) as ClientMessage;
    for (let i = 0; i < 4; i++) queue.enqueue(old.conn, ref(`old${i}`));
    expect(old.ws.paused).toBe(true);
    // The old socket's last request (an edit) waits unread in its TCP buffer; the client reconnected
    // and its new socket sends a newer edit.
    const unread = ref('old-edit');
    const resume = old.ws.resume.bind(old.ws);
    old.ws.resume = () => {
      resume();
      // Read once reading resumes, as a socket's buffered data is, in the next poll of the event loop.
      setImmediate(() => queue.enqueue(old.conn, unread));
    };
    const next = fakeConnection('bea');
    queue.enqueue(next.conn, ref('new-edit'));
    expect(next.ws.paused).toBe(true);
    await vi.waitFor(() => expect(ran).toHaveLength(6), { timeout: 5000 });
    expect(ran).toEqual(['old0', 'old1', 'old2', 'old3', 'old-edit', 'new-edit']);
    expect(next.ws.paused).toBe(false);
  });

  it("keeps a user's new socket behind an old socket's frames that wait for the message limit", async () => {
    const ran: string[] = [];
    const queue = new DurableQueue(async (_c, m) => void ran.push((m as { ref: string }).ref));
    const ref = (r: string) => ({ type: 'draw:clear', ref: r }) as ClientMessage;
    const old = fakeConnection('cai');
    queue.holdingFrames(old.conn, true);
    const next = fakeConnection('cai');
    queue.enqueue(next.conn, ref('new'));
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual([]);
    expect(next.ws.paused).toBe(true);
    // The held frames go on (the edit among them), then the hold ends.
    queue.enqueue(old.conn, ref('old'));
    queue.holdingFrames(old.conn, false);
    await vi.waitFor(() => expect(ran).toEqual(['old', 'new']), { timeout: 5000 });
    expect(next.ws.paused).toBe(false);
  });

  it("waits behind a sibling that keeps its frames held at most a second: a flooding tab cannot hold the user's others up", async () => {
    const ran: string[] = [];
    const queue = new DurableQueue(async (_c, m) => void ran.push((m as { ref: string }).ref));
    const flooding = fakeConnection('dee');
    queue.holdingFrames(flooding.conn, true); // and never lets go
    const other = fakeConnection('dee');
    const started = performance.now();
    queue.enqueue(other.conn, { type: 'draw:clear', ref: 'mine' } as ClientMessage);
    await vi.waitFor(() => expect(ran).toEqual(['mine']), { timeout: 3000 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(other.ws.paused).toBe(false);
  });

  it("runs different users' requests side by side", async () => {
    let inFlight = 0;
    let most = 0;
    const queue = new DurableQueue(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
    });
    for (const user of ['a', 'b', 'c']) queue.enqueue(fakeConnection(user).conn, message(0));
    await vi.waitFor(() => expect(inFlight).toBe(0));
    expect(most).toBe(3);
  });

  it('is saturated, and refuses, when the writes that bypass it fill the process', () => {
    let busy = true;
    const queue = new DurableQueue(async () => {}, undefined, () => busy);
    expect(queue.saturated).toBe(true);
    expect(queue.enqueue(fakeConnection().conn, message(1))).toBe(false);
    busy = false;
    expect(queue.enqueue(fakeConnection().conn, message(2))).toBe(true);
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
