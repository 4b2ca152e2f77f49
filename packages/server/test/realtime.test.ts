import { CLOSE_CODES, LIMITS } from '@pulse/protocol';
import type { PulseClient } from '@pulse/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, mintToken, RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { runCli } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';

const FAST = { realtime: { leaveGraceMs: 150, authTimeoutMs: 400, offlineAfterMs: 60_000 } };

for (const driver of ['sqlite', 'postgres'] as const)
describe.skipIf(driver === 'postgres' && !postgresAvailable)(`realtime over WebSocket (${driver})`, () => {
  let t: TestServer;
  const open: (PulseClient | RawSocket)[] = [];
  const client = async (userId: string, room = 'room-1', options = {}) => {
    const c = await connectClient(t, userId, room, options);
    open.push(c);
    return c;
  };
  const raw = (url = t.wsUrl) => {
    const s = new RawSocket(url);
    open.push(s);
    return s;
  };

  /** The ack or error answering the request `ref`. */
  const answerTo = (s: RawSocket, ref: string) => waitFor(() => s.messages.find((m) => m.ref === ref && (m.type === 'ack' || m.type === 'error')), 5000, `the answer to ${ref}`);

  beforeAll(async () => {
    t = await startTestServer(driver, FAST);
  });
  afterEach(() => {
    for (const c of open.splice(0)) (c instanceof RawSocket ? c.close() : c.disconnect());
  });
  afterAll(() => t.close());

  describe('authentication', () => {
    it('answers auth with the user, the config and the full room state', async () => {
      await t.api('PUT', '/api/v1/users/rest-author', { name: 'Rest Author' });
      const created = await t.api('POST', '/api/v1/rooms/stateful/threads', { userId: 'rest-author', body: 'before anyone came', mentions: ['late'] });
      const s = raw();
      const ok = await s.auth(t, 'late', 'stateful');
      expect(ok.user).toEqual({ id: 'late', name: 'late', avatar: null, color: expect.stringMatching(/^#/) });
      expect(Object.keys(ok.config)).toHaveLength(21);
      expect(ok.room.id).toBe('stateful');
      expect(ok.room.seq).toBeGreaterThan(0);
      expect(ok.room.threads.map((th: any) => th.id)).toEqual([created.body.thread.id]);
      expect(ok.room.threads[0].comments[0].body).toBe('before anyone came');
      expect(ok.room.presence.map((p: any) => p.userId)).toEqual(['late']);
      expect(ok.room.activity.map((a: any) => a.kind)).toEqual(['thread.created']);
      expect(ok.room.drawing).toEqual([]);
      expect(ok.notifications).toEqual([expect.objectContaining({ kind: 'mention', actorId: 'rest-author', read: false })]);
      // The user now exists for the REST API too.
      const users = await t.api('GET', '/api/v1/users');
      expect(users.body.items.map((u: any) => u.externalId)).toContain('late');
    });

    it('gives a joiner of an open room the number of its latest event, whoever wrote it', async () => {
      const room = `open-seq-${driver}`;
      const first = raw();
      await first.auth(t, 'seq-first', room);
      const seen = () => Math.max(0, ...first.messages.filter((m) => typeof m.seq === 'number').map((m) => m.seq as number));
      const join = async (user: string) => {
        const s = raw();
        const ok = await s.auth(t, user, room);
        return { seq: ok.room.seq as number, threads: (ok.room.threads as { id: string }[]).map((th) => th.id) };
      };
      first.send({ type: 'thread:create', ref: 's1', id: `os-${driver}-1`, body: 'by socket', mentions: [], position: null });
      await answerTo(first, 's1');
      await t.api('PUT', '/api/v1/users/seq-rest', { name: 'Rest' });
      await t.api('POST', `/api/v1/rooms/${room}/threads`, { userId: 'seq-rest', body: 'by REST' });
      await waitFor(() => first.messages.some((m) => m.type === 'thread:created' && m.thread?.comments?.[0]?.body === 'by REST'));
      const second = await join('seq-second');
      expect(second.seq).toBe(seen());
      expect(second.threads).toHaveLength(2);
      first.send({ type: 'comment:create', ref: 's2', threadId: `os-${driver}-1`, body: 'one more', mentions: [] });
      await answerTo(first, 's2');
      await waitFor(() => seen() === second.seq + 1);
      expect((await join('seq-third')).seq).toBe(second.seq + 1);
    });

    it('rejects a bad token with auth:error and 4401, a bad key with 4403', async () => {
      const a = raw();
      await a.opened;
      a.send({ type: 'auth', apiKey: t.publishableKey, token: 'not-a-jwt', room: 'r' });
      expect((await a.next('auth:error')).code).toBe('invalid_token');
      expect((await a.waitClosed()).code).toBe(CLOSE_CODES.UNAUTHORIZED);

      const b = raw();
      await b.opened;
      b.send({ type: 'auth', apiKey: 'pk_unknown', token: await mintToken(t, 'x'), room: 'r' });
      expect((await b.next('auth:error')).code).toBe('invalid_api_key');
      expect((await b.waitClosed()).code).toBe(CLOSE_CODES.FORBIDDEN);

      const c = raw();
      await c.opened;
      c.send({ type: 'auth', apiKey: t.secretKey, token: await mintToken(t, 'x'), room: 'r' });
      expect((await c.next('auth:error')).code).toBe('secret_key_not_allowed');
    });

    it('closes sockets that do not authenticate in time, or start with another message', async () => {
      const idle = raw();
      await idle.opened;
      expect((await idle.next('auth:error', 3000)).code).toBe('auth_timeout');
      expect((await idle.waitClosed()).code).toBe(CLOSE_CODES.AUTH_TIMEOUT);

      const rude = raw();
      await rude.opened;
      rude.send({ type: 'cursor:move', position: { x: 0, y: 0, pageX: 0, pageY: 0 } });
      expect((await rude.next('auth:error')).code).toBe('not_authenticated');
      expect((await rude.waitClosed()).code).toBe(CLOSE_CODES.BAD_REQUEST);
    });

    it('answers a frame sent while its auth is checked with not_authenticated and the frame\'s ref', async () => {
      const eager = raw();
      await eager.opened;
      eager.send({ type: 'auth', apiKey: t.publishableKey, token: await mintToken(t, 'eager'), room: 'r' });
      eager.send({ type: 'cursor:move', ref: 'h1', position: { x: 0, y: 0, pageX: 0, pageY: 0 } });
      expect(await eager.next('error')).toMatchObject({ code: 'not_authenticated', ref: 'h1' });
      await eager.next('auth:ok');
    });

    it('refuses a second auth on an authenticated socket', async () => {
      const s = raw();
      await s.auth(t, 'twice');
      s.send({ type: 'auth', apiKey: t.publishableKey, token: await mintToken(t, 'twice'), room: 'other', ref: 'a2' });
      expect(await s.next('error')).toMatchObject({ code: 'already_authenticated', ref: 'a2' });
      expect(s.closed).toBeUndefined();
    });
  });

  describe('presence', () => {
    it('shows users per user, not per tab, with status, device type and leave after the grace period', async () => {
      const alice = await client('alice', 'presence');
      const bob1 = await client('bob', 'presence', { deviceType: 'mobile' });
      const bob2 = await client('bob', 'presence', { deviceType: 'mobile' });
      await waitFor(() => alice.state.presence.length === 2);
      expect(alice.state.presence.map((p) => p.userId).sort()).toEqual(['alice', 'bob']);
      expect(alice.state.presence.find((p) => p.userId === 'bob')!.deviceType).toBe('mobile');

      bob1.updatePresence('idle');
      await sleep(100);
      expect(alice.state.presence.find((p) => p.userId === 'bob')!.status).toBe('online'); // bob2 is still online
      bob2.updatePresence('idle');
      await waitFor(() => alice.state.presence.find((p) => p.userId === 'bob')?.status === 'idle');

      const rest = await t.api('GET', '/api/v1/rooms/presence/presence');
      expect(rest.body.items.map((i: any) => i.user.id).sort()).toEqual([`${t.envId}:alice`, `${t.envId}:bob`]);
      expect(rest.body.items.find((i: any) => i.user.id.endsWith(':bob')).status).toBe('idle');

      bob1.disconnect();
      await sleep(300);
      expect(alice.state.presence.map((p) => p.userId)).toContain('bob'); // one tab left
      bob2.disconnect();
      await sleep(50);
      expect(alice.state.presence.map((p) => p.userId)).toContain('bob'); // grace period
      await waitFor(() => !alice.state.presence.some((p) => p.userId === 'bob'), 2000, 'bob to leave');
    });

    it('does not flicker when a user reconnects within the grace period', async () => {
      const alice = await client('alice', 'flicker');
      const bob = await client('bob', 'flicker');
      await waitFor(() => alice.state.presence.length === 2);
      const seen: string[] = [];
      alice.state.on('presence', (list) => seen.push(list.map((p) => p.userId).sort().join(',')));
      bob.disconnect();
      await client('bob', 'flicker');
      await sleep(400);
      expect(seen.every((s) => s === 'alice,bob')).toBe(true);
    });

    it('hides a user who appears offline, and shows them again', async () => {
      const alice = await client('alice', 'hide');
      const bob = await client('bob', 'hide');
      await waitFor(() => alice.state.presence.length === 2);
      bob.setAppearOffline(true);
      await waitFor(() => alice.state.presence.length === 1);
      expect((await t.api('GET', '/api/v1/rooms/hide/presence')).body.items).toHaveLength(1);
      bob.setAppearOffline(false);
      await waitFor(() => alice.state.presence.length === 2);
    });

    it('tells a user who joined right after someone that they hid at once (came and went within one batch)', async () => {
      const alice = await client('alice', 'hide-at-once');
      const bob = await client('bob', 'hide-at-once');
      // Bob's auth:ok showed Alice before her join went out with the room's next batch.
      expect(bob.state.presence.map((p) => p.userId).sort()).toEqual(['alice', 'bob']);
      alice.setAppearOffline(true);
      await waitFor(() => bob.state.presence.length === 1, 3000, 'alice to leave bob\'s presence');
      expect(bob.state.presence.map((p) => p.userId)).toEqual(['bob']);
    });
  });

  describe('ephemeral events', () => {
    it('relays cursors, clicks, viewports, selections, typing and emoji to the room only', async () => {
      const alice = await client('alice', 'live');
      const bob = await client('bob', 'live');
      const elsewhere = await client('carol', 'not-live');
      const got: Record<string, any[]> = {};
      for (const e of ['cursor', 'click', 'viewport', 'selection', 'typing', 'emoji-drop'] as const) {
        got[e] = [];
        bob.state.on(e, (p) => got[e]!.push(p));
        elsewhere.state.on(e, () => {
          throw new Error(`carol got ${e}`);
        });
      }
      const ownCursor: unknown[] = [];
      alice.state.on('cursor', (p) => ownCursor.push(p));

      const pos = { x: 0.25, y: 0.5, pageX: 320, pageY: 900 };
      alice.moveCursor(pos);
      alice.sendClick(pos);
      alice.sendViewport({ scrollX: 0, scrollY: 1200, width: 1280, height: 800, ratioY: 0.4 });
      alice.sendSelection({ text: 'hello' });
      alice.startTyping('thread-x');
      alice.sendEmoji('🎉', pos);
      await waitFor(() => Object.values(got).every((list) => list.length > 0), 2000, 'every event');
      expect(got.cursor![0]).toEqual({ userId: 'alice', position: pos });
      expect(got.click![0]).toEqual({ userId: 'alice', position: pos });
      expect(got.viewport![0]).toMatchObject({ userId: 'alice', scrollY: 1200, ratioY: 0.4 });
      expect(got.selection![0]).toEqual({ userId: 'alice', selection: { text: 'hello' } });
      expect(got.typing![0]).toEqual({ userId: 'alice', threadId: 'thread-x', typing: true });
      expect(got['emoji-drop']![0]).toEqual({ userId: 'alice', emoji: '🎉', position: pos });
      expect(bob.state.typing).toEqual([{ userId: 'alice', threadId: 'thread-x' }]);
      alice.stopTyping('thread-x');
      await waitFor(() => bob.state.typing.length === 0);
      expect(ownCursor).toEqual([]); // a client ignores its own echo
    });

    it('coalesces a cursor flood into one update per user per tick, without errors', async () => {
      const alice = raw();
      await alice.auth(t, 'alice', 'flood');
      const bob = raw();
      await bob.auth(t, 'bob', 'flood');
      for (let i = 0; i < 150; i++) alice.send({ type: 'cursor:move', position: { x: i / 200, y: 0, pageX: i, pageY: 0 } });
      await sleep(300);
      const batches = bob.messages.filter((m) => m.type === 'batch');
      const cursorEvents = batches.flatMap((b) => b.events).filter((e: any) => e.type === 'cursor:move');
      expect(cursorEvents.length).toBeGreaterThan(0);
      expect(cursorEvents.length).toBeLessThan(20);
      expect(cursorEvents.at(-1).position.pageX).toBe(149); // the last position always arrives
      expect(alice.messages.filter((m) => m.type === 'error')).toEqual([]);
      expect(alice.closed).toBeUndefined();
    });

    it('expires a typing indicator by itself when the stop never comes', async () => {
      const alice = raw();
      await alice.auth(t, 'alice', 'typing-ttl');
      const bob = await client('bob', 'typing-ttl');
      alice.send({ type: 'typing:start', threadId: 't1' });
      await waitFor(() => bob.state.typing.length === 1);
      alice.ws.terminate();
      await waitFor(() => bob.state.typing.length === 0, 6000, 'typing to expire');
    });
  });

  describe('durable events', () => {
    it('creates, replies, edits, reacts, resolves and deletes, reaching every peer with consecutive seq', async () => {
      const alice = await client('alice', 'durable');
      const bob = await client('bob', 'durable');
      const seqs: number[] = [];
      const startSeq = bob.state.seq;
      bob.state.on('threads', () => seqs.push(bob.state.seq));

      const threadId = alice.createThread('Is this button aligned?', { mentions: ['bob'], position: { x: 0.4, y: 0.2, selector: '#buy' } });
      expect(alice.state.thread(threadId)!.pending).toBe(true); // optimistic
      await waitFor(() => bob.state.thread(threadId));
      expect(bob.state.thread(threadId)!.position).toEqual({ x: 0.4, y: 0.2, selector: '#buy' });
      await alice.sync();
      expect(alice.state.thread(threadId)!.pending).toBe(false);

      const replyId = bob.reply(threadId, 'Looks off by 2px', ['alice']);
      await waitFor(() => alice.state.comment(replyId));
      bob.editComment(replyId, 'Looks off by 3px');
      await waitFor(() => alice.state.comment(replyId)?.body === 'Looks off by 3px');
      expect(alice.state.comment(replyId)!.editedAt).not.toBeNull();
      expect(alice.state.comment(replyId)!.mentions).toEqual(['alice']);

      const firstComment = alice.state.thread(threadId)!.comments[0]!.id;
      const reactions: unknown[] = [];
      alice.state.on('reactions', (r) => reactions.push(r));
      bob.addReaction(firstComment, 'comment', '👍');
      bob.addReaction(firstComment, 'comment', '👍'); // one per user per emoji
      await bob.sync();
      await waitFor(() => alice.state.comment(firstComment)?.reactions.length === 1);
      expect(reactions.at(-1)).toMatchObject({ targetId: firstComment, reactions: [expect.objectContaining({ userId: 'bob', emoji: '👍' })] });
      const reactionId = alice.state.comment(firstComment)!.reactions[0]!.id;
      bob.removeReaction(reactionId);
      await waitFor(() => alice.state.comment(firstComment)?.reactions.length === 0);

      alice.resolveThread(threadId, true);
      await waitFor(() => bob.state.thread(threadId)?.resolved === true);
      alice.resolveThread(threadId, false);
      await waitFor(() => bob.state.thread(threadId)?.resolved === false);

      bob.deleteComment(replyId);
      await waitFor(() => !alice.state.comment(replyId));
      alice.deleteThread(threadId);
      await waitFor(() => !bob.state.thread(threadId));
      await alice.sync();
      await bob.sync();

      // Every change (9; the repeated reaction is none) advanced the room's seq by exactly one, and both clients agree.
      expect(bob.state.seq).toBe(startSeq + 9);
      expect(alice.state.seq).toBe(bob.state.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(alice.state.activity.map((a) => a.kind)).toEqual(
        expect.arrayContaining(['thread.created', 'comment.created', 'comment.edited', 'thread.resolved', 'thread.reopened', 'comment.deleted', 'thread.deleted']),
      );
    });

    it('refuses to change someone else’s comment, and rolls the optimistic change back', async () => {
      const alice = await client('alice', 'owner');
      const bob = await client('bob', 'owner');
      const threadId = alice.createThread('mine');
      await alice.sync();
      await waitFor(() => bob.state.thread(threadId));
      const commentId = bob.state.thread(threadId)!.comments[0]!.id;
      const errors: any[] = [];
      bob.on('error', (e) => errors.push(e));
      bob.editComment(commentId, 'hijacked');
      bob.deleteComment(commentId);
      await waitFor(() => errors.length === 2);
      expect(errors.map((e) => e.code)).toEqual(['not_author', 'not_author']);
      expect(errors.map((e) => e.requestType).sort()).toEqual(['comment:delete', 'comment:edit']);
      await waitFor(() => bob.state.comment(commentId)?.body === 'mine', 2000, 'rollback');
      expect(alice.state.comment(commentId)!.body).toBe('mine');
      const stored = await t.api('GET', `/api/v1/threads/${threadId}`);
      expect(stored.body.comments[0].body).toBe('mine');
    });

    it('keeps the drawing for late joiners, and clears it for everyone', async () => {
      const alice = await client('alice', 'drawing');
      const strokeId = alice.drawStroke([[0.1, 0.1], [0.2, 0.25], [0.3, 0.2]], '#ef4444', 4);
      await alice.sync();
      const late = await client('late', 'drawing');
      expect(late.state.drawing).toEqual([expect.objectContaining({ id: strokeId, userId: 'alice', color: '#ef4444', width: 4 })]);
      const cleared: unknown[] = [];
      late.state.on('draw-clear', (e) => cleared.push(e));
      alice.clearDrawing();
      await waitFor(() => cleared.length === 1);
      expect(late.state.drawing).toEqual([]);
      const again = await client('later', 'drawing');
      expect(again.state.drawing).toEqual([]);
    });

    it('notifies mentioned users and thread participants in any room, with read state', async () => {
      const alice = await client('alice', 'notify-a');
      const bob = await client('bob', 'notify-elsewhere'); // bob is in another room
      const threadId = alice.createThread('@bob please look', { mentions: ['bob'] });
      await waitFor(() => bob.state.notifications.some((n) => n.threadId === threadId));
      const n = bob.state.notifications.find((x) => x.threadId === threadId)!;
      expect(n).toMatchObject({ kind: 'mention', roomId: 'notify-a', actorId: 'alice', read: false, preview: '@bob please look' });
      expect(alice.state.notifications.some((x) => x.threadId === threadId)).toBe(false); // not for the author

      // A participant gets a reply notification.
      const carol = await client('carol', 'notify-a');
      await waitFor(() => carol.state.thread(threadId));
      carol.reply(threadId, 'me too');
      await waitFor(() => alice.state.notifications.some((x) => x.kind === 'reply' && x.threadId === threadId));

      bob.markNotificationsRead([n.id]);
      await bob.sync();
      expect(bob.state.notifications.find((x) => x.id === n.id)!.read).toBe(true);
      const fresh = await client('bob', 'notify-a');
      expect(fresh.state.notifications.find((x) => x.id === n.id)!.read).toBe(true);
    });

    it("limits the users one author's mentions notify, not a backend's", async () => {
      const s = raw();
      await s.auth(t, `mentioner-${driver}`, 'mention-budget');
      const create = (i: number) =>
        s.send({ type: 'thread:create', ref: `mb${i}`, id: `mb-${driver}-${i}`, body: 'hi all', mentions: Array.from({ length: 50 }, (_, k) => `mb-user-${i}-${k}`), position: null });
      const rounds = LIMITS.mentionsPerUserBurst / 50;
      for (let i = 0; i <= rounds; i++) create(i);
      const answers = await Promise.all(Array.from({ length: rounds + 1 }, (_, i) => answerTo(s, `mb${i}`)));
      expect(answers.slice(0, rounds).every((m) => m.type === 'ack')).toBe(true);
      expect(answers[rounds]).toMatchObject({ type: 'error', code: 'rate_limited', message: expect.stringContaining('mentions') });
      // A create sent again (its ack lost) is answered as done, not charged, though the allowance is spent.
      s.send({ type: 'thread:create', ref: 'mb-again', id: `mb-${driver}-0`, body: 'hi all', mentions: Array.from({ length: 50 }, (_, k) => `mb-user-0-${k}`), position: null });
      expect(await answerTo(s, 'mb-again')).toMatchObject({ type: 'ack' });
      // Nothing of the refused thread was stored; the same mentions from a backend are not limited.
      expect((await t.api('GET', `/api/v1/threads/mb-${driver}-${rounds}`)).status).toBe(404);
      await t.api('PUT', `/api/v1/users/mentioner-${driver}`, { name: 'Mentioner' });
      for (let i = 0; i <= rounds; i++) {
        const r = await t.api('POST', '/api/v1/rooms/mention-budget/threads', { userId: `mentioner-${driver}`, body: 'from the backend', mentions: Array.from({ length: 50 }, (_, k) => `mb-rest-${i}-${k}`) });
        expect(r.status).toBe(201);
      }
    });

    it('notifies a user once per comment, however often an edit takes their mention out and puts it back', async () => {
      const s = raw();
      await s.auth(t, 'editor', 'mention-edits');
      s.send({ type: 'thread:create', ref: 'e1', id: `me-${driver}`, commentId: `me-${driver}-c`, body: 'hello @target', mentions: ['target'], position: null });
      await s.next('ack', 5000, (m) => m.ref === 'e1');
      for (const [ref, mentions] of [['e2', []], ['e3', ['target']], ['e4', []], ['e5', ['target', 'second']]] as const) {
        s.send({ type: 'comment:edit', ref, commentId: `me-${driver}-c`, body: `edit ${ref}`, mentions });
        expect(await answerTo(s, ref)).toMatchObject({ type: 'ack' });
      }
      const target = raw();
      const ok = await target.auth(t, 'target', 'elsewhere');
      expect(ok.notifications.filter((n: any) => n.commentId === `me-${driver}-c`)).toHaveLength(1);
      const second = raw();
      expect((await second.auth(t, 'second', 'elsewhere')).notifications.filter((n: any) => n.commentId === `me-${driver}-c`)).toHaveLength(1);
    });

    it('delivers REST writes to sockets exactly like socket writes', async () => {
      const alice = await client('alice', 'rest-live');
      await t.api('PUT', '/api/v1/users/ci-bot', { name: 'CI Bot' });
      const created = await t.api('POST', '/api/v1/rooms/rest-live/threads', { userId: 'ci-bot', body: 'Deploy failed', mentions: ['alice'] });
      const threadId = created.body.thread.id;
      await waitFor(() => alice.state.thread(threadId));
      await waitFor(() => alice.state.notifications.some((n) => n.threadId === threadId));
      const comment = await t.api('POST', `/api/v1/threads/${threadId}/comments`, { userId: 'ci-bot', body: 'Retrying' });
      await waitFor(() => alice.state.comment(comment.body.comment.id));
      await t.api('PATCH', `/api/v1/threads/${threadId}`, { resolved: true });
      await waitFor(() => alice.state.thread(threadId)?.resolved);
      await t.api('DELETE', `/api/v1/threads/${threadId}`);
      await waitFor(() => !alice.state.thread(threadId));
    });
  });

  describe('config enforcement', () => {
    afterEach(async () => {
      await t.server.ctx.environments.updateConfig(t.envId, {
        allowReactions: true,
        allowDrawing: true,
        allowMentions: true,
        showCursors: true,
        showTypingIndicators: true,
        showPresence: true,
      });
    });

    it('pushes config changes to connected clients at once', async () => {
      const alice = await client('alice', 'config');
      const seen: boolean[] = [];
      alice.state.on('config', (c) => seen.push(c.allowDrawing));
      await t.server.ctx.environments.updateConfig(t.envId, { allowDrawing: false });
      await waitFor(() => alice.state.config.allowDrawing === false, 1000);
      expect(seen).toContain(false);
    });

    it('rejects reactions, drawing and mentions when they are off', async () => {
      const alice = await client('alice', 'config-off');
      const threadId = alice.createThread('hello');
      await alice.sync();
      await t.server.ctx.environments.updateConfig(t.envId, { allowReactions: false, allowDrawing: false, allowMentions: false });
      await waitFor(() => !alice.state.config.allowReactions);
      const errors: any[] = [];
      alice.on('error', (e) => errors.push(e));
      const commentId = alice.state.thread(threadId)!.comments[0]!.id;
      alice.addReaction(commentId, 'comment', '👍');
      alice.drawStroke([[0, 0]], '#000000', 2);
      alice.reply(threadId, 'hi @bob', ['bob']);
      await waitFor(() => errors.length === 3);
      expect(errors.map((e) => e.code)).toEqual(['feature_disabled', 'feature_disabled', 'feature_disabled']);
      const stored = await t.api('GET', `/api/v1/threads/${threadId}`);
      expect(stored.body.comments).toHaveLength(1);
      expect(stored.body.comments[0].reactions).toEqual([]);
    });

    it('stops relaying cursors and typing, and hides presence, when they are off', async () => {
      const alice = await client('alice', 'display-off');
      const bob = await client('bob', 'display-off');
      await t.server.ctx.environments.updateConfig(t.envId, { showCursors: false, showTypingIndicators: false, showPresence: false });
      await waitFor(() => !bob.state.config.showCursors);
      const got: string[] = [];
      bob.state.on('cursor', () => got.push('cursor'));
      bob.state.on('typing', () => got.push('typing'));
      alice.moveCursor({ x: 0.5, y: 0.5, pageX: 1, pageY: 1 });
      alice.startTyping('t');
      await sleep(200);
      expect(got).toEqual([]);
      const carol = await client('carol', 'display-off');
      expect(carol.state.presence).toEqual([]);
      await sleep(100);
      expect(bob.state.presence.map((p) => p.userId)).not.toContain('carol');
    });
  });

  describe('key lifecycle', () => {
    it('closes sockets within a second when their keys are rotated (4403) or their token’s key revoked (4401)', async () => {
      const env = await t.server.ctx.environments.create('Lifecycle');
      const token = async (userId: string, sk: string) => (await t.api('POST', '/auth/token', { userId, name: userId }, sk)).body.token;
      const connect = async (pk: string, tok: string) => {
        const s = raw();
        await s.opened;
        s.send({ type: 'auth', apiKey: pk, token: tok, room: 'keys' });
        await s.next('auth:ok');
        return s;
      };
      const onOldPair = await connect(env.publishableKey, await token('u1', env.secretKey));
      const rotated = await t.server.ctx.environments.rotate(env.id);
      const started = Date.now();
      expect((await onOldPair.waitClosed(1000)).code).toBe(CLOSE_CODES.FORBIDDEN);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(onOldPair.messages.find((m) => m.type === 'error').code).toBe('key_revoked');

      // The new pk stays; only the secret key that minted the token is revoked.
      const s = await connect(rotated.publishableKey, await token('u2', rotated.secretKey));
      const keys = await t.server.ctx.environments.keys(env.id);
      const sk = keys.find((k) => k.kind === 'secret' && k.status === 'active')!;
      await t.server.ctx.environments.revoke(env.id, sk.id);
      expect((await s.waitClosed(1000)).code).toBe(CLOSE_CODES.UNAUTHORIZED);
      expect(s.messages.find((m) => m.type === 'error').code).toBe('token_revoked');
    });

    it('closes sockets when the CLI revokes a key in another process', async () => {
      const env = await t.server.ctx.environments.create('CLI revoke');
      const tok = (await t.api('POST', '/auth/token', { userId: 'u', name: 'u' }, env.secretKey)).body.token;
      const s = raw();
      await s.opened;
      s.send({ type: 'auth', apiKey: env.publishableKey, token: tok, room: 'cli' });
      await s.next('auth:ok');
      const result = await runCli(['env', 'revoke', env.id, env.publishableKey.slice(0, 11)], t.childEnv);
      expect(result.code).toBe(0);
      const done = Date.now();
      expect((await s.waitClosed(2000)).code).toBe(CLOSE_CODES.FORBIDDEN);
      expect(Date.now() - done).toBeLessThan(1000);
    });
  });

  describe('bad input', () => {
    it('answers bad frames with an error carrying the ref, keeps the socket open and changes nothing', async () => {
      const alice = await client('alice', 'bad');
      const threadId = alice.createThread('original');
      await alice.sync();
      const before = await t.api('GET', `/api/v1/threads/${threadId}`);
      const commentId = before.body.comments[0].id;
      const s = raw();
      await s.auth(t, 'mallory', 'bad');
      const cases: [unknown, string][] = [
        ['not json', 'invalid_message'],
        ['[1,2,3]', 'invalid_message'],
        [{ type: 'teleport', ref: 'r1' }, 'unknown_message_type'],
        [{ type: 'comment:edit', ref: 'r2', commentId, body: 42 }, 'invalid_message'],
        [{ type: 'comment:edit', ref: 'r3', commentId, body: 'mine now' }, 'not_author'],
        [{ type: 'comment:delete', ref: 'r4', commentId }, 'not_author'],
        [{ type: 'thread:delete', ref: 'r5', threadId }, 'forbidden'],
        [{ type: 'thread:create', ref: 'r6', id: 'x', body: 'a', mentions: Array.from({ length: 51 }, (_, i) => `u${i}`), position: null }, 'too_many_mentions'],
        [{ type: 'thread:create', ref: 'r6b', id: 'x', body: 'a', mentions: Array.from({ length: 201 }, () => 'u'), position: null }, 'invalid_message'],
        [{ type: 'thread:create', ref: 'r7', id: 'has spaces', body: 'a', mentions: [], position: null }, 'invalid_message'],
        [{ type: 'thread:create', ref: 'r8', id: 'ok-id', body: 'a', mentions: [], position: { x: 2, y: 0 } }, 'invalid_message'],
        [{ type: 'cursor:move', ref: 'r9', position: { x: 'left' } }, 'invalid_message'],
        [{ type: 'reaction:add', ref: 'r10', targetId: commentId, emoji: 'not an emoji' }, 'invalid_message'],
        [{ type: 'reaction:remove', ref: 'r14' }, 'invalid_message'],
        [{ type: 'reaction:remove', ref: 'r15', reactionId: 'react_1', targetId: commentId, emoji: '👍' }, 'invalid_message'],
        [{ type: 'reaction:remove', ref: 'r16', targetId: commentId }, 'invalid_message'],
        [{ type: 'comment:create', ref: 'r11', threadId, body: 'x'.repeat(10_001) }, 'invalid_message'],
        [{ type: 'comment:create', ref: 'r12', threadId, body: 'x', extra: true }, 'invalid_message'],
        [{ type: 'comment:create', ref: 'r13', threadId, body: 'x'.repeat(70_000) }, 'message_too_big'],
      ];
      for (const [frame] of cases) s.send(frame);
      await waitFor(() => s.messages.filter((m) => m.type === 'error').length >= cases.length, 3000, 'all errors');
      const errors = s.messages.filter((m) => m.type === 'error');
      // Answers to requests that touch the database may overtake the others: compare by ref.
      const byRef = (list: { ref?: string; code: string }[]) => list.map((e) => `${e.ref ?? '-'}:${e.code}`).sort();
      expect(byRef(errors)).toEqual(byRef(cases.map(([f, code]) => ({ ref: (f as any)?.ref, code }))));
      expect(errors.find((e) => e.ref === 'r2').message).toContain('body');
      expect(s.closed).toBeUndefined();
      const after = await t.api('GET', `/api/v1/threads/${threadId}`);
      expect(after.body).toEqual(before.body);
    });

    it('keeps a thread its creator\'s to delete after its first comment is deleted', async () => {
      const room = 'owner-delete';
      const [a, b] = [raw(), raw()];
      await a.auth(t, 'owner-a', room);
      await b.auth(t, 'replier-b', room);
      const reply = (s: RawSocket, frame: { type: string; ref: string; [field: string]: unknown }) => {
        s.send(frame);
        return waitFor(() => s.messages.find((m) => (m.type === 'ack' || m.type === 'error') && m.ref === frame.ref), 3000, `the answer to ${frame.ref}`);
      };
      expect((await reply(a, { type: 'thread:create', ref: 'a1', id: 'owned', commentId: 'owned-first', body: 'mine', mentions: [], position: null })).type).toBe('ack');
      expect((await reply(b, { type: 'comment:create', ref: 'b1', threadId: 'owned', id: 'b-reply', body: 'a reply' })).type).toBe('ack');
      expect((await reply(a, { type: 'comment:delete', ref: 'a2', commentId: 'owned-first' })).type).toBe('ack');
      // B's reply is now the thread's first comment; the thread is still A's.
      expect(await reply(b, { type: 'thread:delete', ref: 'b2', threadId: 'owned' })).toMatchObject({ type: 'error', code: 'forbidden' });
      const kept = (await t.api('GET', '/api/v1/threads/owned')).body;
      expect(kept.comments.map((c: any) => c.id)).toEqual(['b-reply']);
      expect(kept.thread.createdBy).toBe('owner-a');
      expect((await reply(a, { type: 'thread:delete', ref: 'a3', threadId: 'owned' })).type).toBe('ack');
      expect((await t.api('GET', '/api/v1/threads/owned')).status).toBe(404);
    });

    it('names the id that is taken when a thread\'s first comment id is', async () => {
      const s = raw();
      await s.auth(t, 'namer', 'taken-ids');
      s.send({ type: 'thread:create', ref: 't1', id: 'taken-thread', commentId: 'taken-comment', body: 'first', mentions: [], position: null });
      await s.next('ack', 3000, (m) => m.ref === 't1');
      s.send({ type: 'thread:create', ref: 't2', id: 'fresh-thread', commentId: 'taken-comment', body: 'second', mentions: [], position: null });
      expect(await s.next('error', 3000, (m) => m.ref === 't2')).toMatchObject({ code: 'already_exists', message: 'A comment with id "taken-comment" already exists.' });
      expect((await t.api('GET', '/api/v1/threads/fresh-thread')).status).toBe(404);
    });

    it('treats ids of another room or environment as unknown', async () => {
      const alice = await client('alice', 'room-a');
      const threadId = alice.createThread('in room a');
      await alice.sync();
      const commentId = alice.state.thread(threadId)!.comments[0]!.id;
      const s = raw();
      await s.auth(t, 'alice', 'room-b');
      s.send({ type: 'comment:create', ref: 'x1', threadId, body: 'cross-room' });
      s.send({ type: 'comment:edit', ref: 'x2', commentId, body: 'cross-room edit' });
      s.send({ type: 'thread:resolve', ref: 'x3', threadId, resolved: true });
      s.send({ type: 'reaction:add', ref: 'x4', targetId: commentId, emoji: '👍' });
      s.send({ type: 'reaction:remove', ref: 'x5', targetId: commentId, emoji: '👍' });
      await waitFor(() => s.messages.filter((m) => m.type === 'error').length === 5);
      const codes = Object.fromEntries(s.messages.filter((m) => m.type === 'error').map((e) => [e.ref, e.code]));
      expect(codes).toEqual({ x1: 'thread_not_found', x2: 'comment_not_found', x3: 'thread_not_found', x4: 'comment_not_found', x5: 'comment_not_found' });

      const other = await t.server.ctx.environments.create('Other env');
      const token = (await t.api('POST', '/auth/token', { userId: 'alice', name: 'A' }, other.secretKey)).body.token;
      const o = raw();
      await o.opened;
      o.send({ type: 'auth', apiKey: other.publishableKey, token, room: 'room-a' });
      const ok = await o.next('auth:ok');
      expect(ok.room.threads).toEqual([]); // same room name, other environment
      o.send({ type: 'comment:delete', ref: 'y1', commentId });
      expect((await o.next('error')).code).toBe('comment_not_found');
      expect(alice.state.thread(threadId)!.comments).toHaveLength(1);
      expect((await t.api('GET', `/api/v1/threads/${threadId}`)).body.thread.resolved).toBe(false);
    });

    it('answers a duplicate thread id from the same user with an ack (retry), from another user with an error', async () => {
      const s = raw();
      await s.auth(t, 'alice', 'dup');
      s.send({ type: 'thread:create', ref: 'd1', id: 'dup-thread', body: 'first', mentions: [], position: null });
      s.send({ type: 'thread:create', ref: 'd2', id: 'dup-thread', body: 'first', mentions: [], position: null });
      await waitFor(() => s.messages.filter((m) => m.type === 'ack').length === 2);
      const m = raw();
      await m.auth(t, 'mallory', 'dup');
      m.send({ type: 'thread:create', ref: 'd3', id: 'dup-thread', body: 'steal', mentions: [], position: null });
      expect(await m.next('error')).toMatchObject({ code: 'already_exists', ref: 'd3' });
      const thread = await t.api('GET', '/api/v1/threads/dup-thread');
      expect(thread.body.comments.map((c: any) => c.body)).toEqual(['first']);
    });

    it('rate-limits durable requests per connection', async () => {
      const s = raw();
      await s.auth(t, 'spammer', 'spam');
      for (let i = 0; i < 60; i++) s.send({ type: 'draw:stroke', ref: `s${i}`, points: [[0.1, 0.1]], color: '#000000', width: 1 });
      await waitFor(() => s.messages.filter((m) => m.type === 'ack' || m.type === 'error').length === 60, 5000);
      const limited = s.messages.filter((m) => m.type === 'error' && m.code === 'rate_limited');
      expect(limited.length).toBeGreaterThan(0);
      expect(s.messages.filter((m) => m.type === 'ack').length).toBeGreaterThanOrEqual(40);
    });
  });

  describe('resilience', () => {
    it('reconnects after a server restart, converges, and sends the offline queue once', async () => {
      const alice = await client('alice', 'restart');
      const bob = await client('bob', 'restart');
      const states: string[] = [];
      alice.on('connection', (s) => states.push(s));
      const before = alice.createThread('before restart');
      await alice.sync();

      await t.server.close();
      await waitFor(() => alice.connectionState === 'connecting');
      // Made while offline: queued, visible at once, sent after reconnecting.
      const offline = alice.createThread('written offline');
      const reply = alice.reply(before, 'reply offline');
      expect(alice.pendingOperations).toBe(2);
      expect(alice.state.thread(offline)!.pending).toBe(true);

      await t.restart();
      await waitFor(() => alice.connectionState === 'connected' && bob.connectionState === 'connected', 10_000, 'reconnect');
      await alice.sync();
      await waitFor(() => bob.state.thread(offline) && bob.state.comment(reply), 3000, 'bob to see the offline writes');
      expect(states).toContain('connecting');
      const room = await t.api('GET', '/api/v1/rooms/restart/threads');
      expect(room.body.items.map((x: any) => x.id).sort()).toEqual([before, offline].sort());
      const comments = await t.api('GET', `/api/v1/threads/${before}/comments`);
      expect(comments.body.items.map((c: any) => c.body)).toEqual(['before restart', 'reply offline']);
      expect(alice.state.seq).toBe(bob.state.seq);
    }, 20_000);

    it('calls a token provider on every connect, surviving token expiry', async () => {
      let calls = 0;
      const alice = await client('alice', 'provider', {
        token: async () => {
          calls++;
          return mintToken(t, 'alice');
        },
      });
      expect(calls).toBe(1);
      await t.restart();
      await waitFor(() => alice.connectionState === 'connected' && calls === 2, 10_000);
    }, 20_000);
  });
});
