import { DEFAULT_ENV_CONFIG, LIMITS, PulseError } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../src/ids.ts';
import type { Store } from '../src/store/index.ts';
import type { ClaimedDelivery, NewKey, WebhookAttemptResult, WebhookOutcome } from '../src/store/types.ts';
import { FileLinks } from '../src/files/links.ts';
import { CHUNK_ROWS } from '../src/store/kysely/in-chunks.ts';

/** One suite, run against every Store driver: the invariants written on the Store interface. */
export function describeStoreConformance(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>) {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let n = 0;
    const at = (offsetMs = 0) => new Date(Date.UTC(2026, 0, 1) + offsetMs).toISOString();
    const key = (envId: string, kind: 'publishable' | 'secret'): NewKey => {
      const value = `${kind === 'secret' ? 'sk' : 'pk'}_${envId}_${++n}`;
      return { id: `key_${envId}_${n}`, kind, keyHash: hashKey(value), prefix: value.slice(0, 11), value: kind === 'publishable' ? value : null };
    };
    const env = async (id: string) => {
      await store.createEnvironment({ id, name: id, createdAt: at(), config: { ...DEFAULT_ENV_CONFIG } }, [key(id, 'publishable'), key(id, 'secret')]);
      await store.upsertUser(id, { externalId: 'alice', name: 'Alice', avatar: null }, at());
      await store.upsertUser(id, { externalId: 'bob', name: 'Bob', avatar: null }, at());
      return id;
    };
    // A webhook dispatcher's pass, one part at a time. Dispatching claims events and writes their
    // fresh deliveries as pending rows, as a node with no room to send them does.
    const dispatchEvents = async (limit: number, at: string, giveUpAfterMs: number) => {
      const pass = await store.webhookPass({ at, outcomes: [], eventsDone: [], dispatch: { limit, giveUpAfterMs, leaseUntil: at }, claim: null });
      const eventsDone = [...new Set(pass.claimed.map((d) => d.eventId))];
      await store.webhookPass({ at, outcomes: pass.claimed.map((delivery) => ({ delivery, result: null })), eventsDone, dispatch: null, claim: null });
      return pass.dispatched;
    };
    const claimDeliveries = async (at: string, leaseUntil: string, limits: { total: number; perEndpoint: number }, skipEndpoints: string[]) =>
      (await store.webhookPass({ at, outcomes: [], eventsDone: [], dispatch: null, claim: { leaseUntil, limits, skipEndpoints } })).claimed;
    const finishAttempt = async (delivery: ClaimedDelivery, result: WebhookAttemptResult) => ({
      endpointDisabled: (await store.webhookPass({ at: result.at, outcomes: [{ delivery, result }], eventsDone: [], dispatch: null, claim: null })).disabledEndpoints.length > 0,
    });
    const thread = (envId: string, id: string, roomId = 'room-1', t = 0) =>
      store.createThread(envId, { id, roomId, position: { x: 0.5, y: 0.25 }, createdBy: 'alice', createdAt: at(t) }, {
        id: `${id}-c1`,
        userId: 'alice',
        body: `first of ${id}`,
        mentions: ['bob'],
        createdAt: at(t),
      });

    /** A comment with its `comment.created` event in the outbox (by default Bob's, its id as its body). */
    const commentWithEvent = (envId: string, threadId: string, id: string, t: number, { userId = 'bob', body = id } = {}) =>
      store.createComment(envId, { id, threadId, userId, body, mentions: [], createdAt: at(t) }, {
        webhooks: [{ id: `msg_${id}`, type: 'comment.created', actor: { type: 'backend' }, occurredAt: at(t), subject: { kind: 'comment', id }, data: {}, links: new FileLinks() }],
      });

    beforeAll(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
      await store.migrate(); // idempotent
      await env('env_a');
      await env('env_b');
    });
    afterAll(async () => {
      try {
        await store.close();
      } finally {
        await cleanup();
      }
    });

    it('creates, lists, renames and counts environments', async () => {
      const list = await store.listEnvironments();
      expect(list.map((e) => e.id)).toEqual(['env_a', 'env_b']);
      expect(await store.renameEnvironment('env_a', 'Renamed')).toMatchObject({ id: 'env_a', name: 'Renamed' });
      expect(await store.renameEnvironment('env_missing', 'x')).toBeUndefined();
      expect(await store.countEnvironment('env_b')).toEqual({ rooms: 0, threads: 0, users: 2, comments: 0 });
    });

    it('keeps config per environment, merging patches over the stored values', async () => {
      expect(await store.getConfig('env_a')).toEqual(DEFAULT_ENV_CONFIG);
      const next = await store.updateConfig('env_a', { allowReactions: false, maxFileSizeMb: 25 });
      expect(next).toMatchObject({ allowReactions: false, maxFileSizeMb: 25, allowDrawing: true });
      expect(await store.getConfig('env_a')).toEqual(next);
      expect(await store.getConfig('env_b')).toEqual(DEFAULT_ENV_CONFIG);
      await expect(store.updateConfig('env_a', { maxFileSizeMb: -1 })).rejects.toThrow();
      expect(await store.getConfig('env_a')).toEqual(next);
      expect(await store.updateConfig('env_missing', {})).toBeUndefined();
      await store.updateConfig('env_a', DEFAULT_ENV_CONFIG);
    });

    it('finds keys by hash, revokes one, and rotates atomically', async () => {
      const keys = await store.listKeys('env_b');
      expect(keys).toHaveLength(2);
      const pk = keys.find((k) => k.kind === 'publishable')!;
      expect(await store.findKeyByHash(hashKey(pk.value!))).toMatchObject({ id: pk.id, environmentId: 'env_b', status: 'active' });
      expect(await store.revokeKey('env_a', pk.id, at())).toBeUndefined(); // other environment's key
      const revoked = await store.revokeKey('env_b', pk.id, at(5));
      expect(revoked).toMatchObject({ status: 'revoked', revokedAt: at(5) });
      const rotatedAway = await store.rotateKeys('env_b', [key('env_b', 'publishable'), key('env_b', 'secret')], at(10));
      expect(rotatedAway.map((k) => k.kind)).toEqual(['secret']); // the pk was already revoked
      const after = await store.listKeys('env_b');
      expect(after.filter((k) => k.status === 'active')).toHaveLength(2);
      expect(after).toHaveLength(4);
      expect(await store.findKey(pk.id)).toMatchObject({ status: 'revoked' });
    });

    it('appends and follows the control log', async () => {
      const before = await store.lastControlEventId();
      await store.appendControlEvent('env_a', 'config.updated', at());
      await store.appendControlEvent(null, 'test', at());
      const events = await store.controlEventsAfter(before, 10);
      expect(events.map((e) => [e.environmentId, e.kind])).toEqual([
        ['env_a', 'config.updated'],
        [null, 'test'],
      ]);
      expect(await store.lastControlEventId()).toBe(events[1]!.id);
    });

    it('upserts users, keeping their colour and creation date', async () => {
      const first = await store.upsertUser('env_a', { externalId: 'carol', name: 'Carol', avatar: null, color: '#123456' }, at(1));
      const again = await store.upsertUser('env_a', { externalId: 'carol', name: 'Carol C', avatar: 'https://x.test/a.png' }, at(2));
      expect(again).toEqual({ ...first, name: 'Carol C', avatar: 'https://x.test/a.png' });
      expect(first.id).toBe('env_a:carol');
      expect(await store.getUser('env_b', 'carol')).toBeUndefined();
      // Several in one read: those that exist, of this environment only.
      expect(await store.getUsers('env_a', ['carol', 'nobody'])).toEqual([again]);
      expect(await store.getUsers('env_b', ['carol'])).toEqual([]);
      // A rejoin with the same profile on a day already counted needs no write.
      const day = at(2).slice(0, 10);
      const same = { externalId: 'carol', name: 'Carol C', avatar: 'https://x.test/a.png' };
      expect(await store.unchangedUser('env_a', same, day)).toEqual(again);
      expect(await store.unchangedUser('env_a', { ...same, color: '#123456' }, day)).toEqual(again);
      expect(await store.unchangedUser('env_a', { ...same, name: 'Carol' }, day)).toBeUndefined();
      expect(await store.unchangedUser('env_a', { ...same, color: '#654321' }, day)).toBeUndefined();
      expect(await store.unchangedUser('env_a', { ...same, email: 'carol@x.test' }, day)).toBeUndefined();
      expect(await store.unchangedUser('env_a', same, '2099-01-01')).toBeUndefined(); // not counted that day yet
      expect(await store.unchangedUser('env_b', same, day)).toBeUndefined();
      const page1 = await store.listUsers('env_a', { limit: 2 });
      expect(page1.items).toHaveLength(2);
      expect(page1.nextCursor).not.toBeNull();
    });

    it('creates a thread with its first comment and bumps the room sequence', async () => {
      const created = await thread('env_a', 'th1');
      expect(created.value).toMatchObject({ id: 'th1', roomId: 'room-1', resolved: false, positionX: 0.5, positionY: 0.25 });
      expect(created.value.comments).toHaveLength(1);
      expect(created.value.comments[0]).toMatchObject({ id: 'th1-c1', userId: 'alice', mentions: ['bob'], editedAt: null });
      const second = await thread('env_a', 'th2', 'room-1', 1);
      expect(second.seq).toBe(created.seq + 1);
      expect((await store.getRoom('env_a', 'room-1'))!.seq).toBe(second.seq);
    });

    it("lists a thread's participants once each, in order, whatever the number of comments", async () => {
      const e = await env('env_people');
      await thread(e, 'th-people', 'room-people');
      await store.upsertUser(e, { externalId: 'carol', name: 'Carol', avatar: null }, at());
      const authors = ['bob', 'alice', 'bob', 'carol', 'bob', 'alice'];
      for (const [i, userId] of authors.entries()) {
        await store.createComment(e, { id: `th-people-r${i}`, threadId: 'th-people', userId, body: 'r', mentions: [], createdAt: at(i + 1) });
      }
      expect(await store.threadParticipants(e, 'th-people')).toEqual(['alice', 'bob', 'carol']);
      expect(await store.threadParticipants('env_a', 'th-people')).toEqual([]);
      expect(await store.threadParticipants(e, 'no-such-thread')).toEqual([]);
    });

    it("keeps a thread's participants up to date as comments come and go", async () => {
      const e = await env('env_people_2');
      await thread(e, 'th-moving', 'room-moving');
      for (const userId of ['dave', 'bob']) await store.upsertUser(e, { externalId: userId, name: userId, avatar: null }, at());
      expect(await store.threadParticipants(e, 'th-moving')).toEqual(['alice']);
      await store.createComment(e, { id: 'th-moving-d', threadId: 'th-moving', userId: 'dave', body: 'r', mentions: [], createdAt: at(1) });
      await store.createComment(e, { id: 'th-moving-b', threadId: 'th-moving', userId: 'bob', body: 'r', mentions: [], createdAt: at(2) });
      expect(await store.threadParticipants(e, 'th-moving')).toEqual(['alice', 'bob', 'dave']);
      // A refused comment adds nobody.
      await expect(store.createComment(e, { id: 'th-moving-d', threadId: 'th-moving', userId: 'carol', body: 'r', mentions: [], createdAt: at(3) })).rejects.toMatchObject({ code: 'already_exists' });
      await store.deleteComment(e, 'th-moving-d');
      expect(await store.threadParticipants(e, 'th-moving')).toEqual(['alice', 'bob']);
      await store.deleteThread(e, 'th-moving');
      expect(await store.threadParticipants(e, 'th-moving')).toEqual([]);
    });

    it('rejects a duplicate thread id without writing anything', async () => {
      const room = await store.getRoom('env_a', 'room-1');
      const counts = await store.countEnvironment('env_a');
      await expect(thread('env_a', 'th1')).rejects.toMatchObject({ code: 'already_exists' });
      expect(await store.countEnvironment('env_a')).toEqual(counts);
      expect((await store.getRoom('env_a', 'room-1'))!.seq).toBe(room!.seq);
    });

    it('scopes every object by environment', async () => {
      await thread('env_b', 'th1'); // the same client id in another environment is another thread
      expect((await store.getThreadWithComments('env_b', 'th1'))!.comments[0]!.body).toBe('first of th1');
      expect(await store.getThread('env_b', 'th2')).toBeUndefined();
      expect(await store.getComment('env_b', 'th2-c1')).toBeUndefined();
      expect(await store.commentRoom('env_b', 'th2-c1')).toBeUndefined();
      expect(await store.commentRoom('env_a', 'th2-c1')).toBe('room-1');
      await expect(
        store.createComment('env_b', { id: 'x1', threadId: 'th2', userId: 'bob', body: 'hi', mentions: [], createdAt: at() }),
      ).rejects.toMatchObject({ code: 'thread_not_found' });
      expect(await store.deleteComment('env_b', 'th2-c1')).toBeUndefined();
      expect(await store.deleteThread('env_b', 'th2')).toBeUndefined();
      expect(await store.setThreadResolved('env_b', 'th2', true, at())).toBeUndefined();
      expect(await store.updateComment('env_b', 'th2-c1', { body: 'x', mentions: [], preview: 'x' }, at())).toBeUndefined();
      await expect(
        store.addReaction('env_b', { id: 'r-x', commentId: 'th2-c1', userId: 'bob', emoji: '👍', createdAt: at() }),
      ).rejects.toMatchObject({ code: 'comment_not_found' });
      expect((await store.getThread('env_a', 'th2'))!.resolved).toBe(false);
      expect((await store.listRooms('env_b', { limit: 10 })).items.map((r) => r.environmentId)).toEqual(['env_b']);
    });

    it('adds, edits, pages and deletes comments', async () => {
      for (let i = 0; i < 5; i++) {
        await store.createComment('env_a', { id: `th2-r${i}`, threadId: 'th2', userId: 'bob', body: `reply ${i}`, mentions: [], createdAt: at(100 + i) });
      }
      await expect(
        store.createComment('env_a', { id: 'th2-r0', threadId: 'th2', userId: 'bob', body: 'dup', mentions: [], createdAt: at(200) }),
      ).rejects.toBeInstanceOf(PulseError);
      const p1 = await store.listComments('env_a', 'th2', { limit: 4 });
      expect(p1.items.map((c) => c.id)).toEqual(['th2-c1', 'th2-r0', 'th2-r1', 'th2-r2']);
      const p2 = await store.listComments('env_a', 'th2', { limit: 4, after: { createdAt: at(102), id: 'th2-r2' } });
      expect(p2.items.map((c) => c.id)).toEqual(['th2-r3', 'th2-r4']);
      expect(p2.nextCursor).toBeNull();
      const edited = await store.updateComment('env_a', 'th2-r0', { body: 'edited', mentions: ['alice'], preview: 'edited' }, at(300));
      expect(edited!.value).toMatchObject({ body: 'edited', mentions: ['alice'], editedAt: at(300) });
      const deleted = await store.deleteComment('env_a', 'th2-r4');
      expect(deleted!.value.threadDeleted).toBe(false);
    });

    it('keeps one reaction per user per emoji per comment', async () => {
      const a = await store.addReaction('env_a', { id: 'r1', commentId: 'th2-c1', userId: 'bob', emoji: '👍', createdAt: at() });
      const b = await store.addReaction('env_a', { id: 'r2', commentId: 'th2-c1', userId: 'bob', emoji: '👍', createdAt: at() });
      expect(a.value.created).toBe(true);
      expect(b.value).toEqual({ reaction: a.value.reaction, created: false });
      expect(b.seq).toBe(a.seq);
      await store.addReaction('env_a', { id: 'r3', commentId: 'th2-c1', userId: 'alice', emoji: '👍', createdAt: at(1) });
      expect((await store.getComment('env_a', 'th2-c1'))!.reactions.map((r) => r.id)).toEqual(['r1', 'r3']);
      expect((await store.deleteReaction('env_a', 'r3'))!.value.id).toBe('r3');
      expect(await store.deleteReaction('env_a', 'r3')).toBeUndefined();
      expect(await store.getReaction('env_a', 'r1')).toMatchObject({ targetId: 'th2-c1', targetType: 'comment' });
    });

    it('resolves, filters and returns a room with everything in it', async () => {
      await store.setThreadResolved('env_a', 'th1', true, at(400));
      const resolved = await store.listThreads('env_a', 'room-1', { resolved: true }, { limit: 10 });
      expect(resolved.items.map((t) => t.id)).toEqual(['th1']);
      const open = await store.listThreads('env_a', 'room-1', { resolved: false }, { limit: 10 });
      expect(open.items.map((t) => t.id)).toEqual(['th2']);
      const full = await store.listRoomThreadsWithComments('env_a', 'room-1');
      expect(full.map((t) => [t.id, t.comments.length])).toEqual([
        ['th1', 1],
        ['th2', 5],
      ]);
      expect(full[1]!.comments[0]!.reactions).toHaveLength(1);
    });

    it('deletes the thread with its last comment, and cascades reactions', async () => {
      const result = await store.deleteComment('env_a', 'th1-c1');
      expect(result!.value.threadDeleted).toBe(true);
      expect(await store.getThread('env_a', 'th1')).toBeUndefined();
      const gone = await store.deleteThread('env_a', 'th2');
      expect(gone!.value.id).toBe('th2');
      expect(await store.getReaction('env_a', 'r1')).toBeUndefined();
      expect(await store.getComment('env_a', 'th2-r0')).toBeUndefined();
      expect(await store.countEnvironment('env_a')).toMatchObject({ threads: 0, comments: 0, rooms: 1 });
      expect(await store.countEnvironment('env_b')).toMatchObject({ threads: 1, comments: 1 });
    });

    it('keeps the ids of deleted threads and comments taken, remembering room, thread and author', async () => {
      // From the test above: th1-c1 deleted (and th1 with it), th2 deleted with its comments.
      expect(await store.deletedId('env_a', 'comment', 'th1-c1')).toEqual({ roomId: 'room-1', threadId: 'th1', userId: 'alice' });
      expect(await store.deletedId('env_a', 'thread', 'th1')).toEqual({ roomId: 'room-1', threadId: null, userId: 'alice' });
      expect(await store.threadOwner('env_a', 'th1')).toBeUndefined();
      expect(await store.threadOwner('env_b', 'th1')).toEqual({ roomId: 'room-1', userId: 'alice' });
      expect(await store.commentOwner('env_b', 'th1-c1')).toEqual({ threadId: 'th1', roomId: 'room-1', userId: 'alice' });
      expect(await store.commentOwner('env_a', 'th1-c1')).toBeUndefined();
      expect(await store.deletedId('env_a', 'thread', 'th2')).toEqual({ roomId: 'room-1', threadId: null, userId: 'alice' });
      expect(await store.deletedId('env_a', 'comment', 'th2-r0')).toEqual({ roomId: 'room-1', threadId: 'th2', userId: 'bob' });
      expect(await store.deletedId('env_a', 'comment', 'th2-r4')).toEqual({ roomId: 'room-1', threadId: 'th2', userId: 'bob' });
      expect(await store.deletedId('env_b', 'thread', 'th1')).toBeUndefined(); // env_b's th1 lives
      expect(await store.deletedId('env_a', 'stroke', 'th1')).toBeUndefined();
      const room = await store.getRoom('env_a', 'room-1');
      await expect(thread('env_a', 'th1')).rejects.toMatchObject({ code: 'already_exists' });
      await thread('env_a', 'th-fresh');
      await expect(
        store.createComment('env_a', { id: 'th2-r0', threadId: 'th-fresh', userId: 'bob', body: 'replayed', mentions: [], createdAt: at(600) }),
      ).rejects.toMatchObject({ code: 'already_exists' });
      await expect(
        store.createThread('env_a', { id: 'th-other', roomId: 'room-1', position: null, createdBy: 'bob', createdAt: at(601) }, { id: 'th2-r1', userId: 'bob', body: 'x', mentions: [], createdAt: at(601) }),
      ).rejects.toMatchObject({ code: 'already_exists' });
      expect(await store.getThread('env_a', 'th-other')).toBeUndefined();
      expect((await store.getRoom('env_a', 'room-1'))!.seq).toBe(room!.seq + 1); // th-fresh only
      expect((await store.getThreadWithComments('env_a', 'th-fresh'))!.comments.map((c) => c.id)).toEqual(['th-fresh-c1']);
      await store.deleteThread('env_a', 'th-fresh');
    });

    it('pages rooms in creation order with a cursor', async () => {
      for (let i = 0; i < 3; i++) await store.ensureRoom('env_a', `page-room-${i}`, at(1000 + i));
      await store.ensureRoom('env_a', 'page-room-0', at(5000)); // idempotent, keeps its creation date
      const first = await store.listRooms('env_a', { limit: 2 });
      expect(first.items.map((r) => r.id)).toEqual(['room-1', 'page-room-0']);
      const last = first.items[1]!;
      const second = await store.listRooms('env_a', { limit: 2, after: { createdAt: last.createdAt, id: last.id } });
      expect(second.items.map((r) => r.id)).toEqual(['page-room-1', 'page-room-2']);
    });

    it('writes activity and notifications in the same transaction as the change', async () => {
      const effects = {
        activity: { id: 'act-1', roomId: 'fx-room', userId: 'alice', kind: 'thread.created' as const, threadId: 'fx', commentId: 'fx-c1', preview: 'p', createdAt: at(1) },
        notifications: [
          { id: 'ntf-1', userId: 'bob', kind: 'mention' as const, roomId: '', threadId: 'fx', commentId: 'fx-c1', actorId: 'alice', preview: 'p', createdAt: at(1) },
        ],
      };
      const result = await store.createThread('env_b', { id: 'fx', roomId: 'fx-room', position: null, createdBy: 'alice', createdAt: at(1) }, {
        id: 'fx-c1', userId: 'alice', body: 'p', mentions: ['bob'], createdAt: at(1),
      }, effects);
      expect(result.activity).toMatchObject({ id: 'act-1', roomId: 'fx-room', kind: 'thread.created' });
      expect(result.notifications).toEqual([expect.objectContaining({ id: 'ntf-1', userId: 'bob', roomId: 'fx-room', read: false })]);
      expect(await store.listActivity('env_b', 'fx-room', 10)).toHaveLength(1);
      expect(await store.listActivity('env_a', 'fx-room', 10)).toHaveLength(0);
      // A failing change writes none of its effects.
      await expect(store.createThread('env_b', { id: 'fx', roomId: 'fx-room', position: null, createdBy: 'alice', createdAt: at(2) }, {
        id: 'fx-c2', userId: 'alice', body: 'p', mentions: [], createdAt: at(2),
      }, { ...effects, activity: { ...effects.activity, id: 'act-2' } })).rejects.toMatchObject({ code: 'already_exists' });
      expect(await store.listActivity('env_b', 'fx-room', 10)).toHaveLength(1);
      expect(await store.threadParticipants('env_b', 'fx')).toEqual(['alice']);
    });

    it('keeps notifications per user with read state', async () => {
      const list = await store.listNotifications('env_b', 'bob', 10);
      expect(list).toEqual([expect.objectContaining({ id: 'ntf-1', read: false })]);
      expect(await store.listNotifications('env_a', 'bob', 10)).toEqual([]);
      expect(await store.markNotificationsRead('env_a', 'bob', 'all', at(5))).toEqual([]);
      expect(await store.markNotificationsRead('env_b', 'alice', ['ntf-1'], at(5))).toEqual([]); // not hers
      expect(await store.markNotificationsRead('env_b', 'bob', ['ntf-1'], at(5))).toEqual(['ntf-1']);
      expect(await store.markNotificationsRead('env_b', 'bob', 'all', at(6))).toEqual([]);
      expect((await store.listNotifications('env_b', 'bob', 10))[0]!.read).toBe(true);
      // Deleting the comment removes its notifications.
      await store.deleteThread('env_b', 'fx');
      expect(await store.listNotifications('env_b', 'bob', 10)).toEqual([]);
    });

    it('keeps a thread in creation order when comments arrive within one millisecond', async () => {
      const same = at(5_000);
      await store.createThread('env_a', { id: 'ms-thread', roomId: 'ms-room', position: null, createdBy: 'alice', createdAt: same }, {
        id: 'zz-first',
        userId: 'alice',
        body: 'first',
        mentions: [],
        createdAt: same,
      });
      // Ids that sort before the first comment's, all stamped with the same millisecond.
      for (const [i, id] of ['aa', 'ab', 'ac'].entries()) {
        await store.createComment('env_a', { id, threadId: 'ms-thread', userId: 'bob', body: `reply ${i}`, mentions: [], createdAt: same });
      }
      // An edit and a resolve made in that millisecond (the replies' times ran ahead of the clock)
      // do not set the thread's time back: the next reply still comes last.
      await store.updateComment('env_a', 'ab', { body: 'reply 1', mentions: [], preview: 'reply 1' }, same);
      await store.setThreadResolved('env_a', 'ms-thread', true, same);
      await store.createComment('env_a', { id: 'ad', threadId: 'ms-thread', userId: 'bob', body: 'reply 3', mentions: [], createdAt: same });
      const inOrder = ['first', 'reply 0', 'reply 1', 'reply 2', 'reply 3'];
      const thread = await store.getThreadWithComments('env_a', 'ms-thread');
      expect(thread!.comments.map((c) => c.body)).toEqual(inOrder);
      expect(new Set(thread!.comments.map((c) => c.createdAt)).size).toBe(inOrder.length);
      const listed = await store.listComments('env_a', 'ms-thread', { limit: 10 });
      expect(listed.items.map((c) => c.body)).toEqual(inOrder);
    });

    it('commits writes that arrive together in one batch, failing only those that fail', async () => {
      await thread('env_a', 'gc', 'gc-room');
      const seq = async () => (await store.getRoom('env_a', 'gc-room'))!.seq;
      const reply = (id: string, threadId = 'gc', actId?: string) =>
        store.createComment('env_a', { id, threadId, userId: 'bob', body: id, mentions: [], createdAt: at(50) }, actId ? {
          activity: { id: actId, roomId: '', userId: 'bob', kind: 'comment.created', threadId, commentId: id, preview: id, createdAt: at(50) },
        } : undefined);
      const start = await seq();
      // All succeed: one transaction.
      const ok = await Promise.all([reply('gc-a'), reply('gc-b'), reply('gc-c', 'gc', 'gc-act-c')]);
      expect(ok.map((r) => r.seq)).toEqual([start + 1, start + 2, start + 3]);
      // Two of five fail: their neighbours commit, in order, and the failures leave nothing behind.
      const mixed = await Promise.allSettled([
        reply('gc-d'),
        reply('gc-a'), // a duplicate id
        reply('gc-e', 'no-such-thread', 'gc-act-e'),
        reply('gc-f', 'gc', 'gc-act-f'),
        store.addReaction('env_a', { id: 'gc-rx', commentId: 'gc-d', userId: 'alice', emoji: '👍', createdAt: at(51) }),
      ]);
      expect(mixed.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code))).toEqual(['ok', 'already_exists', 'thread_not_found', 'ok', 'ok']);
      expect(await seq()).toBe(start + 6);
      const comments = (await store.getThreadWithComments('env_a', 'gc'))!.comments;
      expect(comments.map((c) => c.id)).toEqual(['gc-c1', 'gc-a', 'gc-b', 'gc-c', 'gc-d', 'gc-f']);
      expect(comments[4]!.reactions.map((r) => r.id)).toEqual(['gc-rx']);
      expect((await store.listActivity('env_a', 'gc-room', 10)).map((a) => a.id)).toEqual(['gc-act-c', 'gc-act-f']);
    });

    it('runs a batch of writes in several rooms: each room in arrival order, dependent writes see the ones before', async () => {
      const threadIn = (room: string, id: string) =>
        store.createThread('env_a', { id, roomId: room, position: null, createdBy: 'alice', createdAt: at(60) }, {
          id: `${id}-c1`, userId: 'alice', body: 'first', mentions: [], createdAt: at(60),
        });
      const replyIn = (room: string, threadId: string, id: string) =>
        store.createComment('env_a', { id, threadId, roomId: room, userId: 'bob', body: id, mentions: [], createdAt: at(61) });
      const stroke = (id: string) => ({ id, userId: 'alice', points: [[0.1, 0.2]] as [number, number][], color: '#000000', width: 2, createdAt: at(61) });
      // One batch: each reply depends on the thread created just before it, in its room; the
      // user upsert (no room) comes between; a stroke joins room Y's writes.
      const results = await Promise.all([
        threadIn('rk-x', 'rk-tx'),
        threadIn('rk-y', 'rk-ty'),
        replyIn('rk-x', 'rk-tx', 'rk-x1'),
        replyIn('rk-y', 'rk-ty', 'rk-y1'),
        store.upsertUser('env_a', { externalId: 'erin', name: 'Erin', avatar: null }, at(61)),
        replyIn('rk-x', 'rk-tx', 'rk-x2'),
        store.addStroke('env_a', 'rk-y', stroke('rk-s1'), { maxStrokes: 10, maxBytes: 10_000 }),
        replyIn('rk-y', 'rk-ty', 'rk-y2'),
      ]);
      const seqs = results.map((r) => ('seq' in r ? r.seq : null));
      // Per room, sequence numbers follow arrival order (the thread's room is created with it).
      expect([seqs[0], seqs[2], seqs[5]]).toEqual([seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
      expect([seqs[1], seqs[3], seqs[6], seqs[7]]).toEqual([seqs[1], seqs[1]! + 1, seqs[1]! + 2, seqs[1]! + 3]);
      expect((await store.getThreadWithComments('env_a', 'rk-tx'))!.comments.map((c) => c.id)).toEqual(['rk-tx-c1', 'rk-x1', 'rk-x2']);
      expect((await store.getThreadWithComments('env_a', 'rk-ty'))!.comments.map((c) => c.id)).toEqual(['rk-ty-c1', 'rk-y1', 'rk-y2']);
      expect((await store.getRoom('env_a', 'rk-y'))!.seq).toBe(seqs[7]);
      // One failure in room X: room Y's writes and X's others commit, the failing one leaves nothing.
      const mixed = await Promise.allSettled([
        replyIn('rk-x', 'rk-tx', 'rk-x3'),
        replyIn('rk-y', 'rk-ty', 'rk-y3'),
        replyIn('rk-x', 'rk-tx', 'rk-x1'), // a duplicate id
        replyIn('rk-y', 'rk-ty', 'rk-y4'),
        replyIn('rk-x', 'rk-tx', 'rk-x4'),
      ]);
      expect(mixed.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code))).toEqual(['ok', 'ok', 'already_exists', 'ok', 'ok']);
      expect((await store.getThreadWithComments('env_a', 'rk-tx'))!.comments.map((c) => c.id)).toEqual(['rk-tx-c1', 'rk-x1', 'rk-x2', 'rk-x3', 'rk-x4']);
      expect((await store.getThreadWithComments('env_a', 'rk-ty'))!.comments.map((c) => c.id)).toEqual(['rk-ty-c1', 'rk-y1', 'rk-y2', 'rk-y3', 'rk-y4']);
      expect((await store.getRoom('env_a', 'rk-x'))!.seq).toBe(seqs[5]! + 2);
    });

    it('writes every notification of a reply that mentions many users', async () => {
      await store.createThread('env_a', { id: 'fx-many', roomId: 'fx-many-room', position: null, createdBy: 'alice', createdAt: at(10) }, {
        id: 'fx-many-c1', userId: 'alice', body: 'first', mentions: [], createdAt: at(10),
      });
      const users = Array.from({ length: 70 }, (_, i) => `many-${String(i).padStart(2, '0')}`);
      const notifications = users.map((userId, i) => ({ id: `ntf-many-${i}`, userId, kind: 'mention' as const, roomId: '', threadId: 'fx-many', commentId: 'fx-many-c2', actorId: 'bob', preview: 'p', createdAt: at(11) }));
      const reply = await store.createComment('env_a', { id: 'fx-many-c2', threadId: 'fx-many', userId: 'bob', body: 'all of you', mentions: users, createdAt: at(11) }, { notifications });
      expect(reply.notifications).toHaveLength(70);
      for (const userId of [users[0]!, users[32]!, users[69]!]) {
        expect(await store.listNotifications('env_a', userId, 10)).toEqual([expect.objectContaining({ commentId: 'fx-many-c2', kind: 'mention' })]);
      }
    });

    it('writes a reply with its activity and several notifications, and refuses one to a thread of another room', async () => {
      await store.createThread('env_a', { id: 'fx-reply', roomId: 'fx-reply-room', position: null, createdBy: 'alice', createdAt: at(10) }, {
        id: 'fx-reply-c1', userId: 'alice', body: 'first', mentions: [], createdAt: at(10),
      });
      const note = (id: string, userId: string) => ({ id, userId, kind: 'reply' as const, roomId: '', threadId: 'fx-reply', commentId: 'fx-reply-c2', actorId: 'bob', preview: 'p', createdAt: at(11) });
      const before = (await store.getRoom('env_a', 'fx-reply-room'))!.seq;
      const reply = await store.createComment('env_a', { id: 'fx-reply-c2', threadId: 'fx-reply', roomId: 'fx-reply-room', userId: 'bob', body: 'second', mentions: [], createdAt: at(11) }, {
        activity: { id: 'act-reply', roomId: '', userId: 'bob', kind: 'comment.created', threadId: 'fx-reply', commentId: 'fx-reply-c2', preview: 'p', createdAt: at(11) },
        notifications: [note('ntf-r1', 'alice'), note('ntf-r2', 'carol'), note('ntf-r3', 'dave')],
      });
      expect(reply.seq).toBe(before + 1);
      expect(reply.activity).toMatchObject({ id: 'act-reply', roomId: 'fx-reply-room', commentId: 'fx-reply-c2' });
      expect((reply.notifications ?? []).map((n) => [n.id, n.userId, n.roomId])).toEqual([
        ['ntf-r1', 'alice', 'fx-reply-room'],
        ['ntf-r2', 'carol', 'fx-reply-room'],
        ['ntf-r3', 'dave', 'fx-reply-room'],
      ]);
      expect((await store.listActivity('env_a', 'fx-reply-room', 10)).map((a) => a.id)).toEqual(['act-reply']);
      expect((await store.listNotifications('env_a', 'dave', 10))[0]).toMatchObject({ id: 'ntf-r3', commentId: 'fx-reply-c2', read: false });
      // The thread is in another room: nothing is written, not even its effects.
      await expect(
        store.createComment('env_a', { id: 'fx-reply-c3', threadId: 'fx-reply', roomId: 'room-1', userId: 'bob', body: 'x', mentions: [], createdAt: at(12) }, {
          activity: { id: 'act-reply-2', roomId: '', userId: 'bob', kind: 'comment.created', threadId: 'fx-reply', commentId: 'fx-reply-c3', preview: 'x', createdAt: at(12) },
        }),
      ).rejects.toMatchObject({ code: 'thread_not_found' });
      expect((await store.getRoom('env_a', 'fx-reply-room'))!.seq).toBe(before + 1);
      expect((await store.getThread('env_a', 'fx-reply'))!.updatedAt).toBe(at(11));
      expect(await store.listActivity('env_a', 'room-1', 10)).toEqual(expect.not.arrayContaining([expect.objectContaining({ id: 'act-reply-2' })]));
      // A deleted comment takes its notifications along, and so does a deleted thread (every comment's).
      const mention = { id: 'ntf-r4', userId: 'dave', kind: 'mention' as const, roomId: '', threadId: 'fx-reply', commentId: 'fx-reply-c1', actorId: 'alice', preview: 'p', createdAt: at(13) };
      await store.updateComment('env_a', 'fx-reply-c1', { body: 'first @dave', mentions: ['dave'], preview: 'first @dave' }, at(13), { notifications: [mention] });
      expect((await store.listNotifications('env_a', 'dave', 10)).map((n) => n.id).sort()).toEqual(['ntf-r3', 'ntf-r4']);
      // An edit brings the previews of the comment's notifications up to date, and only theirs.
      const edited = { id: 'act-edit-1', roomId: '', userId: 'alice', kind: 'comment.edited' as const, threadId: 'fx-reply', commentId: 'fx-reply-c1', preview: 'first, edited', createdAt: at(14) };
      await store.updateComment('env_a', 'fx-reply-c1', { body: 'first, edited', mentions: ['dave'], preview: 'first, edited' }, at(14), { activity: edited });
      const previews = Object.fromEntries((await store.listNotifications('env_a', 'dave', 10)).map((n) => [n.id, n.preview]));
      expect(previews['ntf-r4']).toBe('first, edited');
      expect(previews['ntf-r3']).not.toBe('first, edited');
      // The feed too: an edit rewrites the comment's earlier entries; a deletion blanks them.
      await store.updateComment('env_a', 'fx-reply-c1', { body: '[removed]', mentions: [], preview: '[removed]' }, at(15));
      const feed = async () => Object.fromEntries((await store.listActivity('env_a', 'fx-reply-room', 10)).map((a) => [a.id, a.preview]));
      expect(await feed()).toEqual({ 'act-reply': 'p', 'act-edit-1': '[removed]' });
      await store.deleteComment('env_a', 'fx-reply-c2');
      expect(await feed()).toEqual({ 'act-reply': null, 'act-edit-1': '[removed]' });
      expect((await store.listNotifications('env_a', 'alice', 10)).map((n) => n.id)).not.toContain('ntf-r1');
      expect((await store.listNotifications('env_a', 'dave', 10)).map((n) => n.id)).toEqual(['ntf-r4']);
      await store.deleteThread('env_a', 'fx-reply');
      expect(await store.listNotifications('env_a', 'dave', 10)).toEqual([]);
      expect(await feed()).toEqual({ 'act-reply': null, 'act-edit-1': null });
    });

    it('keeps a drawing per room, capped, and clears it', async () => {
      const stroke = (id: string, t: number) => ({ id, userId: 'alice', points: [[0.1, 0.2], [0.3, 0.4]] as [number, number][], color: '#000000', width: 2, createdAt: at(t) });
      const limits = { maxStrokes: 2, maxBytes: 1000 };
      const first = await store.addStroke('env_a', 'draw-room', stroke('s1', 1), limits);
      await store.addStroke('env_a', 'draw-room', stroke('s2', 2), limits);
      const third = await store.addStroke('env_a', 'draw-room', stroke('s3', 3), limits);
      expect(third.seq).toBe(first.seq + 2);
      expect((await store.listStrokes('env_a', 'draw-room')).map((s) => s.id)).toEqual(['s2', 's3']); // oldest dropped
      expect((await store.listStrokes('env_a', 'draw-room'))[0]!.points).toEqual([[0.1, 0.2], [0.3, 0.4]]);
      expect(await store.listStrokes('env_b', 'draw-room')).toEqual([]);
      const cleared = await store.clearDrawing('env_a', 'draw-room');
      expect(cleared.value).toBe(2);
      expect(cleared.seq).toBe(third.seq + 1);
      expect(await store.listStrokes('env_a', 'draw-room')).toEqual([]);
    });

    it('keeps the ids of cleared strokes taken, and answers a retry before the size check', async () => {
      const stroke = (id: string, userId = 'alice') => ({ id, userId, points: [[0.1, 0.2]] as [number, number][], color: '#000000', width: 2, createdAt: at() });
      const limits = { maxStrokes: 1, maxBytes: 1000 };
      await store.addStroke('env_a', 'gone-room', stroke('g1'), limits);
      await store.addStroke('env_a', 'gone-room', stroke('g2', 'bob'), limits); // drops g1: nobody deleted it
      await store.clearDrawing('env_a', 'gone-room'); // clears g2
      expect(await store.deletedId('env_a', 'stroke', 'g1')).toBeUndefined();
      expect(await store.deletedId('env_a', 'stroke', 'g2')).toEqual({ roomId: 'gone-room', threadId: null, userId: 'bob' });
      await expect(store.addStroke('env_a', 'gone-room', stroke('g2', 'bob'), limits)).rejects.toMatchObject({ code: 'already_exists' });
      expect(await store.listStrokes('env_a', 'gone-room')).toEqual([]);
      // A full drawing still tells a retry (its id is taken) apart from a new stroke.
      const full = { maxStrokes: 10, maxBytes: JSON.stringify([[0.1, 0.2]]).length };
      await store.addStroke('env_a', 'gone-room', stroke('g3'), full);
      await expect(store.addStroke('env_a', 'gone-room', stroke('g4'), full)).rejects.toMatchObject({ code: 'drawing_full' });
      await expect(store.addStroke('env_a', 'gone-room', stroke('g3'), full)).rejects.toMatchObject({ code: 'already_exists' });
      await expect(store.addStroke('env_a', 'gone-room', stroke('g2', 'bob'), full)).rejects.toMatchObject({ code: 'already_exists' });
      await store.addStroke('env_b', 'gone-room', stroke('g2'), limits); // another environment's ids are its own
    });

    it('bounds what a room holds: past roomContentBytes threads, replies, reactions and longer edits are refused until some are deleted', async () => {
      const e = 'env_a';
      const room = 'full-room';
      const full = { code: 'room_content_full' };
      const big = `${'"'.repeat(100)}${'x'.repeat(LIMITS.commentBodyLength - 100)}`; // quotes count twice, escaped
      const newThread = (id: string, body: string, roomId = room) =>
        store.createThread(e, { id, roomId, position: { x: 0.5, y: 0.5 }, createdBy: 'alice', createdAt: at() }, { id: `${id}-c1`, userId: 'alice', body, mentions: [], createdAt: at() });
      const reply = (id: string, body: string) => store.createComment(e, { id, threadId: 'full-0', userId: 'bob', body, mentions: ['alice'], createdAt: at() });
      const fill = async (make: (i: number) => Promise<unknown>) => {
        for (let i = 0; i < 2000; i++) {
          try {
            await make(i);
          } catch (err) {
            expect(err).toMatchObject(full);
            return i;
          }
        }
        throw new Error('the room never filled up');
      };
      const threads = await fill((i) => newThread(`full-${i}`, big));
      expect(threads).toBeGreaterThan(150);
      expect(await store.getThread(e, `full-${threads}`)).toBeUndefined(); // the refused one left nothing
      const replies = await fill((i) => reply(`full-r${i}`, 'ok'));
      await expect(reply('full-late', 'ok')).rejects.toMatchObject(full);
      expect(await store.getComment(e, 'full-late')).toBeUndefined();
      await expect(store.addReaction(e, { id: 'full-rx', commentId: 'full-0-c1', userId: 'bob', emoji: '👍', createdAt: at() })).rejects.toMatchObject(full);
      await expect(store.updateComment(e, 'full-r0', { body: 'a much longer reply than before', mentions: [], preview: 'x' }, at())).rejects.toMatchObject(full);
      expect((await store.getComment(e, 'full-r0'))?.body).toBe('ok');
      // Every joiner receives this: it stays within the limit.
      const state = JSON.stringify(await store.listRoomThreadsWithComments(e, room));
      expect(Buffer.byteLength(state)).toBeLessThanOrEqual(LIMITS.roomContentBytes);
      expect(Buffer.byteLength(state)).toBeGreaterThan(LIMITS.roomContentBytes * 0.8);
      // Shorter edits and deletions are always taken, and make room.
      await store.updateComment(e, 'full-1-c1', { body: 'short now', mentions: [], preview: 'short now' }, at());
      await reply(`full-r${replies}`, 'ok');
      await store.deleteThread(e, 'full-2');
      await newThread('full-again', big);
      await newThread('elsewhere', big, 'other-room'); // another room has its own budget
      expect(replies).toBeGreaterThan(0);
      // A reply's attachments count, although they are attached after the reply is written.
      const small = await fill((i) => reply(`full-z${i}`, 'ok'));
      for (let i = 0; i < Math.min(small, 4); i++) await store.deleteComment(e, `full-z${i}`);
      const files = await Promise.all(
        [0, 1, 2, 3, 4].map((i) =>
          store.createAttachment(e, { id: `full-f${i}`, userId: 'bob', type: 'image', filename: 'a.png', mimeType: 'image/png', sizeBytes: 1, hasThumbnail: false, createdAt: at() }),
        ),
      );
      const withFiles = { id: 'full-files', threadId: 'full-0', userId: 'bob', body: 'ok', mentions: [], createdAt: at() };
      await expect(store.createComment(e, withFiles, { attach: { ids: files.map((f) => f.id), userId: 'bob' } })).rejects.toMatchObject(full);
      await store.createComment(e, withFiles); // without them it fits
    });

    it("counts a user's uploads not attached to a comment, and their bytes", async () => {
      const e = await env('env_pending');
      const upload = (id: string, userId: string, sizeBytes: number) =>
        store.createAttachment(e, { id, userId, type: 'image', filename: 'a.png', mimeType: 'image/png', sizeBytes, hasThumbnail: false, createdAt: at() });
      expect(await store.pendingUploads(e, 'alice')).toEqual({ count: 0, bytes: 0 });
      await upload('pu-1', 'alice', 1000);
      await upload('pu-2', 'alice', 2500);
      await upload('pu-3', 'bob', 7);
      expect(await store.pendingUploads(e, 'alice')).toEqual({ count: 2, bytes: 3500 });
      await thread(e, 'pu-t');
      await store.createComment(e, { id: 'pu-c', threadId: 'pu-t', userId: 'alice', body: 'with a file', mentions: [], createdAt: at() }, { attach: { ids: ['pu-1'], userId: 'alice' } });
      expect(await store.pendingUploads(e, 'alice')).toEqual({ count: 1, bytes: 2500 });
      expect(await store.pendingUploads('env_a', 'alice')).toEqual({ count: 0, bytes: 0 });
    });

    it('refuses strokes past the drawing size cap, frees room when strokes are dropped or cleared', async () => {
      const points = [[0.1, 0.2], [0.3, 0.4]] as [number, number][];
      const size = JSON.stringify(points).length;
      const stroke = (id: string, t: number) => ({ id, userId: 'alice', points, color: '#000000', width: 2, createdAt: at(t) });
      const limits = { maxStrokes: 100, maxBytes: size * 2 };
      await store.addStroke('env_a', 'cap-room', stroke('c1', 1), limits);
      await store.addStroke('env_a', 'cap-room', stroke('c2', 2), limits);
      await expect(store.addStroke('env_a', 'cap-room', stroke('c3', 3), limits)).rejects.toMatchObject({ code: 'drawing_full' });
      expect((await store.listStrokes('env_a', 'cap-room')).map((s) => s.id)).toEqual(['c1', 'c2']);
      await store.clearDrawing('env_a', 'cap-room');
      await store.addStroke('env_a', 'cap-room', stroke('c6', 6), limits);
      await store.addStroke('env_a', 'cap-room', stroke('c7', 7), limits);
      // Dropping the oldest (count cap) gives its bytes back.
      const one = { maxStrokes: 1, maxBytes: size * 2 };
      for (const [i, id] of ['d1', 'd2', 'd3', 'd4'].entries()) await store.addStroke('env_a', 'drop-room', stroke(id, i), one);
      expect((await store.listStrokes('env_a', 'drop-room')).map((s) => s.id)).toEqual(['d4']);
      expect((await store.getStroke('env_a', 'c7'))?.roomId).toBe('cap-room');
      expect(await store.getStroke('env_b', 'c7')).toBeUndefined();
    });

    it('creates the first admin once, however many ask at the same time', async () => {
      expect(await store.countAdmins()).toBe(0);
      const first = (n: number) => ({ id: `adm_first${n}`, email: `first${n}@x.test`, name: 'F', role: 'admin' as const, passwordHash: 'h', createdAt: at() });
      const created = await Promise.all([0, 1, 2, 3, 4, 5].map((n) => store.createFirstAdmin(first(n))));
      expect(created.filter(Boolean)).toHaveLength(1);
      expect(await store.countAdmins()).toBe(1);
      expect(await store.createFirstAdmin(first(9))).toBe(false);
      expect(await store.deleteAdmin(`adm_first${created.indexOf(true)}`)).toBe(true);
    });

    it('stores admins with unique emails', async () => {
      const admin = { id: 'adm_1', email: 'a@x.test', name: 'A', role: 'admin' as const, passwordHash: 'h', createdAt: at() };
      await store.createAdmin(admin);
      await expect(store.createAdmin({ ...admin, id: 'adm_2' })).rejects.toThrow();
      expect(await store.findAdminByEmail('a@x.test')).toEqual(admin);
      expect(await store.countAdmins()).toBe(1);
    });

    // ------------------------------------------------------------------ admin panel

    it('changes roles and removes admins together with their sessions', async () => {
      const member = { id: 'adm_m', email: 'm@x.test', name: 'M', role: 'member' as const, passwordHash: 'h', createdAt: at(1) };
      await store.createAdmin(member);
      await expect(store.createAdmin({ ...member, id: 'adm_m2' })).rejects.toMatchObject({ code: 'already_exists' });
      expect((await store.listAdmins()).map((a) => a.id)).toEqual(['adm_1', 'adm_m']);
      expect(await store.getAdmin('adm_m')).toEqual(member);
      expect(await store.getAdmin('adm_missing')).toBeUndefined();
      expect(await store.updateAdminRole('adm_m', 'admin')).toEqual({ ...member, role: 'admin' });
      expect(await store.updateAdminRole('adm_missing', 'admin')).toBeUndefined();
      await store.createAdminSession({ id: 'sess_m', adminId: 'adm_m', csrfToken: 'c', createdAt: at(), expiresAt: at(60_000) });
      expect(await store.deleteAdmin('adm_m')).toBe(true);
      expect(await store.deleteAdmin('adm_m')).toBe(false);
      expect(await store.findAdminSession('sess_m', at())).toBeUndefined();
      expect(await store.countAdmins()).toBe(1);
    });

    it('keeps admin sessions until they expire, reading the account as it is now', async () => {
      const session = { id: 'sess_1', adminId: 'adm_1', csrfToken: 'csrf-1', createdAt: at(), expiresAt: at(60_000) };
      await store.createAdminSession(session);
      await store.createAdminSession({ ...session, id: 'sess_old', expiresAt: at(10) });
      const found = await store.findAdminSession('sess_1', at(1000));
      expect(found).toEqual({ session, admin: expect.objectContaining({ id: 'adm_1', role: 'admin' }) });
      await store.updateAdminRole('adm_1', 'member');
      expect((await store.findAdminSession('sess_1', at(1000)))!.admin.role).toBe('member');
      await store.updateAdminRole('adm_1', 'admin');
      expect(await store.findAdminSession('sess_1', at(60_000))).toBeUndefined(); // expired at that instant
      expect(await store.findAdminSession('sess_missing', at())).toBeUndefined();
      expect(await store.deleteExpiredAdminSessions(at(1000))).toBe(1); // sess_old only
      expect(await store.findAdminSession('sess_1', at(1000))).toBeDefined();
      await store.deleteAdminSession('sess_1');
      expect(await store.findAdminSession('sess_1', at(1000))).toBeUndefined();
    });

    it('counts login failures per key within a window', async () => {
      await store.recordLoginFailure('email:a@x.test', at(1000));
      await store.recordLoginFailure('email:a@x.test', at(2000));
      await store.recordLoginFailure('ip:127.0.0.1', at(2000));
      expect(await store.loginFailures('email:a@x.test', at(0))).toEqual({ count: 2, oldest: at(1000) });
      expect(await store.loginFailures('email:a@x.test', at(1500))).toEqual({ count: 1, oldest: at(2000) });
      expect(await store.loginFailures('email:b@x.test', at(0))).toEqual({ count: 0, oldest: null });
      await store.clearLoginFailures('email:a@x.test');
      expect((await store.loginFailures('email:a@x.test', at(0))).count).toBe(0);
      expect((await store.loginFailures('ip:127.0.0.1', at(0))).count).toBe(1);
      await store.pruneLoginFailures(at(3000));
      expect((await store.loginFailures('ip:127.0.0.1', at(0))).count).toBe(0);
    });

    it('lists audit entries per environment, newest first, paged', async () => {
      const entry = (id: string, envId: string | null, t: number) => ({
        id, environmentId: envId, actorId: 'adm_1', actorName: 'A', actorEmail: 'a@x.test', action: 'config.updated', detail: `change ${id}`, createdAt: at(t),
      });
      for (let i = 0; i < 5; i++) await store.appendAudit(entry(`aud_a${i}`, 'env_a', i));
      await store.appendAudit(entry('aud_b0', 'env_b', 0));
      await store.appendAudit({ ...entry('aud_team', null, 0), actorId: null, actorName: 'CLI', actorEmail: null });
      const first = await store.listAudit('env_a', { offset: 0, limit: 2 });
      expect(first).toEqual({ items: [entry('aud_a4', 'env_a', 4), entry('aud_a3', 'env_a', 3)], total: 5 });
      expect((await store.listAudit('env_a', { offset: 4, limit: 2 })).items.map((e) => e.id)).toEqual(['aud_a0']);
      expect((await store.listAudit('env_b', { offset: 0, limit: 10 })).items.map((e) => e.id)).toEqual(['aud_b0']);
      expect((await store.listAudit(null, { offset: 0, limit: 10 })).items).toEqual([expect.objectContaining({ id: 'aud_team', actorName: 'CLI' })]);
      expect(await store.listAudit('env_missing', { offset: 0, limit: 10 })).toEqual({ items: [], total: 0 });
    });

    it('counts comments and active users per day', async () => {
      const day = (d: number, ms = 0) => new Date(Date.UTC(2026, 2, d) + ms).toISOString();
      await env('env_stats');
      await env('env_other');
      await store.upsertUser('env_stats', { externalId: 'dora', name: 'Dora', avatar: null }, day(2, 5000)); // seen on day 2 only
      await store.createThread('env_stats', { id: 'st1', roomId: 'r', position: null, createdBy: 'alice', createdAt: day(1) }, {
        id: 'st1-c1', userId: 'alice', body: 'a', mentions: [], createdAt: day(1),
      });
      await store.createComment('env_stats', { id: 'st1-c2', threadId: 'st1', userId: 'bob', body: 'b', mentions: [], createdAt: day(3) });
      await store.createComment('env_stats', { id: 'st1-c3', threadId: 'st1', userId: 'bob', body: 'c', mentions: [], createdAt: day(3, 1000) });
      await store.addReaction('env_stats', { id: 'st-r1', commentId: 'st1-c1', userId: 'alice', emoji: '👍', createdAt: day(3, 2000) });
      // Another environment's activity never counts.
      await store.createThread('env_other', { id: 'st1', roomId: 'r', position: null, createdBy: 'alice', createdAt: day(3) }, {
        id: 'st1-c1', userId: 'alice', body: 'x', mentions: [], createdAt: day(3),
      });
      const stats = await store.dailyActivity('env_stats', '2026-03-02');
      expect(stats).toEqual([
        { day: '2026-03-02', comments: 0, activeUsers: 1 },
        { day: '2026-03-03', comments: 2, activeUsers: 2 },
      ]);
      expect((await store.dailyActivity('env_stats', '2026-03-01'))[0]).toEqual({ day: '2026-03-01', comments: 1, activeUsers: 1 });
    });

    it('browses rooms, threads, comments and users with counts, search and pages', async () => {
      const e = await env('env_browse');
      for (let i = 0; i < 3; i++) await store.ensureRoom(e, `docs/page_${i}`, at(10 + i));
      await store.ensureRoom(e, 'docs/pageX1', at(20)); // "_" in a search is literal, so this one never matches "page_"
      await store.createThread(e, { id: 'bt1', roomId: 'docs/page_1', position: null, createdBy: 'alice', createdAt: at(30) }, {
        id: 'bt1-c1', userId: 'alice', body: 'first body', mentions: [], createdAt: at(30),
      });
      await store.createComment(e, { id: 'bt1-c2', threadId: 'bt1', userId: 'bob', body: 'second', mentions: [], createdAt: at(31) });
      await store.createComment(e, { id: 'bt1-c3', threadId: 'bt1', userId: 'ghost', body: 'from a user with no record', mentions: [], createdAt: at(32) });
      await store.addReaction(e, { id: 'br1', commentId: 'bt1-c2', userId: 'alice', emoji: '🎉', createdAt: at(33) });
      await store.createThread(e, { id: 'bt2', roomId: 'docs/page_1', position: null, createdBy: 'bob', createdAt: at(40) }, {
        id: 'bt2-c1', userId: 'bob', body: 'other', mentions: [], createdAt: at(40),
      });
      await store.setThreadResolved(e, 'bt2', true, at(41));

      const rooms = await store.browseRooms(e, { offset: 0, limit: 2 });
      expect(rooms.total).toBe(4);
      expect(rooms.items.map((r) => r.id)).toEqual(['docs/pageX1', 'docs/page_2']); // newest first
      const searched = await store.browseRooms(e, { search: 'PAGE_', offset: 0, limit: 10 });
      expect(searched.items.map((r) => r.id)).toEqual(['docs/page_2', 'docs/page_1', 'docs/page_0']);
      expect(searched.items[1]).toEqual({ id: 'docs/page_1', createdAt: at(11), threads: 2, comments: 4 });
      expect((await store.browseRooms(e, { search: '%', offset: 0, limit: 10 })).total).toBe(0);
      expect((await store.browseRooms('env_a', { search: 'page_1', offset: 0, limit: 10 })).total).toBe(0);

      const threads = await store.browseThreads(e, 'docs/page_1', { offset: 0, limit: 10 });
      expect(threads.total).toBe(2);
      expect(threads.items[0]).toMatchObject({ id: 'bt2', resolved: true, comments: 1, firstComment: { body: 'other', userId: 'bob' } });
      expect(threads.items[1]).toMatchObject({ id: 'bt1', resolved: false, comments: 3, createdAt: at(30), firstComment: { body: 'first body', userId: 'alice' } });
      expect((await store.browseThreads(e, 'docs/page_1', { offset: 1, limit: 1 })).items.map((t) => t.id)).toEqual(['bt1']);
      expect((await store.browseThreads('env_a', 'docs/page_1', { offset: 0, limit: 10 })).total).toBe(0);

      const comments = await store.browseComments(e, 'bt1', { offset: 0, limit: 2 });
      expect(comments.total).toBe(3);
      expect(comments.items.map((c) => c.id)).toEqual(['bt1-c1', 'bt1-c2']); // conversation order
      expect(comments.items[1]).toMatchObject({
        body: 'second', editedAt: null, author: { externalId: 'bob', name: 'Bob', avatar: null, color: expect.stringMatching(/^#/) },
        reactions: [expect.objectContaining({ emoji: '🎉', userId: 'alice' })], attachments: [],
      });
      const ghost = (await store.browseComments(e, 'bt1', { offset: 2, limit: 2 })).items[0]!;
      expect(ghost.author).toEqual({ externalId: 'ghost', name: null, avatar: null, color: null });
      expect((await store.browseComments('env_a', 'bt1', { offset: 0, limit: 10 })).total).toBe(0);

      const users = await store.browseUsers(e, { offset: 0, limit: 10 });
      expect(users.total).toBe(2);
      expect(users.items.find((u) => u.externalId === 'bob')).toMatchObject({ name: 'Bob', comments: 2, firstSeen: at() });
      expect((await store.browseUsers(e, { search: 'ALI', offset: 0, limit: 10 })).items.map((u) => u.externalId)).toEqual(['alice']);
      expect((await store.browseUsers(e, { search: 'nobody', offset: 0, limit: 10 })).items).toEqual([]);
    });

    it('stores P2P shared state by compare-and-set, scoped to the environment, and expires it', async () => {
      const e = await env('env_p2p');
      const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
      expect(await store.getSharedState(e, 'r1')).toBeUndefined();
      expect(await store.putSharedState(e, 'r1', { state: bytes(3, 1), expectedVersion: null, at: at(), expiresAt: at(1000) })).toBe(1);
      // A second first write loses: another writer came first.
      expect(await store.putSharedState(e, 'r1', { state: bytes(3, 9), expectedVersion: null, at: at(), expiresAt: at(1000) })).toBeUndefined();
      const first = (await store.getSharedState(e, 'r1'))!;
      expect(first).toMatchObject({ roomId: 'r1', bytes: 3, version: 1, updatedAt: at(), expiresAt: at(1000) });
      expect(first.state).toBeInstanceOf(Uint8Array);
      expect([...first.state]).toEqual([1, 1, 1]);
      // Binary content survives as it is (zeros, high bytes).
      const binary = Uint8Array.from([0, 255, 128, 0, 7]);
      expect(await store.putSharedState(e, 'r1', { state: binary, expectedVersion: 1, at: at(10), expiresAt: at(5000) })).toBe(2);
      expect(await store.putSharedState(e, 'r1', { state: bytes(1, 0), expectedVersion: 1, at: at(20), expiresAt: at(5000) })).toBeUndefined();
      expect([...(await store.getSharedState(e, 'r1'))!.state]).toEqual([0, 255, 128, 0, 7]);
      // Another environment sees nothing and changes nothing.
      expect(await store.getSharedState('env_a', 'r1')).toBeUndefined();
      expect(await store.deleteSharedState('env_a', 'r1')).toBe(false);
      expect(await store.putSharedState('env_a', 'r1', { state: bytes(2, 2), expectedVersion: 2, at: at(), expiresAt: at(1000) })).toBeUndefined();
      await store.putSharedState(e, 'r2', { state: bytes(2, 2), expectedVersion: null, at: at(30), expiresAt: at(100) });
      expect((await store.listSharedState(e, 10)).map((r) => [r.roomId, r.bytes, r.version])).toEqual([
        ['r2', 2, 1],
        ['r1', 5, 2],
      ]);
      // Expiry: only what expired before `now`.
      expect(await store.deleteExpiredSharedState(at(200))).toBe(1);
      expect(await store.getSharedState(e, 'r2')).toBeUndefined();
      expect(await store.getSharedState(e, 'r1')).toBeDefined();
      expect(await store.deleteSharedState(e, 'r1')).toBe(true);
      expect(await store.deleteSharedState(e, 'r1')).toBe(false);
      expect(await store.listSharedState(e, 10)).toEqual([]);
    });

    it('keeps webhook endpoints per environment and records outbox events only with a committed change', async () => {
      const e = await env('env_wh');
      const created = await store.createWebhookEndpoint(e, { id: 'wh_1', url: 'https://a.example/h', description: 'A', events: ['comment.created'], enabled: true, secret: 'whsec_AAAA', createdAt: at() });
      await store.createWebhookEndpoint(e, { id: 'wh_2', url: 'https://b.example/h', description: '', events: [], enabled: true, secret: 'whsec_BBBB', createdAt: at(1) });
      await store.createWebhookEndpoint(e, { id: 'wh_3', url: 'https://c.example/h', description: '', events: [], enabled: false, secret: 'whsec_CCCC', createdAt: at(2) });
      expect(created).toMatchObject({ id: 'wh_1', events: ['comment.created'], enabled: true, disabledReason: null, secretPrefix: 'whsec_AAAA' });
      expect((await store.listWebhookEndpoints(e)).map((x) => x.id)).toEqual(['wh_1', 'wh_2', 'wh_3']);
      expect(await store.getWebhookEndpoint('env_a', 'wh_1')).toBeUndefined();
      expect(await store.updateWebhookEndpoint('env_a', 'wh_1', { enabled: false }, at())).toBeUndefined();
      expect(await store.deleteWebhookEndpoint('env_a', 'wh_1')).toBe(false);

      const links = new FileLinks();
      const intent = (id: string, type: 'thread.created' | 'comment.created', subject: { kind: 'threadWithComments' | 'comment'; id: string }) => ({
        id,
        type,
        actor: { type: 'backend' as const },
        occurredAt: at(10),
        subject,
        data: {},
        links,
      });
      await store.createThread(e, { id: 'wh-t1', roomId: 'wh-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'wh-t1-c1', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) }, {
        webhooks: [intent('msg_t1', 'thread.created', { kind: 'threadWithComments', id: 'wh-t1' })],
      });
      // A change that fails (duplicate id) records nothing.
      await expect(
        store.createComment(e, { id: 'wh-t1-c1', threadId: 'wh-t1', userId: 'bob', body: 'dup', mentions: [], createdAt: at(11) }, { webhooks: [intent('msg_dup', 'comment.created', { kind: 'comment', id: 'wh-t1-c1' })] }),
      ).rejects.toThrow();
      await store.createComment(e, { id: 'wh-c2', threadId: 'wh-t1', userId: 'bob', body: 'two', mentions: [], createdAt: at(12) }, { webhooks: [intent('msg_c2', 'comment.created', { kind: 'comment', id: 'wh-c2' })] });

      // room.created and thread.created go to wh_2 (every type); comment.created to wh_1 and wh_2; none to the disabled wh_3.
      expect(await dispatchEvents(100, at(20), 3600_000)).toBe(3);
      expect(await dispatchEvents(100, at(20), 3600_000)).toBe(0);
      const claimed = await claimDeliveries(at(20), at(60_020), { total: 10, perEndpoint: 10 }, []);
      expect(claimed.map((c) => `${c.endpointId}:${c.eventType}:${c.eventType === 'room.created' ? '*' : c.eventId}`).sort()).toEqual([
        'wh_1:comment.created:msg_c2',
        'wh_2:comment.created:msg_c2',
        'wh_2:room.created:*',
        'wh_2:thread.created:msg_t1',
      ]);
      const room = JSON.parse(claimed.find((c) => c.eventType === 'room.created')!.payload);
      expect(room.data).toMatchObject({ roomId: 'wh-room', room: { id: 'wh-room', environmentId: e } });
      const t1 = JSON.parse(claimed.find((c) => c.eventId === 'msg_t1')!.payload);
      expect(t1).toMatchObject({ type: 'thread.created', timestamp: at(10), data: { environmentId: e, roomId: 'wh-room', actor: { type: 'backend' } } });
      // The object as it was right after the change (the second comment came later).
      const now = (await store.getThreadWithComments(e, 'wh-t1'))!;
      expect(t1.data.thread).toEqual({ ...now, updatedAt: at(10), comments: now.comments.slice(0, 1) });
      expect(claimed.find((c) => c.eventId === 'msg_c2')!.secret).toMatch(/^whsec_/);
      // Claimed deliveries are not claimed again until their lease ends.
      expect(await claimDeliveries(at(21), at(60_021), { total: 10, perEndpoint: 10 }, [])).toEqual([]);
      const again = await claimDeliveries(at(60_030), at(120_000), { total: 10, perEndpoint: 10 }, ['wh_2']);
      expect(again.map((c) => c.endpointId)).toEqual(['wh_1']);

      // An outcome counts only under the claim it came with: each attempt below is of its delivery's latest claim.
      let d1 = again[0]!;
      const failed = { at: at(30), succeeded: false, statusCode: 500, error: 'HTTP 500', latencyMs: 12, response: 'nope', disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      expect(await finishAttempt(d1, { ...failed, nextAttemptAt: at(40) })).toEqual({ endpointDisabled: false });
      expect((await store.getWebhookEndpoint(e, 'wh_1'))!.failingSince).toBe(at(30));
      let [listed] = await store.listWebhookDeliveries(e, 'wh_1', 10);
      expect(listed).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAt: at(40), lastStatusCode: 500, lastResponse: 'nope', lastLatencyMs: 12 });
      // Failing since before the cutoff: the endpoint is disabled, with the reason.
      const later = await claimDeliveries(at(130_000), at(190_000), { total: 10, perEndpoint: 10 }, []);
      d1 = later.find((c) => c.id === d1.id)!;
      expect(await finishAttempt(d1, { ...failed, at: at(50), nextAttemptAt: null, disableIfFailingSince: at(40) })).toEqual({ endpointDisabled: true });
      const disabled = (await store.getWebhookEndpoint(e, 'wh_1'))!;
      expect(disabled.enabled).toBe(false);
      expect(disabled.disabledReason).toMatch(/HTTP 500/);
      [listed] = await store.listWebhookDeliveries(e, 'wh_1', 10);
      expect(listed).toMatchObject({ status: 'failed', attempts: 2, nextAttemptAt: null });
      // Resend: pending again, same event.
      expect(await store.resendWebhookDelivery(e, 'wh_1', d1.id, at(60), at(3600_000))).toMatchObject({ status: 'pending', eventId: 'msg_c2' });
      expect(await store.resendWebhookDelivery('env_a', 'wh_1', d1.id, at(60), at(3600_000))).toBeUndefined();
      expect(await store.resendWebhookDelivery(e, 'wh_2', d1.id, at(60), at(3600_000))).toBeUndefined();
      // A success clears the failure streak; enabling clears the reason.
      const enabled = await store.updateWebhookEndpoint(e, 'wh_1', { enabled: true }, at(70));
      expect(enabled).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
      const d2 = later.find((c) => c.endpointId === 'wh_2' && c.eventId === 'msg_c2')!;
      await finishAttempt(d2, { ...failed, succeeded: true, statusCode: 204, error: null, nextAttemptAt: null });
      expect((await store.listWebhookDeliveries(e, 'wh_2', 10)).find((d) => d.id === d2.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
      // 410 Gone: disabled by that one answer, whatever the cutoff, with the reason given.
      const d3 = later.find((c) => c.endpointId === 'wh_2' && c.eventId === 'msg_t1')!;
      const gone = { ...failed, at: at(75), statusCode: 410, error: 'HTTP 410', nextAttemptAt: at(90), disableNow: 'the receiver answered 410 Gone' };
      expect(await finishAttempt(d3, gone)).toEqual({ endpointDisabled: true });
      expect((await store.getWebhookEndpoint(e, 'wh_2'))!).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/410 Gone/) });
      await store.updateWebhookEndpoint(e, 'wh_2', { enabled: true }, at(76));
      // Rotation: the previous secret is kept until the given time, or not at all.
      const rotated = await store.updateWebhookEndpoint(e, 'wh_2', { secret: { secret: 'whsec_NEW2', previousUntil: at(3600_000) } }, at(77));
      expect(rotated).toMatchObject({ secret: 'whsec_NEW2', previousSecretExpiresAt: at(3600_000) });
      // The 410'd delivery above is due again: claimed with both secrets.
      const claimedAfter = await claimDeliveries(at(200_000), at(260_000), { total: 10, perEndpoint: 10 }, ['wh_1']);
      expect(claimedAfter.find((c) => c.id === d3.id)).toMatchObject({ secret: 'whsec_NEW2', previousSecret: 'whsec_BBBB' });
      const expired = await store.updateWebhookEndpoint(e, 'wh_2', { secret: { secret: 'whsec_NEW3', previousUntil: null } }, at(78));
      expect(expired).toMatchObject({ secret: 'whsec_NEW3', previousSecretExpiresAt: null });

      // A test event for one endpoint.
      const test = await store.enqueueWebhookDelivery(e, 'wh_3', { id: 'msg_test', type: 'webhook.test', payload: '{}', createdAt: at(80) }, at(3600_000));
      expect(test).toMatchObject({ endpointId: 'wh_3', eventId: 'msg_test', status: 'pending' });
      // Removing an endpoint removes its deliveries.
      expect(await store.deleteWebhookEndpoint(e, 'wh_3')).toBe(true);
      expect(await store.getWebhookEndpoint(e, 'wh_3')).toBeUndefined();
      // Old finished deliveries and their events are pruned; pending ones stay.
      await store.pruneWebhooks(at(10 * 86_400_000));
      expect((await store.listWebhookDeliveries(e, 'wh_2', 10)).map((d) => d.status)).toEqual(['pending', 'pending']);
    });

    it('records p2p.state.persisted with each stored shared state, not when the compare-and-set loses', async () => {
      const e = await env('env_whp');
      await store.createWebhookEndpoint(e, { id: 'wh_p1', url: 'https://a.example/h', description: '', events: ['p2p.state.persisted'], enabled: true, secret: 'whsec_AAAA', createdAt: at() });
      const state = new Uint8Array([1, 2, 3]);
      expect(await store.putSharedState(e, 'r1', { state, expectedVersion: null, at: at(10), expiresAt: at(1000) })).toBe(1);
      expect(await store.putSharedState(e, 'r1', { state, expectedVersion: null, at: at(11), expiresAt: at(1000) })).toBeUndefined();
      expect(await store.putSharedState(e, 'r1', { state, expectedVersion: 1, at: at(12), expiresAt: at(1000) })).toBe(2);
      expect(await dispatchEvents(100, at(20), 3600_000)).toBe(2);
      const claimed = await claimDeliveries(at(20), at(60_020), { total: 10, perEndpoint: 10 }, []);
      const payloads = claimed.map((c) => JSON.parse(c.payload)).sort((a, b) => a.data.sharedState.version - b.data.sharedState.version);
      expect(payloads.map((p) => p.type)).toEqual(['p2p.state.persisted', 'p2p.state.persisted']);
      expect(payloads[1]).toEqual({
        type: 'p2p.state.persisted',
        timestamp: at(12),
        data: { environmentId: e, roomId: 'r1', actor: { type: 'system' }, sharedState: { roomId: 'r1', bytes: 3, version: 2, updatedAt: at(12), expiresAt: at(1000) } },
      });
    });

    it('recovers for an endpoint the events since a time that it never had, once', async () => {
      const e = await env('env_whr');
      const links = new FileLinks();
      await store.createWebhookEndpoint(e, { id: 'wh_r1', url: 'https://a.example/h', description: '', events: [], enabled: true, secret: 'whsec_AAAA', createdAt: at() });
      await store.createWebhookEndpoint(e, { id: 'wh_r2', url: 'https://b.example/h', description: '', events: ['comment.created'], enabled: false, secret: 'whsec_BBBB', createdAt: at() });
      const intent = (id: string, type: 'thread.created' | 'comment.created', subject: { kind: 'threadWithComments' | 'comment'; id: string }, t: number) => ({
        id,
        type,
        actor: { type: 'backend' as const },
        occurredAt: at(t),
        subject,
        data: {},
        links,
      });
      await store.createThread(e, { id: 'r-t1', roomId: 'r-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'r-t1-c1', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) }, {
        webhooks: [intent('msg_r_t1', 'thread.created', { kind: 'threadWithComments', id: 'r-t1' }, 10)],
      });
      for (const [n, t] of [[2, 20], [3, 30]] as const) {
        await store.createComment(e, { id: `r-c${n}`, threadId: 'r-t1', userId: 'bob', body: `c${n}`, mentions: [], createdAt: at(t) }, { webhooks: [intent(`msg_r_c${n}`, 'comment.created', { kind: 'comment', id: `r-c${n}` }, t)] });
      }
      await store.enqueueWebhookDelivery(e, 'wh_r1', { id: 'msg_r_test', type: 'webhook.test', payload: '{}', createdAt: at(40) }, at(3600_000));
      // An example event is of a real type, and is for its own endpoint only too.
      await store.enqueueWebhookDelivery(e, 'wh_r1', { id: 'msg_r_example', type: 'comment.created', payload: '{"example":true}', createdAt: at(41) }, at(3600_000));
      await dispatchEvents(100, at(50), 3600_000);
      expect(await store.listWebhookDeliveries(e, 'wh_r2', 10)).toEqual([]); // disabled meanwhile
      const examples = Object.fromEntries((await store.listWebhookDeliveries(e, 'wh_r1', 10)).map((d) => [d.eventId, d.example]));
      expect(examples).toMatchObject({ msg_r_t1: false, msg_r_c2: false, msg_r_c3: false, msg_r_test: false, msg_r_example: true });

      // Its subscribed types only (no thread.created, no other endpoint's test or example event), from `since` on.
      expect(await store.recoverWebhookDeliveries(e, 'wh_r2', at(25), at(60), at(3600_000))).toBe(1);
      expect(await store.recoverWebhookDeliveries(e, 'wh_r2', at(0), at(61), at(3600_000))).toBe(1);
      expect(await store.recoverWebhookDeliveries(e, 'wh_r2', at(0), at(62), at(3600_000))).toBe(0);
      const recovered = await store.listWebhookDeliveries(e, 'wh_r2', 10);
      expect(recovered.map((d) => d.eventId).sort()).toEqual(['msg_r_c2', 'msg_r_c3']);
      expect(recovered.every((d) => d.status === 'pending' && d.attempts === 0)).toBe(true);
      // An endpoint that had them all gets nothing again; another environment's endpoint nothing at all.
      expect(await store.recoverWebhookDeliveries(e, 'wh_r1', at(0), at(63), at(3600_000))).toBe(0);
      expect(await store.recoverWebhookDeliveries('env_a', 'wh_r1', at(0), at(63), at(3600_000))).toBe(0);
    });

    it('recovers more events than one chunk, of its environment only', async () => {
      const e = await env('env_whrc');
      const other = await env('env_whrc2');
      await store.createWebhookEndpoint(e, { id: 'wh_rc1', url: 'https://a.example/h', description: '', events: [], enabled: true, secret: 'whsec_AAAA', createdAt: at() });
      await store.createWebhookEndpoint(other, { id: 'wh_rc3', url: 'https://c.example/h', description: '', events: [], enabled: true, secret: 'whsec_CCCC', createdAt: at() });
      for (const envId of [e, other]) await thread(envId, `rc-t-${envId}`, 'rc-room');
      // Events of both environments interleaved, each delivered to the one endpoint of its environment so far.
      const links = new FileLinks();
      const n = CHUNK_ROWS + 50;
      for (let i = 0; i < n; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) => {
            const k = String(i + j).padStart(5, '0');
            const envId = (i + j) % 10 === 0 ? other : e;
            const id = `rc-c${k}`;
            const occurredAt = at(1000 + i + j);
            return store.createComment(envId, { id, threadId: `rc-t-${envId}`, userId: 'bob', body: k, mentions: [], createdAt: occurredAt }, {
              webhooks: [{ id: `msg_rc_${k}`, type: 'comment.created', actor: { type: 'backend' }, occurredAt, subject: { kind: 'comment', id }, data: {}, links }],
            });
          }),
        );
      }
      while ((await dispatchEvents(500, at(4000), 3600_000)) > 0);
      await store.createWebhookEndpoint(e, { id: 'wh_rc2', url: 'https://b.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_BBBB', createdAt: at() });
      const ours = n - n / 10;
      expect(await store.recoverWebhookDeliveries(e, 'wh_rc2', at(0), at(5000), at(3600_000))).toBe(ours);
      expect(await store.recoverWebhookDeliveries(e, 'wh_rc2', at(0), at(5001), at(3600_000))).toBe(0);
    });

    it('hands each due webhook delivery to one claimer at a time, a few per endpoint', async () => {
      const e = await env('env_wh2');
      await store.createWebhookEndpoint(e, { id: 'wh_c1', url: 'https://a.example/h', description: '', events: [], enabled: true, secret: 'whsec_AAAA', createdAt: at() });
      await store.createWebhookEndpoint(e, { id: 'wh_c2', url: 'https://b.example/h', description: '', events: [], enabled: true, secret: 'whsec_BBBB', createdAt: at() });
      for (let i = 0; i < 12; i++) {
        await store.enqueueWebhookDelivery(e, i < 10 ? 'wh_c1' : 'wh_c2', { id: `msg_cc${i}`, type: 'webhook.test', payload: '{}', createdAt: at(i) }, at(3600_000));
      }
      // One endpoint's backlog does not crowd out the other.
      const few = await claimDeliveries(at(100), at(60_000), { total: 4, perEndpoint: 2 }, []);
      expect(few.filter((c) => c.endpointId === 'wh_c2')).toHaveLength(2);
      await store.webhookPass({ at: at(100), outcomes: few.map((delivery) => ({ delivery, result: null })), eventsDone: [], dispatch: null, claim: null });
      const claims = await Promise.all(Array.from({ length: 4 }, () => claimDeliveries(at(100), at(60_000), { total: 12, perEndpoint: 12 }, [])));
      const ids = claims.flat().map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(claims.flat().filter((c) => c.environmentId === e)).toHaveLength(12);
      await store.releaseAllWebhookClaims();
      const again = await claimDeliveries(at(100), at(60_000), { total: 50, perEndpoint: 50 }, []);
      expect(again.filter((c) => c.environmentId === e)).toHaveLength(12);
    });

    it("records an outcome only under the claim it came with: a node held up past its lease does not undo the next node's", async () => {
      const e = await env('env_whfence');
      await store.createWebhookEndpoint(e, { id: 'wh_fence', url: 'https://f.example/h', description: '', events: [], enabled: true, secret: 'whsec_FENC', createdAt: at() });
      await store.enqueueWebhookDelivery(e, 'wh_fence', { id: 'msg_fence', type: 'webhook.test', payload: '{}', createdAt: at(1) }, at(3600_000));
      const mine = (claimed: ClaimedDelivery[]) => claimed.filter((c) => c.endpointId === 'wh_fence');
      const record = (ms: number, outcomes: WebhookOutcome[]) => store.webhookPass({ at: at(ms), outcomes, eventsDone: [], dispatch: null, claim: null });
      const stored = async () => (await store.listWebhookDeliveries(e, 'wh_fence', 10))[0]!;
      // Node A claims the delivery, and is held up past its lease; node B claims it again.
      const [a] = mine(await claimDeliveries(at(100), at(1_000), { total: 10, perEndpoint: 10 }, []));
      const [b] = mine(await claimDeliveries(at(2_000), at(3_000), { total: 10, perEndpoint: 10 }, []));
      expect(b?.id).toBe(a?.id);
      // A gives it back unattempted: B's claim holds (no third claimer meanwhile).
      await record(2_010, [{ delivery: a!, result: null }]);
      expect(mine(await claimDeliveries(at(2_020), at(4_000), { total: 10, perEndpoint: 10 }, []))).toEqual([]);
      // B's attempt succeeds; then A's, late, fails for good: the row keeps B's outcome, and the endpoint is not failing.
      const ok = { at: at(2_100), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      await record(2_100, [{ delivery: b!, result: ok }]);
      const failed = { ...ok, at: at(2_200), succeeded: false, statusCode: 500, error: 'HTTP 500', disableNow: 'must not happen' };
      expect((await record(2_200, [{ delivery: a!, result: failed }])).disabledEndpoints).toEqual([]);
      expect(await stored()).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 204 });
      expect(await store.getWebhookEndpoint(e, 'wh_fence')).toMatchObject({ enabled: true, failingSince: null });
    });

    it('records the fresh successes of two passes to one endpoint at once (no deadlock on PostgreSQL)', async () => {
      const e = await env('env_whdl');
      await store.createWebhookEndpoint(e, { id: 'wh_dl', url: 'https://dl.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_DLDL', createdAt: at() });
      await thread(e, 'dl-t', 'dl-room');
      const fresh: ClaimedDelivery[] = [];
      for (let i = 0; i < 20; i++) {
        const id = `dl-c${i}`;
        await commentWithEvent(e, 'dl-t', id, 11 + i);
        const { claimed } = await store.webhookPass({ at: at(100 + i), outcomes: [], eventsDone: [], dispatch: { limit: 100, giveUpAfterMs: 3600_000, leaseUntil: at(60_000) }, claim: null });
        fresh.push(...claimed.filter((c) => c.endpointId === 'wh_dl'));
      }
      expect(fresh).toHaveLength(20);
      const ok = { at: at(200), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      const record = (d: ClaimedDelivery) => store.webhookPass({ at: at(300), outcomes: [{ delivery: d, result: ok }], eventsDone: [d.eventId], dispatch: null, claim: null });
      // Two nodes' passes at once: each writes a fresh row for the endpoint (a key-share lock on it), then checks its failure streak.
      for (let i = 0; i < 20; i += 2) await Promise.all([record(fresh[i]!), record(fresh[i + 1]!)]);
      expect((await store.listWebhookDeliveries(e, 'wh_dl', 50)).map((d) => d.status)).toEqual(Array(20).fill('succeeded'));
    });

    it('records a fresh success when the same pass lets go of its claim on the row', async () => {
      const e = await env('env_whlg');
      await store.createWebhookEndpoint(e, { id: 'wh_lg', url: 'https://lg.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_LGLG', createdAt: at() });
      await thread(e, 'lg-t', 'lg-room');
      await commentWithEvent(e, 'lg-t', 'lg-c1', 11, { body: 'x' });
      const mine = (c: ClaimedDelivery[]) => c.filter((d) => d.endpointId === 'wh_lg');
      const pass = (ms: number, outcomes: WebhookOutcome[], eventsDone: string[], leaseMs: number | null) =>
        store.webhookPass({ at: at(ms), outcomes, eventsDone, dispatch: leaseMs === null ? null : { limit: 100, giveUpAfterMs: 3600_000, leaseUntil: at(leaseMs) }, claim: null });
      // The event is claimed, its lease lapses and it is claimed again; that claim gives the delivery back (a row), then claims the row.
      const [fresh] = mine((await pass(100, [], [], 1_000)).claimed);
      const [again] = mine((await pass(2_000, [], [], 3_000)).claimed);
      await pass(2_010, [{ delivery: again!, result: null }], ['msg_lg-c1'], null);
      const [row] = mine(await claimDeliveries(at(2_020), at(9_000), { total: 10, perEndpoint: 10 }, []));
      // One pass brings the first attempt's success and gives the row back: the success lands.
      const ok = { at: at(2_100), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      await pass(2_100, [{ delivery: fresh!, result: ok }, { delivery: row!, result: null }], [], null);
      expect((await store.listWebhookDeliveries(e, 'wh_lg', 10))[0]).toMatchObject({ status: 'succeeded', attempts: 1 });
    });

    it('records a fresh outcome and a later one of the same delivery, claimed again as a row, in the order given', async () => {
      const e = await env('env_whord');
      await store.createWebhookEndpoint(e, { id: 'wh_ord', url: 'https://o.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_ORDR', createdAt: at() });
      await thread(e, 'or-t', 'or-room');
      await commentWithEvent(e, 'or-t', 'or-c1', 11, { body: 'x' });
      const mine = (c: ClaimedDelivery[]) => c.filter((d) => d.endpointId === 'wh_ord');
      // This node sends the delivery fresh (lease 1 s); a recovery makes its row, held by that lease.
      const [fresh] = mine((await store.webhookPass({ at: at(100), outcomes: [], eventsDone: [], dispatch: { limit: 100, giveUpAfterMs: 3600_000, leaseUntil: at(1_000) }, claim: null })).claimed);
      expect(await store.recoverWebhookDeliveries(e, 'wh_ord', at(0), at(500), at(3600_000))).toBe(1);
      // Held up past the lease, the node claims the row again and attempts it; both outcomes come in one pass.
      const [row] = mine(await claimDeliveries(at(2_000), at(9_000), { total: 10, perEndpoint: 10 }, []));
      expect(row?.id).toBe(fresh!.id);
      const base = { succeeded: false, latencyMs: 3, response: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      await store.webhookPass({
        at: at(2_200),
        eventsDone: [],
        dispatch: null,
        claim: null,
        outcomes: [
          { delivery: fresh!, result: { ...base, at: at(2_100), statusCode: 500, error: 'HTTP 500', nextAttemptAt: at(60_000) } },
          { delivery: row!, result: { ...base, at: at(2_150), statusCode: 503, error: 'HTTP 503', nextAttemptAt: null } },
        ],
      });
      // The fresh outcome came while the row was held by the later claim: that claim's attempt decides.
      expect((await store.listWebhookDeliveries(e, 'wh_ord', 10))[0]).toMatchObject({ status: 'failed', lastStatusCode: 503, attempts: 1 });
    });

    it("records a late fresh outcome over no other node's claim: the claiming node's success stands", async () => {
      const e = await env('env_whfresh');
      await store.createWebhookEndpoint(e, { id: 'wh_fr', url: 'https://fr.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_FRFR', createdAt: at() });
      await thread(e, 'fr-t', 'fr-room');
      for (const id of ['fr-c1', 'fr-c2']) {
        await commentWithEvent(e, 'fr-t', id, 11);
      }
      const mine = (c: ClaimedDelivery[]) => c.filter((d) => d.endpointId === 'wh_fr').sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
      const pass = (ms: number, outcomes: WebhookOutcome[], eventsDone: string[], leaseMs: number | null) =>
        store.webhookPass({ at: at(ms), outcomes, eventsDone, dispatch: leaseMs === null ? null : { limit: 100, giveUpAfterMs: 3600_000, leaseUntil: at(leaseMs) }, claim: null });
      const status = async (id: string) => (await store.listWebhookDeliveries(e, 'wh_fr', 10)).find((d) => d.id === id);
      // Node A claims both events (lease 1 s) and is held up past it; node B claims them again,
      // gives its fresh deliveries back (pending rows), then claims the rows and sends them.
      const fromA = mine((await pass(100, [], [], 1_000)).claimed);
      const fromB = mine((await pass(2_000, [], [], 3_000)).claimed);
      expect(fromB.map((d) => d.id)).toEqual(fromA.map((d) => d.id));
      await pass(2_010, fromB.map((delivery) => ({ delivery, result: null })), ['msg_fr-c1', 'msg_fr-c2'], null);
      const rows = mine(await claimDeliveries(at(2_020), at(9_000), { total: 10, perEndpoint: 10 }, []));
      expect(rows.map((d) => d.id)).toEqual(fromA.map((d) => d.id));
      // A, late, gives c1 back and records c2's attempt as failed, while B's requests are in flight.
      const ok = { at: at(2_100), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      const failed = { ...ok, at: at(2_050), succeeded: false, statusCode: 500, error: 'HTTP 500', nextAttemptAt: at(60_000) };
      await pass(2_050, [{ delivery: fromA[0]!, result: null }, { delivery: fromA[1]!, result: failed }], [], null);
      // B's claims held: no other claimer meanwhile, and B's successes are recorded.
      expect(mine(await claimDeliveries(at(2_060), at(9_500), { total: 10, perEndpoint: 10 }, []))).toEqual([]);
      await pass(2_100, rows.map((delivery) => ({ delivery, result: ok })), [], null);
      for (const d of rows) expect(await status(d.id)).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 204 });
    });

    it('records notification.unread once per notification still unread after the delay', async () => {
      const e = await env('env_unread');
      const T = Date.UTC(2026, 6, 1);
      const iso = (ms: number) => new Date(T + ms).toISOString();
      const note = (id: string, userId: string, at: number) => ({ id, userId, kind: 'mention' as const, roomId: 'ur', threadId: 'ut', commentId: 'ut-c1', actorId: 'alice', preview: 'hi', createdAt: iso(at) });
      await store.createThread(e, { id: 'ut', roomId: 'ur', position: null, createdBy: 'alice', createdAt: iso(0) }, { id: 'ut-c1', userId: 'alice', body: 'hi', mentions: ['bob'], createdAt: iso(0) }, {
        notifications: [note('u1', 'bob', 0), note('u2', 'bob', 1_000), note('u3', 'carol', 2_000), note('u4', 'bob', 60_000)],
      });
      await store.markNotificationsRead(e, 'bob', ['u2'], iso(1_500));
      const record = (since: number, dueBefore: number, limit = 10, envId = e) => store.recordUnreadNotifications(envId, iso(since), iso(dueBefore), iso(dueBefore), limit);
      // Due: u1 and u3 (u2 was read, u4 is too recent); oldest first, `limit` at a time, once.
      expect(await record(-1_000, 30_000, 1)).toEqual([iso(0)]);
      expect(await record(-1_000, 30_000)).toEqual([iso(2_000)]);
      expect(await record(-1_000, 30_000)).toEqual([]);
      // Another environment's pass sees none of them; `since` bounds the scan.
      expect(await record(-1_000, 90_000, 10, 'env_a')).toEqual([]);
      expect(await record(61_000, 90_000)).toEqual([]);
      expect(await record(59_000, 90_000)).toEqual([iso(60_000)]);
      // Two claimers at once (two nodes): each notification goes to one of them.
      await store.createComment(e, { id: 'ut-c2', threadId: 'ut', userId: 'alice', body: 'more', mentions: ['bob'], createdAt: iso(100_000) }, {
        notifications: Array.from({ length: 20 }, (_, i) => ({ ...note(`uc${i}`, 'bob', 100_000 + i), commentId: 'ut-c2' })),
      });
      const both = await Promise.all([record(99_000, 200_000, 15), record(99_000, 200_000, 15)]);
      const all = [...both[0], ...both[1]];
      expect(all).toHaveLength(20);
      expect(new Set(all).size).toBe(20);
      // The events are in the outbox like any other: an endpoint that wants them gets a delivery each.
      await store.createWebhookEndpoint(e, { id: 'wh_unread', url: 'https://u.example/h', description: '', events: ['notification.unread'], enabled: true, secret: 'whsec_UUUU', createdAt: iso(0) });
      while ((await dispatchEvents(100, iso(200_000), 3600_000)) > 0);
      const deliveries = await store.listWebhookDeliveries(e, 'wh_unread', 100);
      expect(deliveries).toHaveLength(23);
      expect(new Set(deliveries.map((d) => d.eventType))).toEqual(new Set(['notification.unread']));
    });

    it('claims unread notifications for email once, per user, after the delay', async () => {
      const e = await env('env_mail');
      const T = Date.UTC(2026, 5, 1);
      const iso = (ms: number) => new Date(T + ms).toISOString();
      await store.upsertUser(e, { externalId: 'alice', name: 'Alice', avatar: null, email: 'alice@example.com' }, iso(0));
      await store.upsertUser(e, { externalId: 'bob', name: 'Bob', avatar: null, email: 'bob@example.com' }, iso(0));
      await store.upsertUser(e, { externalId: 'carol', name: 'Carol', avatar: null, email: 'carol@example.com' }, iso(0));
      const note = (id: string, userId: string, at: number) => ({ id, userId, kind: 'mention' as const, roomId: 'r', threadId: 'mt', commentId: 'mt-c1', actorId: 'dave', preview: 'hi', createdAt: iso(at) });
      await store.createThread(e, { id: 'mt', roomId: 'r', position: null, createdBy: 'alice', createdAt: iso(0) }, { id: 'mt-c1', userId: 'alice', body: 'hello <b>', mentions: [], createdAt: iso(0) }, {
        notifications: [note('n1', 'alice', 0), note('n2', 'alice', 5_000), note('n3', 'bob', 0), note('n4', 'carol', 0)],
      });
      await store.markNotificationsRead(e, 'carol', 'all', iso(1000));
      expect(await store.setEmailOptOut(e, 'bob', true)).toBe(true);
      expect(await store.setEmailOptOut(e, 'nobody', true)).toBe(false);
      const delay = new Map([[e, 60]]);
      // Not yet due: the oldest is younger than the delay.
      expect((await store.claimEmailBatches(iso(30_000), iso(150_000), delay, 10)).filter((b) => b.environmentId === e)).toEqual([]);
      // Due: one batch for alice with n1; none for bob (opted out) or carol (read). n2, 56 s old,
      // may still be read in time: it waits for alice's next window.
      const claims = await Promise.all([0, 1, 2].map(() => store.claimEmailBatches(iso(61_000), iso(181_000), delay, 10)));
      const mine = claims.flat().filter((b) => b.environmentId === e);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ userId: 'alice', attempts: 0 });
      expect([...mine[0]!.notificationIds].sort()).toEqual(['n1']);
      const items = await store.emailItems(e, mine[0]!.notificationIds);
      expect(items[0]).toMatchObject({ notificationId: 'n1', body: 'hello <b>', actorName: 'dave', read: false });
      expect(await store.emailRecipient(e, 'alice')).toEqual({ email: 'alice@example.com', name: 'Alice', optOut: false });
      // A failed send is retried when due, with the same notifications; a node dying mid-send lets the batch go after its lease.
      expect(await store.finishEmailBatch(mine[0]!, { status: 'retry', at: iso(62_000), nextAttemptAt: iso(90_000), error: '451' })).toBe(true);
      expect((await store.claimEmailBatches(iso(80_000), iso(200_000), delay, 10)).filter((b) => b.environmentId === e)).toEqual([]);
      const retried = (await store.claimEmailBatches(iso(91_000), iso(100_000), delay, 10)).filter((b) => b.environmentId === e);
      expect(retried.map((b) => [b.batchId, b.attempts])).toEqual([[mine[0]!.batchId, 1]]);
      const reclaimed = (await store.claimEmailBatches(iso(101_000), iso(300_000), delay, 10)).filter((b) => b.environmentId === e);
      expect(reclaimed.map((b) => b.batchId)).toEqual([mine[0]!.batchId]);
      // The node that lost it can neither renew, finish nor release it: its lease is stale.
      expect(await store.renewEmailBatches([mine[0]!.batchId], retried[0]!.leaseUntil, iso(400_000))).toEqual([]);
      expect(await store.finishEmailBatch(retried[0]!, { status: 'sent', at: iso(101_500), emailed: true })).toBe(false);
      expect(await store.releaseEmailBatch(retried[0]!)).toBe(false);
      // Its new holder renews it: not stale at the end of the lease it was claimed with.
      expect(await store.renewEmailBatches([mine[0]!.batchId, 'mail_none'], reclaimed[0]!.leaseUntil, iso(500_000))).toEqual([mine[0]!.batchId]);
      expect((await store.claimEmailBatches(iso(301_000), iso(600_000), delay, 10)).filter((b) => b.environmentId === e)).toEqual([]);
      expect(await store.finishEmailBatch({ ...reclaimed[0]!, leaseUntil: iso(500_000) }, { status: 'sent', at: iso(102_000), emailed: true })).toBe(true);
      expect(await store.finishEmailBatch({ ...reclaimed[0]!, leaseUntil: iso(500_000) }, { status: 'sent', at: iso(102_000), emailed: true })).toBe(false);
      // Sent: never claimed again, and newer notifications wait for the user's next window (n2 too).
      await store.createComment(e, { id: 'mt-c2', threadId: 'mt', userId: 'bob', body: 'again', mentions: [], createdAt: iso(110_000) }, { notifications: [note('n5', 'alice', 110_000)] });
      expect((await store.claimEmailBatches(iso(120_000), iso(300_000), delay, 10)).filter((b) => b.environmentId === e)).toEqual([]);
      const next = (await store.claimEmailBatches(iso(171_500), iso(300_000), delay, 10)).filter((b) => b.environmentId === e);
      expect(next.flatMap((b) => b.notificationIds).sort()).toEqual(['n2', 'n5']);
      // While a batch waits for its retry, nothing new is claimed for that user, though due.
      await store.finishEmailBatch(next[0]!, { status: 'retry', at: iso(172_000), nextAttemptAt: iso(250_000), error: '451' });
      await store.createComment(e, { id: 'mt-c3', threadId: 'mt', userId: 'bob', body: 'more', mentions: [], createdAt: iso(180_000) }, { notifications: [note('n6', 'alice', 180_000)] });
      expect((await store.claimEmailBatches(iso(245_000), iso(400_000), delay, 10)).filter((b) => b.environmentId === e)).toEqual([]);
      // A batch let go (not emailed after all) leaves its notifications to be claimed again.
      const due = (await store.claimEmailBatches(iso(300_000), iso(400_000), delay, 10)).filter((b) => b.environmentId === e);
      expect(due.map((b) => b.batchId)).toEqual([next[0]!.batchId]);
      expect(await store.releaseEmailBatch(due[0]!)).toBe(true);
      const again = (await store.claimEmailBatches(iso(300_000), iso(400_000), delay, 10)).filter((b) => b.environmentId === e);
      expect(again.flatMap((b) => b.notificationIds).sort()).toEqual(['n2', 'n5', 'n6']);
      // The window counts from when an email went out.
      expect(await store.finishEmailBatch(again[0]!, { status: 'sent', at: iso(400_000), emailed: true })).toBe(true);
      await store.createComment(e, { id: 'mt-c4', threadId: 'mt', userId: 'bob', body: 'last', mentions: [], createdAt: iso(300_000) }, { notifications: [note('n7', 'alice', 300_000)] });
      expect((await store.claimEmailBatches(iso(420_000), iso(500_000), delay, 10)).filter((b) => b.environmentId === e)).toEqual([]);
      expect((await store.claimEmailBatches(iso(461_000), iso(500_000), delay, 10)).filter((b) => b.environmentId === e).flatMap((b) => b.notificationIds)).toEqual(['n7']);
    });

    it('searches users by a part of their name or the start of their id, case-insensitively, % and _ as letters', async () => {
      const e = await env('env_search');
      for (const [id, name] of [['ann-1', 'Ann Lee'], ['bob_2', 'Bob 100% Smith'], ['carl', 'Carla Ann'], ['dan', 'Dan'], ['elo', 'Élodie Ørsted']] as const) {
        await store.upsertUser(e, { externalId: id, name, avatar: null }, at());
      }
      const ids = async (text: string, limit = 10) => (await store.searchUsers(e, text, limit)).map((u) => u.externalId);
      expect(await ids('ann')).toEqual(['ann-1', 'carl']);
      expect(await ids('ann', 1)).toEqual(['ann-1']);
      expect(await ids('bob_')).toEqual(['bob_2']);
      expect(await ids('bo_')).toEqual([]);
      expect(await ids('100%')).toEqual(['bob_2']);
      expect(await ids('1%')).toEqual([]);
      expect(await ids('an-')).toEqual([]);
      expect(await ids('zzz')).toEqual([]);
      // Every letter folds, not ASCII alone.
      expect(await ids('élodie ørs')).toEqual(['elo']);
    });

    it('marks a backlog of thousands of notifications read, all of them, in several statements', async () => {
      const e = await env('env_markall');
      const note = (id: string, userId: string) => ({ id, userId, kind: 'mention' as const, roomId: 'r', threadId: 'ma', commentId: 'ma-c1', actorId: 'dave', preview: 'hi', createdAt: at(5) });
      const notes = Array.from({ length: 4500 }, (_, i) => note(`ma-${i}`, 'heavy'));
      await store.createThread(e, { id: 'ma', roomId: 'r', position: null, createdBy: 'dave', createdAt: at(0) }, { id: 'ma-c1', userId: 'dave', body: 'hi', mentions: [], createdAt: at(0) }, {
        notifications: [...notes, note('ma-other', 'other')],
      });
      const changed = await store.markNotificationsRead(e, 'heavy', 'all', at(10));
      expect(changed).toHaveLength(4500);
      expect(new Set(changed).size).toBe(4500);
      expect(await store.markNotificationsRead(e, 'heavy', 'all', at(11))).toEqual([]);
      expect(await store.markNotificationsRead(e, 'other', 'all', at(12))).toEqual(['ma-other']);
    });

    it("emails every user due, whatever another's backlog or an environment with email off holds", async () => {
      const T = Date.UTC(2026, 6, 1);
      const iso = (ms: number) => new Date(T + ms).toISOString();
      const [on, off] = [await env('env_mail_on'), await env('env_mail_off')];
      const note = (id: string, userId: string, at: number) => ({ id, userId, kind: 'mention' as const, roomId: 'r', threadId: 'bt', commentId: 'bt-c1', actorId: 'dave', preview: 'hi', createdAt: iso(at) });
      for (const e of [on, off]) {
        for (const u of ['heavy', 'light']) await store.upsertUser(e, { externalId: u, name: u, avatar: null, email: `${u}@example.com` }, iso(0));
        // 450 older notifications for heavy (more than any one pass reads), then one for light.
        const notes = Array.from({ length: 450 }, (_, i) => note(`${e}-h${i}`, 'heavy', i));
        await store.createThread(e, { id: 'bt', roomId: 'r', position: null, createdBy: 'dave', createdAt: iso(0) }, { id: 'bt-c1', userId: 'dave', body: 'hi', mentions: [], createdAt: iso(0) }, {
          notifications: [...notes, note(`${e}-l1`, 'light', 1000)],
        });
      }
      const first = (await store.claimEmailBatches(iso(120_000), iso(300_000), new Map([[on, 60]]), 10)).filter((b) => b.environmentId === on || b.environmentId === off);
      expect(first.map((b) => [b.environmentId, b.userId, b.notificationIds.length])).toEqual([
        [on, 'heavy', 100],
        [on, 'light', 1],
      ]);
      // The oldest first; the rest of heavy's backlog waits for their next window.
      expect(first[0]!.notificationIds.slice(0, 2)).toEqual([`${on}-h0`, `${on}-h1`]);
      expect((await store.claimEmailBatches(iso(150_000), iso(300_000), new Map([[on, 60]]), 10)).filter((b) => b.environmentId === on)).toEqual([]);
      // A batch that failed comes back whole for its retry, however small the claim.
      await store.finishEmailBatch(first[0]!, { status: 'retry', at: iso(151_000), nextAttemptAt: iso(160_000), error: '451' });
      const retried = await store.claimEmailBatches(iso(161_000), iso(170_000), new Map(), 1);
      expect(retried.map((b) => [b.batchId, b.notificationIds.length, b.attempts])).toEqual([[first[0]!.batchId, 100, 1]]);
      await store.finishEmailBatch(retried[0]!, { status: 'sent', at: iso(162_000) });
      const next = (await store.claimEmailBatches(iso(181_000), iso(400_000), new Map([[on, 60]]), 10)).filter((b) => b.environmentId === on);
      expect(next.map((b) => [b.userId, b.notificationIds.length, b.notificationIds[0]])).toEqual([['heavy', 100, `${on}-h100`]]);
    });

    it("makes a webhook dispatcher's pass one write: outcomes first, then events claimed, then delivery rows claimed", async () => {
      const e = await env('env_whpass');
      await store.createWebhookEndpoint(e, { id: 'wh_pass', url: 'https://a.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_AAAA', createdAt: at() });
      await store.createThread(e, { id: 'wp-t', roomId: 'wp-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'wp-c1', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) });
      const comment = (id: string, ms: number) => commentWithEvent(e, 'wp-t', id, ms);
      const dispatch = (ms: number) => ({ limit: 1000, giveUpAfterMs: 3600_000, leaseUntil: at(ms + 60_000) });
      const claim = (ms: number) => ({ leaseUntil: at(ms + 60_000), limits: { total: 1000, perEndpoint: 10 }, skipEndpoints: [] });
      const mine = (claimed: ClaimedDelivery[]) =>
        claimed.filter((c) => c.endpointId === 'wh_pass').map((c) => `${c.eventId}/${c.attempts}${c.freshSince ? ' fresh' : ''}`).sort();
      const deliveries = async () => (await store.listWebhookDeliveries(e, 'wh_pass', 10)).map((d) => `${d.eventId}:${d.status}/${d.attempts}`).sort();

      await comment('wp-c2', 11);
      // The event is claimed; its delivery comes back fresh, with no row yet.
      const first = await store.webhookPass({ at: at(20), outcomes: [], eventsDone: [], dispatch: dispatch(20), claim: null });
      expect(first.dispatched).toBeGreaterThanOrEqual(1);
      expect(mine(first.claimed)).toEqual(['msg_wp-c2/0 fresh']);
      expect(await deliveries()).toEqual([]);
      // A claimed event is not claimed again while its lease lasts; one recorded since is.
      await comment('wp-c3', 21);
      const second = await store.webhookPass({ at: at(30), outcomes: [], eventsDone: [], dispatch: dispatch(30), claim: claim(30) });
      expect(mine(second.claimed)).toEqual(['msg_wp-c3/0 fresh']);
      const c2 = first.claimed.find((c) => c.eventId === 'msg_wp-c2')!;
      const c3 = second.claimed.find((c) => c.eventId === 'msg_wp-c3')!;
      // Outcomes are recorded before the claims: each fresh delivery's row is written once, with its
      // attempt; a failed attempt due again now is claimed again at once, as a row.
      const ok = { at: at(40), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      const failed = { ...ok, succeeded: false, statusCode: 500, error: 'HTTP 500', nextAttemptAt: at(40) };
      const third = await store.webhookPass({
        at: at(40),
        outcomes: [{ delivery: c2, result: ok }, { delivery: c3, result: failed }],
        eventsDone: ['msg_wp-c2', 'msg_wp-c3'],
        dispatch: dispatch(40),
        claim: claim(40),
      });
      expect(third.disabledEndpoints).toEqual([]);
      expect(mine(third.claimed)).toEqual(['msg_wp-c3/1']);
      expect(await deliveries()).toEqual(['msg_wp-c2:succeeded/1', 'msg_wp-c3:pending/1']);
      // An outcome that disables the endpoint (410 Gone): reported, and nothing of it is claimed.
      const gone = { ...failed, at: at(50), statusCode: 410, error: 'HTTP 410', nextAttemptAt: at(50), disableNow: 'the receiver answered 410 Gone' };
      const retried = third.claimed.find((c) => c.eventId === 'msg_wp-c3')!;
      const fourth = await store.webhookPass({ at: at(50), outcomes: [{ delivery: retried, result: gone }], eventsDone: [], dispatch: dispatch(50), claim: claim(50) });
      expect(fourth.disabledEndpoints.map((d) => d.id)).toEqual(['wh_pass']);
      expect(mine(fourth.claimed)).toEqual([]);
      expect(await deliveries()).toEqual(['msg_wp-c2:succeeded/1', 'msg_wp-c3:pending/2']);
      // Done events are not claimed again, even once their lease has lapsed.
      await store.updateWebhookEndpoint(e, 'wh_pass', { enabled: true }, at(60));
      expect(mine((await store.webhookPass({ at: at(200_000), outcomes: [], eventsDone: [], dispatch: dispatch(200_000), claim: null })).claimed)).toEqual([]);
    });

    it("writes the rows of a pass's fresh deliveries together, however many, one that comes twice as two attempts", async () => {
      const e = await env('env_whmany');
      await store.createWebhookEndpoint(e, { id: 'wh_many', url: 'https://m.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_MANY', createdAt: at() });
      await store.createThread(e, { id: 'wm-t', roomId: 'wm-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'wm-c0', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) });
      // More than one SQLite statement's worth of rows.
      for (let i = 1; i <= 40; i++) {
        const id = `wm-c${i}`;
        await commentWithEvent(e, 'wm-t', id, 10 + i);
      }
      const fresh = (await store.webhookPass({ at: at(100), outcomes: [], eventsDone: [], dispatch: { limit: 1000, giveUpAfterMs: 3600_000, leaseUntil: at(60_100) }, claim: null })).claimed
        .filter((c) => c.endpointId === 'wh_many')
        .sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
      expect(fresh).toHaveLength(40);
      const ok = { at: at(200), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      const failed = { ...ok, at: at(150), succeeded: false, statusCode: 500, error: 'HTTP 500', nextAttemptAt: at(150) };
      const [twice, later, timedOut, odd, ...rest] = fresh as [ClaimedDelivery, ClaimedDelivery, ClaimedDelivery, ClaimedDelivery, ...ClaimedDelivery[]];
      // What a receiver answers is kept as it came, whatever its characters.
      const answer = '{"a":"b\\c", "d": [1, null], "e": \'{x,y}\' }\n\tNULL';
      // One delivery twice in a pass (its event claimed again after a lapsed lease): failed, then sent.
      const pass = await store.webhookPass({
        at: at(200),
        outcomes: [
          { delivery: twice, result: failed },
          ...rest.map((delivery) => ({ delivery, result: ok })),
          { delivery: later, result: null },
          { delivery: timedOut, result: { ...failed, statusCode: null, error: 'timed out after 10000 ms' } },
          { delivery: odd, result: { ...ok, response: answer } },
          { delivery: twice, result: ok },
        ],
        eventsDone: fresh.map((c) => c.eventId),
        dispatch: null,
        claim: null,
      });
      expect(pass.disabledEndpoints).toEqual([]);
      const rows = new Map((await store.listWebhookDeliveries(e, 'wh_many', 100)).map((d) => [d.id, `${d.status}/${d.attempts}`]));
      expect(rows.size).toBe(40);
      expect(rows.get(twice.id)).toBe('succeeded/2');
      expect(rows.get(later.id)).toBe('pending/0');
      expect(rows.get(timedOut.id)).toBe('pending/1');
      expect(rest.every((d) => rows.get(d.id) === 'succeeded/1')).toBe(true);
      const stored = new Map((await store.listWebhookDeliveries(e, 'wh_many', 100)).map((d) => [d.id, d]));
      expect(stored.get(timedOut.id)).toMatchObject({ lastStatusCode: null, lastError: 'timed out after 10000 ms', lastResponse: null, nextAttemptAt: at(150) });
      expect(stored.get(odd.id)).toMatchObject({ lastStatusCode: 204, lastResponse: answer, lastLatencyMs: 3 });
      // A claimed row given back unattempted is let go by the pass: claimable again at once.
      const claim = (ms: number) => ({ leaseUntil: at(ms + 60_000), limits: { total: 100, perEndpoint: 10 }, skipEndpoints: [] });
      const claimedAt = async (ms: number, outcomes: WebhookOutcome[] = []) =>
        (await store.webhookPass({ at: at(ms), outcomes, eventsDone: [], dispatch: null, claim: claim(ms) })).claimed.filter((c) => c.endpointId === 'wh_many');
      const row = (await claimedAt(300)).find((c) => c.id === later.id)!;
      expect(row).toMatchObject({ attempts: 0 });
      expect((await claimedAt(310)).map((c) => c.id)).not.toContain(later.id);
      expect((await claimedAt(320, [{ delivery: row, result: null }])).map((c) => c.id)).toContain(later.id);
    });

    it("claims an endpoint's deliveries given back unattempted oldest event first, whichever pass gave them back", async () => {
      const e = await env('env_whback2');
      await store.createWebhookEndpoint(e, { id: 'wh_o', url: 'https://o.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_OOOO', createdAt: at() });
      await store.createThread(e, { id: 'o-t', roomId: 'o-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'o-c0', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) });
      for (const [i, id] of ['o-c1', 'o-c2', 'o-c3', 'o-c4'].entries()) {
        await commentWithEvent(e, 'o-t', id, 11 + i, { userId: 'alice' });
      }
      const claim = (ms: number) => ({ leaseUntil: at(ms + 60_000), limits: { total: 100, perEndpoint: 2 }, skipEndpoints: [] as string[] });
      const fresh = (await store.webhookPass({ at: at(20), outcomes: [], eventsDone: [], dispatch: { limit: 100, giveUpAfterMs: 86_400_000, leaseUntil: at(60_000) }, claim: null })).claimed.filter(
        (c) => c.endpointId === 'wh_o',
      );
      const of = (id: string) => fresh.find((d) => d.eventId === `msg_${id}`)!;
      // c3 and c4 are given back at once (no room), while the endpoint is skipped by the claim...
      await store.webhookPass({ at: at(30), outcomes: [of('o-c3'), of('o-c4')].map((delivery) => ({ delivery, result: null })), eventsDone: ['msg_o-c3', 'msg_o-c4'], dispatch: null, claim: { ...claim(30), skipEndpoints: ['wh_o'] } });
      // ...c1 and c2 later (they could not start before their claim ran short): the claim takes them first.
      const claimed = (await store.webhookPass({ at: at(40), outcomes: [of('o-c1'), of('o-c2')].map((delivery) => ({ delivery, result: null })), eventsDone: ['msg_o-c1', 'msg_o-c2'], dispatch: null, claim: claim(40) })).claimed;
      expect(claimed.filter((c) => c.endpointId === 'wh_o').map((c) => c.eventId)).toEqual(['msg_o-c1', 'msg_o-c2']);
    });

    it('gives an event held by a node that died to the next claim once its lease lapses, for the deliveries still missing', async () => {
      const e = await env('env_whlapse');
      for (const id of ['wh_la', 'wh_lb', 'wh_lc']) {
        await store.createWebhookEndpoint(e, { id, url: `https://${id}.example/h`, description: '', events: [], enabled: true, secret: 'whsec_LAPS', createdAt: at() });
      }
      await thread(e, 'la-t', 'la-room', 10);
      const dispatch = (ms: number) => ({ limit: 1000, giveUpAfterMs: 3600_000, leaseUntil: at(ms + 60_000) });
      const held = async (ms: number, outcomes: { delivery: ClaimedDelivery; result: WebhookAttemptResult | null }[] = []) =>
        (await store.webhookPass({ at: at(ms), outcomes, eventsDone: [], dispatch: dispatch(ms), claim: null })).claimed.filter((c) => c.environmentId === e);
      const first = await held(20);
      const events = [...new Set(first.map((c) => c.eventId))];
      expect(first.map((c) => c.endpointId).sort()).toEqual(events.flatMap(() => ['wh_la', 'wh_lb', 'wh_lc']).sort());
      expect(first.every((c) => c.freshSince === at(20) && c.attempts === 0)).toBe(true);
      // The node records one attempt and lets one go unattempted (pending, due at once), then dies
      // holding the third: nothing comes back before the lease ends...
      const [a, b] = [first.find((c) => c.endpointId === 'wh_la')!, first.find((c) => c.endpointId === 'wh_lb')!];
      const ok = { at: at(30), succeeded: true, statusCode: 200, error: null, latencyMs: 1, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      expect(await held(30, [{ delivery: a, result: ok }, { delivery: b, result: null }])).toEqual([]);
      const rows = async () => Object.fromEntries((await Promise.all(['wh_la', 'wh_lb', 'wh_lc'].map((id) => store.listWebhookDeliveries(e, id, 10)))).flat().map((d) => [d.endpointId, `${d.status}/${d.attempts}`]));
      expect(await rows()).toEqual({ wh_la: 'succeeded/1', wh_lb: 'pending/0' });
      expect(await held(60_019)).toEqual([]);
      // ...then the claim lapses and the event comes back for the one endpoint it still lacks, with the same delivery id.
      const again = await held(60_021);
      expect(again.map((c) => [c.endpointId, c.id])).toEqual(first.filter((c) => c.endpointId === 'wh_lc').map((c) => [c.endpointId, c.id]));
      // An endpoint deleted meanwhile gets no row; an event whose deliveries all have rows is dispatched.
      await store.deleteWebhookEndpoint(e, 'wh_lc');
      await store.webhookPass({ at: at(60_030), outcomes: [{ delivery: again[0]!, result: { ...ok, at: at(60_030) } }], eventsDone: [], dispatch: null, claim: null });
      expect(await rows()).toEqual({ wh_la: 'succeeded/1', wh_lb: 'pending/0' });
      expect(await held(200_000)).toEqual([]);
    });

    it('holds the row recovery makes of a delivery still being sent fresh until its attempt lands on it, or it is let go', async () => {
      const e = await env('env_whrev');
      await store.createWebhookEndpoint(e, { id: 'wh_rev', url: 'https://rev.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_REV', createdAt: at() });
      await store.createThread(e, { id: 'rv-t', roomId: 'rv-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'rv-c1', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) });
      await commentWithEvent(e, 'rv-t', 'rv-c2', 11, { body: 'x' });
      const [fresh] = (await store.webhookPass({ at: at(20), outcomes: [], eventsDone: [], dispatch: { limit: 1000, giveUpAfterMs: 3600_000, leaseUntil: at(80_000) }, claim: null })).claimed.filter(
        (c) => c.endpointId === 'wh_rev',
      );
      expect(fresh).toMatchObject({ eventId: 'msg_rv-c2', freshSince: at(20) });
      // "Recover missed events" makes the row while the event is held...
      expect(await store.recoverWebhookDeliveries(e, 'wh_rev', at(0), at(30), at(3600_000))).toBe(1);
      const claim = (ms: number) => ({ leaseUntil: at(ms + 60_000), limits: { total: 100, perEndpoint: 10 }, skipEndpoints: [] });
      const mine = async (ms: number) =>
        (await store.webhookPass({ at: at(ms), outcomes: [], eventsDone: [], dispatch: null, claim: claim(ms) })).claimed.filter((c) => c.endpointId === 'wh_rev').map((c) => c.id);
      // ...which no claim hands out while the fresh attempt may still be under way.
      expect(await mine(40)).toEqual([]);
      // The attempt lands on the row; a success is not undone by a later duplicate's failure.
      const ok = { at: at(50), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      await store.webhookPass({ at: at(50), outcomes: [{ delivery: fresh!, result: ok }], eventsDone: ['msg_rv-c2'], dispatch: null, claim: null });
      const failed = { ...ok, at: at(60), succeeded: false, statusCode: 500, error: 'HTTP 500', nextAttemptAt: at(60) };
      await store.webhookPass({ at: at(60), outcomes: [{ delivery: fresh!, result: failed }], eventsDone: [], dispatch: null, claim: null });
      expect((await store.listWebhookDeliveries(e, 'wh_rev', 10)).map((d) => `${d.status}/${d.attempts}`)).toEqual(['succeeded/1']);
      expect(await mine(70)).toEqual([]);
      // Recovered while held, then let go unattempted (the node stops): claimable at once.
      await commentWithEvent(e, 'rv-t', 'rv-c3', 80, { body: 'y' });
      const [next] = (await store.webhookPass({ at: at(90), outcomes: [], eventsDone: [], dispatch: { limit: 1000, giveUpAfterMs: 3600_000, leaseUntil: at(90_000) }, claim: null })).claimed.filter(
        (c) => c.endpointId === 'wh_rev',
      );
      expect(await store.recoverWebhookDeliveries(e, 'wh_rev', at(75), at(95), at(3600_000))).toBe(1);
      expect(await mine(100)).toEqual([]);
      await store.webhookPass({ at: at(110), outcomes: [{ delivery: next!, result: null }], eventsDone: ['msg_rv-c3'], dispatch: null, claim: null });
      expect(await mine(120)).toEqual([next!.id]);
    });

    it('brings the waiting retries of an endpoint back from an outage forward, not after one failure among successes', async () => {
      const e = await env('env_whback');
      await store.createWebhookEndpoint(e, { id: 'wh_back', url: 'https://b.example/h', description: '', events: ['comment.created'], enabled: true, secret: 'whsec_BACK', createdAt: at() });
      await store.createThread(e, { id: 'wb-t', roomId: 'wb-room', position: null, createdBy: 'alice', createdAt: at(10) }, { id: 'wb-c1', userId: 'alice', body: 'hi', mentions: [], createdAt: at(10) });
      for (const id of ['wb-c2', 'wb-c3', 'wb-c4', 'wb-c5']) {
        await commentWithEvent(e, 'wb-t', id, 11);
      }
      const claim = (ms: number) => ({ leaseUntil: at(ms + 60_000), limits: { total: 100, perEndpoint: 10 }, skipEndpoints: [] });
      const pass = (ms: number, outcomes: { delivery: ClaimedDelivery; result: WebhookAttemptResult }[]) =>
        store.webhookPass({ at: at(ms), outcomes, eventsDone: [], dispatch: { limit: 100, giveUpAfterMs: 86_400_000, leaseUntil: at(ms + 60_000) }, claim: claim(ms) });
      const claimed = (await pass(20, [])).claimed.filter((c) => c.endpointId === 'wh_back');
      const [c2, c3, c4, c5] = ['msg_wb-c2', 'msg_wb-c3', 'msg_wb-c4', 'msg_wb-c5'].map((id) => claimed.find((c) => c.eventId === id)!);
      const result = (ms: number, succeeded: boolean, outageMs = 60_000): WebhookAttemptResult => ({
        at: at(ms), succeeded, statusCode: succeeded ? 204 : 503, error: succeeded ? null : 'HTTP 503', latencyMs: 2, response: null,
        nextAttemptAt: succeeded ? null : at(ms + 3_600_000), disableIfFailingSince: at(0), outageIfFailingSince: at(ms - outageMs),
      });
      const next = async (id: string) => (await store.listWebhookDeliveries(e, 'wh_back', 10)).find((d) => d.id === id)!.nextAttemptAt;
      // The attempts are fresh: their rows are written with the outcome.
      // c2 fails at 30 s: its retry is an hour away. c3 succeeds 10 s later: one failure among
      // successes, not an outage, so c2 keeps its backoff.
      await pass(30_000, [{ delivery: c2!, result: result(30_000, false) }]);
      await pass(40_000, [{ delivery: c3!, result: result(40_000, true) }]);
      expect(await next(c2!.id)).toBe(at(3_630_000));
      expect((await store.getWebhookEndpoint(e, 'wh_back'))!.failingSince).toBeNull();
      // c5 fails at 50 s, and nothing succeeds for over a minute: then c4's 2xx brings the waiting retries forward.
      await pass(50_000, [{ delivery: c5!, result: result(50_000, false) }]);
      expect((await store.getWebhookEndpoint(e, 'wh_back'))!.failingSince).toBe(at(50_000));
      expect(await next(c2!.id)).toBe(at(3_630_000));
      const back = await pass(200_000, [{ delivery: c4!, result: result(200_000, true) }]);
      expect(await next(c2!.id)).toBe(at(200_000));
      expect(back.claimed.map((c) => c.id)).toContain(c2!.id);
    });
  });
}
