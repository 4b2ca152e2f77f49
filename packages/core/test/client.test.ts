import { DEFAULT_ENV_CONFIG, type ServerMessage } from '@pulse/protocol/lite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PulseClient } from '../src/index.ts';
import type { SocketLike } from '../src/socket.ts';

/** A scripted socket: records what the client sends and lets the test play the server. */
class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: any[] = [];
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  serverSends(message: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  serverCloses(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  static get last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1]!;
  }
}

const authOk = (seq: number): ServerMessage => ({
  type: 'auth:ok',
  user: { id: 'alice', name: 'Alice', avatar: null, color: '#6366f1' },
  config: { ...DEFAULT_ENV_CONFIG },
  room: { id: 'r', seq, threads: [], presence: [], activity: [], drawing: [] },
  notifications: [],
  connectionId: 'c1',
  serverTime: new Date().toISOString(),
});

const thread = (id: string) => ({
  id,
  roomId: 'r',
  resolved: false,
  position: null,
  positionX: null,
  positionY: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  comments: [],
});

/** Lets pending promise callbacks run (timers are faked, so this cannot use setTimeout). */
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('PulseClient (scripted server)', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => vi.useRealTimers());

  const connect = async (token: string | (() => string) = 'tok') => {
    const client = new PulseClient({ apiKey: 'pk_x', token, room: 'r', endpoint: 'https://pulse.example.com', WebSocket: FakeSocket });
    client.connect();
    await flush();
    expect(FakeSocket.all.length).toBe(1);
    return client;
  };

  it('connects to the server root with an auth message', async () => {
    const client = await connect();
    expect(FakeSocket.last.url).toBe('wss://pulse.example.com/');
    expect(FakeSocket.last.sent[0]).toMatchObject({ type: 'auth', apiKey: 'pk_x', token: 'tok', room: 'r' });
    FakeSocket.last.serverSends(authOk(3));
    expect(client.connectionState).toBe('connected');
    expect(client.state.seq).toBe(3);
  });

  it('applies events in seq order, waits briefly for a missing one, then resyncs', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends(authOk(5));
    s.serverSends({ type: 'thread:created', seq: 7, thread: thread('t7') });
    expect(client.state.thread('t7')).toBeUndefined(); // held back: 6 is missing
    s.serverSends({ type: 'thread:created', seq: 6, thread: thread('t6') });
    expect(client.state.threads.map((t) => t.id)).toEqual(['t6', 't7']);
    expect(client.state.seq).toBe(7);
    s.serverSends({ type: 'thread:created', seq: 6, thread: thread('t6') }); // duplicate: ignored
    expect(client.state.seq).toBe(7);

    s.serverSends({ type: 'thread:created', seq: 9, thread: thread('t9') });
    await vi.advanceTimersByTimeAsync(1100);
    expect(s.sent.at(-1)).toEqual({ type: 'room:resync' });
    s.serverSends({ type: 'room:state', room: { id: 'r', seq: 9, threads: [thread('t8'), thread('t9')], presence: [], activity: [], drawing: [] } });
    expect(client.state.threads.map((t) => t.id)).toEqual(['t8', 't9']);
    expect(client.state.seq).toBe(9);
  });

  it('reconnects with growing, jittered delays up to 30 s', async () => {
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = FakeSocket.all.length;
      FakeSocket.last.serverCloses(1006);
      expect(client.connectionState).toBe('connecting');
      let waited = 0;
      while (FakeSocket.all.length === before) {
        await vi.advanceTimersByTimeAsync(100);
        waited += 100;
      }
      delays.push(waited);
      await flush();
    }
    expect(delays[0]).toBeLessThanOrEqual(1000);
    expect(delays[0]).toBeGreaterThanOrEqual(500);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    expect(delays[6]!).toBeGreaterThan(delays[0]!);
  });

  it('stops for a revoked key, and for a bad token unless it can fetch a new one', async () => {
    const a = await connect();
    FakeSocket.last.serverCloses(4403, 'key_revoked');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.connectionState).toBe('disconnected');
    expect(FakeSocket.all.length).toBe(1);

    FakeSocket.all = [];
    const b = await connect('static-token');
    FakeSocket.last.serverCloses(4401, 'token_expired');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(b.connectionState).toBe('disconnected');

    FakeSocket.all = [];
    let calls = 0;
    const c = await connect(() => `fresh-${++calls}`);
    FakeSocket.last.serverCloses(4401, 'token_expired');
    await vi.advanceTimersByTimeAsync(2000);
    expect(FakeSocket.all.length).toBe(2);
    await flush();
    expect(FakeSocket.last.sent[0].token).toBe('fresh-2');
    c.disconnect();
  });

  it('queues changes made offline, shows them at once, and sends them once after reconnecting', async () => {
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    FakeSocket.last.serverCloses(1006);
    const id = client.createThread('offline thought', { position: { x: 0.1, y: 0.2 } });
    expect(client.state.thread(id)?.pending).toBe(true);
    expect(client.pendingOperations).toBe(1);
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    s.serverSends(authOk(0)); // the server does not know the thread yet
    expect(client.state.thread(id)?.pending).toBe(true); // re-applied over the snapshot
    const sent = s.sent.filter((m) => m.type === 'thread:create');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ id, body: 'offline thought', position: { x: 0.1, y: 0.2 } });
    s.serverSends({ type: 'ack', ref: sent[0].ref, id });
    expect(client.pendingOperations).toBe(0);
    expect(client.state.thread(id)?.pending).toBe(false);
  });

  it('rolls back a refused change by resyncing, and reports it', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends({ ...authOk(1), room: { id: 'r', seq: 1, threads: [{ ...thread('t1'), comments: [{ id: 'c1', threadId: 't1', userId: 'bob', body: 'hi', mentions: [], createdAt: '2026-01-01T00:00:00.000Z', editedAt: null, reactions: [], attachments: [] }] }], presence: [], activity: [], drawing: [] } } as ServerMessage);
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.editComment('c1', 'not mine');
    expect(client.state.comment('c1')!.body).toBe('not mine');
    const edit = s.sent.find((m) => m.type === 'comment:edit');
    s.serverSends({ type: 'error', code: 'not_author', message: 'Only the author can change this comment.', ref: edit.ref });
    expect(errors).toEqual([expect.objectContaining({ code: 'not_author', requestType: 'comment:edit' })]);
    expect(s.sent.at(-1)).toEqual({ type: 'room:resync' });
  });

  it('throttles cursor moves to one per 50 ms, always sending the last', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends(authOk(0));
    for (let i = 0; i < 20; i++) client.moveCursor({ x: i / 20, y: 0, pageX: i, pageY: 0 });
    await vi.advanceTimersByTimeAsync(60);
    const moves = s.sent.filter((m) => m.type === 'cursor:move');
    expect(moves.length).toBe(2);
    expect(moves.at(-1).position.pageX).toBe(19);
  });
});
