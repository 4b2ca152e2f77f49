import { DEFAULT_ENV_CONFIG, type ServerMessage } from '@pulse/protocol/lite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PulseClient, type PulseErrorEvent } from '../src/index.ts';
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
  createdBy: 'u',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  comments: [],
});

/** Room r with thread t1 and bob's comment c1 ("hi"). */
const roomWithBobsComment = (seq: number) => ({
  id: 'r',
  seq,
  threads: [{ ...thread('t1'), comments: [{ id: 'c1', threadId: 't1', userId: 'bob', body: 'hi', mentions: [], createdAt: '2026-01-01T00:00:00.000Z', editedAt: null, reactions: [], attachments: [] }] }],
  presence: [],
  activity: [],
  drawing: [],
});

/** An unsigned JWT-shaped token with an `exp` claim (the client reads it without verifying). */
const jwt = (exp: number) => `e30.${Buffer.from(JSON.stringify({ sub: 'alice', exp })).toString('base64url')}.sig`;

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
    expect(s.sent.at(-1)).toEqual({ type: 'room:resync', ref: expect.stringMatching(/^resync-/) });
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

  it('keeps the feed and the notifications to what comments say now: edited text, gone once deleted', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    const c1 = { id: 'c1', threadId: 't1', userId: 'bob', body: 'rude words', mentions: [], createdAt: '2026-01-01T00:00:00.000Z', editedAt: null, reactions: [], attachments: [] };
    const entry = (id: string, kind: string, commentId: string, preview: string | null) => ({ id, roomId: 'r', userId: 'bob', kind, threadId: 't1', commentId, preview, createdAt: '2026-01-01T00:00:00.000Z' });
    const note = (id: string, commentId: string, preview: string) => ({ id, kind: 'mention', roomId: 'r', threadId: 't1', commentId, actorId: 'bob', preview, createdAt: '2026-01-01T00:00:00.000Z', read: false });
    s.serverSends({
      ...authOk(1),
      room: { id: 'r', seq: 1, threads: [{ ...thread('t1'), comments: [c1, { ...c1, id: 'c2', body: 'fine' }] }], presence: [], activity: [entry('a1', 'thread.created', 'c1', 'rude words'), entry('a2', 'comment.created', 'c2', 'fine')], drawing: [] },
      notifications: [note('n1', 'c1', 'rude words'), note('n2', 'c2', 'fine')],
    } as ServerMessage);
    const feeds: unknown[] = [];
    client.state.on('activity-logs', (a) => feeds.push(a));
    s.serverSends({ type: 'comment:updated', seq: 2, comment: { ...c1, body: '[removed]', editedAt: '2026-01-01T00:01:00.000Z' }, activity: { ...entry('a3', 'comment.edited', 'c1', '[removed]'), userId: null } } as ServerMessage);
    expect(client.state.activity.map((a) => [a.id, a.preview])).toEqual([['a1', '[removed]'], ['a2', 'fine'], ['a3', '[removed]']]);
    expect(client.state.notifications.map((n) => [n.id, n.preview])).toEqual([['n1', '[removed]'], ['n2', 'fine']]);
    s.serverSends({ type: 'comment:deleted', seq: 3, commentId: 'c2', threadId: 't1', threadDeleted: false } as ServerMessage);
    expect(client.state.activity.map((a) => a.preview)).toEqual(['[removed]', null, '[removed]']);
    expect(client.state.notifications.map((n) => n.id)).toEqual(['n1']);
    s.serverSends({ type: 'thread:deleted', seq: 4, threadId: 't1' } as ServerMessage);
    expect(client.state.activity.map((a) => a.preview)).toEqual([null, null, null]);
    expect(client.state.notifications).toEqual([]);
    expect(feeds.length).toBeGreaterThanOrEqual(3);
  });

  it('rolls back a refused change by resyncing, and reports it', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends({ ...authOk(1), room: roomWithBobsComment(1) } as ServerMessage);
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.editComment('c1', 'not mine');
    expect(client.state.comment('c1')!.body).toBe('not mine');
    const edit = s.sent.find((m) => m.type === 'comment:edit');
    s.serverSends({ type: 'error', code: 'not_author', message: 'Only the author can change this comment.', ref: edit.ref });
    expect(errors).toEqual([expect.objectContaining({ code: 'not_author', requestType: 'comment:edit' })]);
    expect(s.sent.at(-1)).toEqual({ type: 'room:resync', ref: expect.stringMatching(/^resync-/) });
  });

  it('asks again for a resync the server refused, and keeps rolling back later refusals', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends({ ...authOk(1), room: roomWithBobsComment(1) } as ServerMessage);
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    const resyncs = () => s.sent.filter((m) => m.type === 'room:resync');
    client.editComment('c1', 'not mine');
    s.serverSends({ type: 'error', code: 'not_author', message: 'Only the author can change this comment.', ref: s.sent.find((m) => m.type === 'comment:edit').ref });
    // The busy server refuses the resync itself: not a notice for the app, and asked again shortly.
    s.serverSends({ type: 'error', code: 'service_unavailable', message: 'The server is at capacity; retry in a moment.', ref: resyncs()[0].ref });
    expect(errors).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(300);
    expect(resyncs()).toHaveLength(2);
    s.serverSends({ type: 'room:state', room: roomWithBobsComment(2) } as ServerMessage);
    s.serverSends({ type: 'ack', ref: resyncs()[1].ref } as ServerMessage);
    expect(client.state.comment('c1')!.body).toBe('hi');
    // A later refusal is rolled back too.
    client.editComment('c1', 'still not mine');
    s.serverSends({ type: 'error', code: 'not_author', message: 'Only the author can change this comment.', ref: s.sent.filter((m) => m.type === 'comment:edit').at(-1).ref });
    expect(resyncs()).toHaveLength(3);
    expect(errors).toHaveLength(2);
  });

  it('resends an offline create, reply and edit in order, with their client ids, once reconnected', async () => {
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    FakeSocket.last.serverCloses(1006);
    const threadId = client.createThread('first');
    const commentId = client.reply(threadId, 'second');
    client.editComment(commentId, 'second, edited');
    expect(client.pendingOperations).toBe(3);
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    expect(FakeSocket.all.length).toBe(2);
    s.serverSends(authOk(0));
    const durable = s.sent.filter((m) => m.ref);
    expect(durable.map((m) => m.type)).toEqual(['thread:create', 'comment:create', 'comment:edit']);
    expect(durable[0]).toMatchObject({ id: threadId, body: 'first' });
    expect(durable[1]).toMatchObject({ id: commentId, threadId, body: 'second' });
    expect(durable[2]).toMatchObject({ commentId, body: 'second, edited' });
    expect(new Set(durable.map((m) => m.ref)).size).toBe(3);
    for (const m of durable) s.serverSends({ type: 'ack', ref: m.ref });
    expect(client.pendingOperations).toBe(0);
  });

  it('sends changes made by a listener of the new state after the queued ones, once each', async () => {
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    FakeSocket.last.serverCloses(1006);
    const queued = client.createThread('queued while offline');
    let fromListener = '';
    const off = client.state.on('auth', () => {
      fromListener = client.createThread('made on reconnect');
      off();
    });
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    FakeSocket.last.serverSends(authOk(0));
    const creates = FakeSocket.last.sent.filter((m) => m.type === 'thread:create');
    expect(creates.map((m) => m.id)).toEqual([queued, fromListener]);
  });

  it('paces a long offline queue to the write budget instead of having it refused', async () => {
    vi.useRealTimers();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    FakeSocket.last.serverCloses(1006);
    const threadId = client.createThread('thread');
    for (let i = 0; i < 59; i++) client.reply(threadId, `reply ${i}`);
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    s.serverSends(authOk(0));
    const sentNow = s.sent.filter((m) => m.ref).length;
    expect(sentNow).toBeLessThanOrEqual(30);
    await vi.advanceTimersByTimeAsync(5000);
    const all = s.sent.filter((m) => m.ref);
    expect(all).toHaveLength(60);
    expect(all[0].type).toBe('thread:create');
    expect(all.slice(1).map((m) => m.body)).toEqual(Array.from({ length: 59 }, (_, i) => `reply ${i}`));
  });

  it('reports a refused queued change with its request, and rolls it back', async () => {
    const client = await connect();
    const s0 = FakeSocket.last;
    const comment = { id: 'c1', threadId: 't1', userId: 'alice', body: 'original', mentions: [], createdAt: '2026-01-01T00:00:00.000Z', editedAt: null, reactions: [], attachments: [] };
    const room = (seq: number) => ({ id: 'r', seq, threads: [{ ...thread('t1'), comments: [comment] }], presence: [], activity: [], drawing: [] });
    s0.serverSends({ ...authOk(1), room: room(1) } as ServerMessage);
    s0.serverCloses(1006);
    const errors: PulseErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));
    const replyId = client.reply('t1', 'a reply to a thread that is gone');
    client.editComment('c1', 'edited offline');
    expect(client.state.comment(replyId)?.body).toBe('a reply to a thread that is gone');
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    s.serverSends({ ...authOk(1), room: room(1) } as ServerMessage);
    const [reply, edit] = s.sent.filter((m) => m.ref);
    s.serverSends({ type: 'error', code: 'thread_not_found', message: 'Thread not found.', ref: reply.ref });
    expect(errors).toEqual([
      {
        code: 'thread_not_found',
        message: 'Thread not found.',
        ref: reply.ref,
        requestType: 'comment:create',
        request: { type: 'comment:create', ref: reply.ref, id: replyId, threadId: 't1', body: 'a reply to a thread that is gone', mentions: [] },
      },
    ]);
    expect(client.state.comment(replyId)).toBeUndefined(); // a refused creation leaves at once
    expect(s.sent.at(-1)).toEqual({ type: 'room:resync', ref: expect.stringMatching(/^resync-/) });
    s.serverSends({ type: 'error', code: 'not_author', message: 'Only the author can change this comment.', ref: edit.ref });
    expect(errors[1]).toMatchObject({ code: 'not_author', requestType: 'comment:edit', request: { commentId: 'c1', body: 'edited offline' } });
    expect(s.sent.filter((m) => m.type === 'room:resync')).toHaveLength(1); // one resync at a time…
    s.serverSends({ type: 'room:state', room: room(1) });
    expect(s.sent.filter((m) => m.type === 'room:resync')).toHaveLength(2); // …and one more for the later refusal
    s.serverSends({ type: 'room:state', room: room(1) });
    expect(client.state.comment('c1')!.body).toBe('original');
    expect(client.pendingOperations).toBe(0);
  });

  const saturated = (ref: string): ServerMessage => ({ type: 'error', code: 'service_unavailable', message: 'The server is at capacity; retry in a moment.', ref });

  it('sends a change refused as saturated again after a backoff, keeping it and the order behind it', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends(authOk(0));
    const errors: PulseErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));
    const threadId = client.createThread('while the server is busy');
    const replyId = client.reply(threadId, 'sent right behind it');
    const durable = () => s.sent.filter((m) => m.ref);
    const [create, reply] = durable();
    expect([create.type, reply.type]).toEqual(['thread:create', 'comment:create']);

    s.serverSends(saturated(create.ref));
    // The reply may have run without its thread: its answer to this send is not the last word.
    s.serverSends({ type: 'error', code: 'thread_not_found', message: 'Thread not found.', ref: reply.ref });
    const editedLater = 'edited while the create waits';
    client.editComment(replyId, editedLater);
    expect(errors).toEqual([]);
    expect(client.state.thread(threadId)?.pending).toBe(true);
    expect(client.state.comment(replyId)?.body).toBe(editedLater);
    expect(client.pendingOperations).toBe(3);
    expect(durable()).toHaveLength(2); // the edit waits behind the create

    await vi.advanceTimersByTimeAsync(100);
    expect(durable()).toHaveLength(2); // not before 125 ms
    await vi.advanceTimersByTimeAsync(200);
    expect(durable().slice(2)).toEqual([create]); // the create alone: same ref, same ids
    s.serverSends(saturated(create.ref)); // refused a second time
    await vi.advanceTimersByTimeAsync(200);
    expect(durable()).toHaveLength(3); // the second delay is 250–500 ms
    await vi.advanceTimersByTimeAsync(400);
    expect(durable().slice(3)).toEqual([create]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(durable()).toHaveLength(4); // nothing overtakes the create while its resend is unanswered

    s.serverSends({ type: 'thread:created', seq: 1, thread: { ...client.state.thread(threadId)!, comments: [client.state.thread(threadId)!.comments[0]!] } } as ServerMessage);
    s.serverSends({ type: 'ack', ref: create.ref, id: threadId });
    const after = durable().slice(4);
    expect(after.map((m) => m.type)).toEqual(['comment:create', 'comment:edit']);
    expect(after[0]).toEqual(reply);
    expect(after[1]).toMatchObject({ commentId: replyId, body: editedLater });
    for (const m of after) s.serverSends({ type: 'ack', ref: m.ref, ...(m.id ? { id: m.id } : {}) });

    expect(errors).toEqual([]);
    expect(client.pendingOperations).toBe(0);
    expect(client.state.thread(threadId)?.pending).toBe(false);
    expect(client.state.thread(threadId)!.comments.map((c) => c.id)).toContain(replyId);
    expect(s.sent.some((m) => m.type === 'room:resync')).toBe(false); // nothing was rolled back
  });

  it('keeps a change refused as saturated across a reconnect, still ahead of the queue', async () => {
    const client = await connect();
    const s0 = FakeSocket.last;
    s0.serverSends(authOk(0));
    const threadId = client.createThread('refused, then the connection drops');
    const create = s0.sent.find((m) => m.type === 'thread:create');
    s0.serverSends(saturated(create.ref));
    s0.serverCloses(1006);
    const replyId = client.reply(threadId, 'made offline');
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    expect(FakeSocket.all.length).toBe(2);
    s.serverSends(authOk(0));
    expect(client.state.thread(threadId)?.pending).toBe(true);
    const durable = s.sent.filter((m) => m.ref);
    expect(durable.map((m) => m.type)).toEqual(['thread:create']);
    s.serverSends({ type: 'ack', ref: create.ref, id: threadId });
    expect(s.sent.filter((m) => m.ref).map((m) => m.id)).toEqual([threadId, replyId]);
    client.disconnect();
  });

  it('reports and rolls back a change still refused as saturated after 8 tries', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends(authOk(0));
    const errors: PulseErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));
    const threadId = client.createThread('the server stays busy');
    const creates = () => s.sent.filter((m) => m.type === 'thread:create');
    let waited = 0;
    for (let refusal = 1; refusal < 8; refusal++) {
      expect(creates()).toHaveLength(refusal);
      s.serverSends(saturated(creates().at(-1).ref));
      expect(errors).toEqual([]);
      expect(client.state.thread(threadId)?.pending).toBe(true);
      while (creates().length === refusal) {
        await vi.advanceTimersByTimeAsync(50);
        waited += 50;
      }
    }
    expect(waited).toBeGreaterThanOrEqual(125 + 250 + 500 + 1000 + 2000 + 2500 + 2500 - 50);
    expect(waited).toBeLessThanOrEqual(250 + 500 + 1000 + 2000 + 4000 + 5000 + 5000 + 7 * 50);
    expect(new Set(creates().map((m) => m.ref)).size).toBe(1);
    const replyId = client.reply(threadId, 'queued behind it');
    expect(s.sent.some((m) => m.type === 'comment:create')).toBe(false);

    s.serverSends(saturated(creates()[0].ref)); // the 8th refusal
    expect(errors).toEqual([expect.objectContaining({ code: 'service_unavailable', ref: creates()[0].ref, requestType: 'thread:create', request: expect.objectContaining({ id: threadId }) })]);
    expect(client.state.thread(threadId)).toBeUndefined();
    expect(s.sent.at(-1)).toEqual({ type: 'room:resync', ref: expect.stringMatching(/^resync-/) });
    // The queue behind it goes on, and meets the server's own answer.
    const reply = s.sent.find((m) => m.type === 'comment:create');
    expect(reply).toMatchObject({ id: replyId, threadId });
    s.serverSends({ type: 'error', code: 'thread_not_found', message: 'Thread not found.', ref: reply.ref });
    expect(errors[1]).toMatchObject({ code: 'thread_not_found', requestType: 'comment:create' });
    expect(client.pendingOperations).toBe(0);
  });

  it('reports a change that can never be sent instead of queueing it', async () => {
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    const errors: PulseErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));
    const id = client.createThread('x'.repeat(70_000));
    expect(client.state.thread(id)).toBeUndefined();
    expect(client.pendingOperations).toBe(0);
    await flush();
    expect(errors).toEqual([expect.objectContaining({ code: 'message_too_big', requestType: 'thread:create', request: expect.objectContaining({ id }) })]);
    expect(FakeSocket.last.sent.some((m) => m.type === 'thread:create')).toBe(false);
  });

  it('reports queued changes dropped by a room switch', async () => {
    const client = await connect();
    FakeSocket.last.serverSends(authOk(0));
    FakeSocket.last.serverCloses(1006);
    const threadId = client.createThread('never sent');
    const errors: PulseErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));
    client.setRoom('elsewhere');
    expect(errors).toEqual([expect.objectContaining({ code: 'not_sent', requestType: 'thread:create', request: expect.objectContaining({ id: threadId }) })]);
    client.disconnect();
  });

  it('does not duplicate a retried change the server had already applied', async () => {
    const client = await connect();
    const s0 = FakeSocket.last;
    s0.serverSends({ ...authOk(1), room: roomWithBobsComment(1) } as ServerMessage);
    const threadId = client.createThread('stored, but the ack was lost');
    const replyId = client.reply(threadId, 'me too');
    client.addReaction('c1', 'comment', '👍');
    const strokeId = client.drawStroke([[0.1, 0.1], [0.2, 0.2]], '#ef4444', 4);
    expect(s0.sent.filter((m) => m.ref)).toHaveLength(4);
    s0.serverCloses(1006); // the server stored all four; none of the acks arrived
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    const t = client.state.thread(threadId)!;
    const stored = {
      ...thread(threadId),
      comments: [
        { ...t.comments[0]!, createdAt: '2026-01-01T00:00:01.000Z' },
        { ...client.state.comment(replyId)!, createdAt: '2026-01-01T00:00:02.000Z' },
      ],
    };
    const c1 = { id: 'c1', threadId: 't1', userId: 'bob', body: 'hi', mentions: [], createdAt: '2026-01-01T00:00:00.000Z', editedAt: null, attachments: [], reactions: [{ id: 'rx_1', targetId: 'c1', targetType: 'comment' as const, userId: 'alice', emoji: '👍', createdAt: '2026-01-01T00:00:03.000Z' }] };
    s.serverSends({
      ...authOk(5),
      room: { id: 'r', seq: 5, threads: [{ ...thread('t1'), comments: [c1] }, stored], presence: [], activity: [], drawing: [{ id: strokeId, userId: 'alice', points: [[0.1, 0.1], [0.2, 0.2]], color: '#ef4444', width: 4, createdAt: '2026-01-01T00:00:04.000Z' }] },
    } as ServerMessage);
    const resent = s.sent.filter((m) => m.ref);
    expect(resent.map((m) => m.type)).toEqual(['thread:create', 'comment:create', 'reaction:add', 'draw:stroke']);
    for (const m of resent) s.serverSends({ type: 'ack', ref: m.ref, ...(m.id ? { id: m.id } : {}) });
    expect(client.pendingOperations).toBe(0);
    expect(client.state.threads.map((x) => x.id)).toEqual(['t1', threadId]);
    expect(client.state.thread(threadId)!.pending).toBe(false);
    expect(client.state.thread(threadId)!.comments.map((c) => c.id)).toHaveLength(2);
    // The stored copies, not the optimistic ones made again over them after the reconnect.
    expect(client.state.thread(threadId)!.comments.map((c) => c.createdAt)).toEqual(['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z']);
    expect(client.state.comment('c1')!.reactions).toHaveLength(1);
    expect(client.state.drawing.map((d) => d.id)).toEqual([strokeId]);
  });

  it('takes a resent change to what a later queued request deleted as done, not as refused', async () => {
    const client = await connect();
    const s0 = FakeSocket.last;
    s0.serverSends({ ...authOk(1), room: roomWithBobsComment(1) } as ServerMessage);
    const errors: PulseErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));
    // Stored and acknowledged: a thread of Alice's and her reply in t1.
    const threadId = client.createThread('mine');
    const replyId = client.reply('t1', 'a reply');
    const single = client.createThread('one comment');
    for (const m of s0.sent.filter((x) => x.ref)) s0.serverSends({ type: 'ack', ref: m.ref, id: m.id });
    expect(client.pendingOperations).toBe(0);
    // Changed, then deleted: the server runs all of it, and none of the answers arrives.
    client.editComment(replyId, 'edited');
    client.addReaction(replyId, 'comment', '👍');
    client.deleteComment(replyId);
    client.resolveThread(threadId, true);
    client.deleteThread(threadId);
    // Deleting a thread's only comment deletes the thread.
    client.resolveThread(single, true);
    client.deleteComment(client.state.thread(single)!.comments[0]!.id);
    // An edit of bob's comment, which someone else deletes meanwhile: nothing of Alice's deletes it.
    client.editComment('c1', 'not mine to edit');
    s0.serverCloses(1006);
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const s = FakeSocket.last;
    s.serverSends({ ...authOk(9), room: { id: 'r', seq: 9, threads: [], presence: [], activity: [], drawing: [] } } as ServerMessage);
    const resent = s.sent.filter((m) => m.ref);
    expect(resent.map((m) => m.type)).toEqual(['comment:edit', 'reaction:add', 'comment:delete', 'thread:resolve', 'thread:delete', 'thread:resolve', 'comment:delete', 'comment:edit']);
    const gone = { 'comment:edit': 'comment_not_found', 'reaction:add': 'comment_not_found', 'comment:delete': 'comment_not_found', 'thread:resolve': 'thread_not_found', 'thread:delete': 'thread_not_found' } as const;
    for (const m of resent) s.serverSends({ type: 'error', ref: m.ref, code: gone[m.type as keyof typeof gone], message: 'gone' } as ServerMessage);
    expect(client.pendingOperations).toBe(0);
    expect(errors.map((e) => [e.requestType, e.code])).toEqual([['comment:edit', 'comment_not_found']]);
    expect(errors[0]!.request).toMatchObject({ commentId: 'c1' });
  });

  it('places its own thread when its event is applied, not when its ack arrives (events from other nodes come later)', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends(authOk(1));
    const created = (id: string, seq: number) => s.serverSends({ type: 'thread:created', seq, thread: { ...thread(id), createdAt: `2026-01-01T00:00:0${seq}.000Z` } } as ServerMessage);
    const x = client.createThread('x');
    const y = client.createThread('y');
    const [ackX, ackY] = s.sent.filter((m) => m.ref);
    created(x, 2);
    s.serverSends({ type: 'ack', ref: ackX.ref, id: x });
    created(y, 4); // waits for 3, from another node
    s.serverSends({ type: 'ack', ref: ackY.ref, id: y });
    created('carol-1', 3);
    expect(client.state.threads.map((t) => t.id)).toEqual([x, 'carol-1', y]);
    expect(client.state.threads.every((t) => !t.pending)).toBe(true);
  });

  it('lists threads in the order the server stored them, also when others arrive while its own are on their way', async () => {
    const client = await connect();
    const s = FakeSocket.last;
    s.serverSends(authOk(1));
    const created = (id: string, seq: number, createdBy = 'bob') =>
      s.serverSends({ type: 'thread:created', seq, thread: { ...thread(id), createdBy, createdAt: `2026-01-01T00:00:0${seq}.000Z` } } as ServerMessage);
    const x = client.createThread('x');
    const y = client.createThread('y');
    // Bob's thread was stored before Alice's two; hers then come back one by one, with Carol's between.
    created('bob-1', 2);
    expect(client.state.threads.map((t) => t.id)).toEqual(['bob-1', x, y]);
    created(x, 3, 'alice');
    created('carol-1', 4);
    expect(client.state.threads.map((t) => t.id)).toEqual(['bob-1', x, 'carol-1', y]);
    expect(client.state.thread(y)!.pending).toBe(true);
    created(y, 5, 'alice');
    for (const m of s.sent.filter((m) => m.ref)) s.serverSends({ type: 'ack', ref: m.ref, id: m.id });
    expect(client.state.threads.map((t) => t.id)).toEqual(['bob-1', x, 'carol-1', y]);
    expect(client.state.threads.every((t) => !t.pending)).toBe(true);
  });

  it('shows replies made offline in one millisecond in the order they were made, before and after they are stored', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: new Date('2026-03-01T00:00:00.000Z') });
    const client = await connect();
    FakeSocket.last.serverSends({ ...authOk(1), room: roomWithBobsComment(1) } as ServerMessage);
    FakeSocket.last.serverCloses(1006);
    // The clock does not move: every change below is made in the same millisecond.
    const replies = ['r0', 'r1', 'r2', 'r3', 'r4'].map((body) => [client.reply('t1', body), body] as const);
    const threadId = client.createThread('root');
    for (const body of ['o0', 'o1', 'o2']) client.reply(threadId, body);
    const bodies = (id: string) => client.state.thread(id)!.comments.map((c) => c.body);
    expect(bodies('t1')).toEqual(['hi', 'r0', 'r1', 'r2', 'r3', 'r4']);
    expect(bodies(threadId)).toEqual(['root', 'o0', 'o1', 'o2']);

    // Back online: the server had stored r0 and r1 before the drop (their acks were lost).
    await vi.advanceTimersByTimeAsync(1100);
    await flush();
    const stored = (i: number, ms: number) => ({ id: replies[i]![0], threadId: 't1', userId: 'alice', body: replies[i]![1], mentions: [], createdAt: `2026-03-01T00:00:00.${ms}Z`, editedAt: null, reactions: [], attachments: [] });
    const room = roomWithBobsComment(3);
    room.threads[0]!.comments.push(stored(0, 100), stored(1, 101));
    FakeSocket.last.serverSends({ ...authOk(3), room } as ServerMessage);
    expect(bodies('t1')).toEqual(['hi', 'r0', 'r1', 'r2', 'r3', 'r4']);
    expect(client.state.comment(replies[1]![0])!.createdAt).toBe('2026-03-01T00:00:00.101Z');
    expect(bodies(threadId)).toEqual(['root', 'o0', 'o1', 'o2']);
  });

  it('reconnects at once with a fresh token when the server closes for an expired token, keeping its state', async () => {
    let calls = 0;
    const client = await connect(() => `tok-${++calls}`);
    const s0 = FakeSocket.last;
    s0.serverSends({ ...authOk(1), room: { id: 'r', seq: 1, threads: [thread('t1')], presence: [], activity: [], drawing: [] } } as ServerMessage);
    s0.serverSends({ type: 'batch', events: [{ type: 'cursor:move', userId: 'bob', position: { x: 0.5, y: 0.5, pageX: 1, pageY: 1 } }] } as ServerMessage);
    const states: string[] = [];
    const errors: unknown[] = [];
    const cursors: unknown[] = [];
    client.on('connection', (c) => states.push(c));
    client.on('error', (e) => errors.push(e));
    client.state.on('cursor', (c) => cursors.push(c));
    s0.serverSends({ type: 'error', code: 'token_expired', message: 'The user token has expired.' });
    s0.serverCloses(4401, 'token_expired');
    await flush(); // no timer: no backoff
    expect(calls).toBe(2);
    expect(FakeSocket.all.length).toBe(2);
    expect(FakeSocket.last.sent[0]).toMatchObject({ type: 'auth', token: 'tok-2' });
    expect(client.state.thread('t1')).toBeDefined(); // kept meanwhile
    expect(client.state.cursors.has('bob')).toBe(true);
    FakeSocket.last.serverSends({ ...authOk(1), room: { id: 'r', seq: 1, threads: [thread('t1')], presence: [], activity: [], drawing: [] } } as ServerMessage);
    expect(client.connectionState).toBe('connected');
    expect(states).toEqual(['connecting', 'connected']);
    expect(errors).toEqual([]);
    expect(cursors).toEqual([]);
    client.disconnect();
  });

  it('replaces its connection before the token expires, without a gap or a connection event', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [jwt(now + 120), jwt(now + 3720)];
    let calls = 0;
    const client = await connect(() => tokens[calls++]!);
    const s0 = FakeSocket.last;
    s0.serverSends(authOk(0));
    const states: string[] = [];
    client.on('connection', (c) => states.push(c));
    const before = client.createThread('in flight while the token is replaced');
    await vi.advanceTimersByTimeAsync(59_000);
    expect(FakeSocket.all.length).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000); // 60 s before expiry
    await flush();
    expect(calls).toBe(2);
    expect(FakeSocket.all.length).toBe(2);
    const s1 = FakeSocket.last;
    expect(s1.sent[0]).toMatchObject({ type: 'auth', token: tokens[1] });
    expect(s0.readyState).toBe(1); // still in use until the new one is in
    s1.serverSends(authOk(1));
    const after = client.reply(before, 'made during the switch');
    // The old connection still owes the answer to the create: nothing overtakes it on the new one.
    expect(s1.sent.filter((m) => m.ref)).toEqual([]);
    expect(s0.readyState).toBe(1);
    const create = s0.sent.find((m) => m.type === 'thread:create');
    s0.serverSends({ type: 'ack', ref: create.ref, id: before });
    expect(s0.readyState).toBe(3); // closed once it has answered
    expect(s1.sent.filter((m) => m.ref).map((m) => m.id)).toEqual([after]);
    expect(states).toEqual([]);
    expect(client.connectionState).toBe('connected');
    // The new connection is the one in use, and its token is refreshed in turn.
    client.resolveThread(before, true);
    expect(s1.sent.at(-1)).toMatchObject({ type: 'thread:resolve' });
    client.disconnect();
  });

  it('does not replace its connection when the token function returns the same token', async () => {
    const token = jwt(Math.floor(Date.now() / 1000) + 120);
    let calls = 0;
    const client = await connect(() => (calls++, token));
    FakeSocket.last.serverSends(authOk(0));
    await vi.advanceTimersByTimeAsync(61_000);
    await flush();
    expect(calls).toBe(2);
    expect(FakeSocket.all.length).toBe(1);
    client.disconnect();
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
