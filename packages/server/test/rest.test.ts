import { readFileSync } from 'node:fs';
import { colorForUser, ERROR_CATALOGUE, LIMITS, REST_ROUTES, type RestRoute, type RestRouteName } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { openStore } from '../src/store/index.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';

/** Integration tests of the REST API v1 and POST /auth/token against a real server, on both store drivers. */

type Res = { status: number; body: any };

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const THREAD_KEYS = ['createdAt', 'createdBy', 'id', 'position', 'positionX', 'positionY', 'resolved', 'roomId', 'updatedAt'];
const COMMENT_KEYS = ['attachments', 'body', 'createdAt', 'editedAt', 'id', 'mentions', 'reactions', 'threadId', 'userId'];
const REACTION_KEYS = ['createdAt', 'emoji', 'id', 'targetId', 'targetType', 'userId'];
const USER_KEYS = ['avatar', 'color', 'createdAt', 'externalId', 'id', 'name'];
const ROOM_KEYS = ['createdAt', 'environmentId', 'id', 'metadata'];

const keys = (o: object) => Object.keys(o).sort();
const enc = encodeURIComponent;

let counter = 0;
/** A name no other test uses, so tests stay independent on one shared server. */
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

/** Every error body is `{ error: { code, message } }` with the catalogue's status. */
function expectError(res: Res, status: number, code: string | string[], messageIncludes?: string) {
  const codes = Array.isArray(code) ? code : [code];
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toBeTypeOf('object');
  expect(keys(res.body)).toEqual(['error']);
  expect(keys(res.body.error)).toEqual(['code', 'message']);
  expect(codes).toContain(res.body.error.code);
  expect(ERROR_CATALOGUE[res.body.error.code as keyof typeof ERROR_CATALOGUE]?.status).toBe(status);
  expect(res.body.error.message).toBeTypeOf('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  if (messageIncludes) expect(res.body.error.message).toContain(messageIncludes);
}

/** The response matches the route table's status and schema. */
function expectRoute(name: RestRouteName, res: Res, status: number = REST_ROUTES[name].status) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  const route: RestRoute = REST_ROUTES[name];
  if (!route.response) return;
  const parsed = route.response.safeParse(res.body);
  expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues)).toBe(true);
}

function expectThreadShape(thread: any) {
  expect(keys(thread)).toEqual(THREAD_KEYS);
  expect(thread.createdAt).toMatch(ISO_MS);
  expect(thread.updatedAt).toMatch(ISO_MS);
  expect(typeof thread.resolved).toBe('boolean');
}
function expectCommentShape(comment: any) {
  expect(keys(comment)).toEqual(COMMENT_KEYS);
  expect(comment.createdAt).toMatch(ISO_MS);
  if (comment.editedAt !== null) expect(comment.editedAt).toMatch(ISO_MS);
  for (const r of comment.reactions) expectReactionShape(r);
}
function expectReactionShape(reaction: any) {
  expect(keys(reaction)).toEqual(REACTION_KEYS);
  expect(reaction.targetType).toBe('comment');
  expect(reaction.createdAt).toMatch(ISO_MS);
}
function expectUserShape(user: any, envId: string, externalId: string) {
  expect(keys(user)).toEqual(USER_KEYS);
  expect(envId).toMatch(/^env/);
  expect(user.id).toBe(`${envId}:${externalId}`);
  expect(user.externalId).toBe(externalId);
  expect(user.color).toMatch(/^#[0-9a-fA-F]{6}$/);
  expect(user.createdAt).toMatch(ISO_MS);
}

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`REST API v1 (${driver})`, () => {
    let t: TestServer;
    /** Environment B: a second tenant on the same server. */
    let envB: { id: string; publishableKey: string; secretKey: string };

    const api = (method: string, path: string, body?: unknown, key?: string): Promise<Res> => t.api(method, path, body, key);
    const raw = (path: string, init: RequestInit = {}) => fetch(t.url + path, init);
    const rawApi = async (path: string, init: RequestInit = {}): Promise<Res & { contentType: string | null }> => {
      const res = await raw(path, init);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body, contentType: res.headers.get('content-type') };
    };
    const putUser = async (userId: string, body: Record<string, unknown> = { name: `Name of ${userId}` }, key?: string) => {
      const res = await api('PUT', `/api/v1/users/${enc(userId)}`, body, key);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.user;
    };
    const createThread = async (roomId: string, fields: Record<string, unknown>, key?: string) => {
      const res = await api('POST', `/api/v1/rooms/${enc(roomId)}/threads`, fields, key);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.thread;
    };
    const addComment = async (threadId: string, fields: Record<string, unknown>, key?: string) => {
      const res = await api('POST', `/api/v1/threads/${threadId}/comments`, fields, key);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.comment;
    };

    const ALICE = 'alice';
    const BOB = 'bob';

    beforeAll(async () => {
      t = await startTestServer(driver);
      envB = await t.server.ctx.environments.create('Environment B');
      await putUser(ALICE, { name: 'Alice Chen', avatar: 'https://example.com/alice.png' });
      await putUser(BOB, { name: 'Bob Smith' });
    });
    afterAll(async () => {
      await t?.close();
    });

    // ------------------------------------------------------------------ authentication

    describe('authentication', () => {
      /** Every route of the table, with dummy path parameters. */
      const everyRoute = () =>
        (Object.entries(REST_ROUTES) as [RestRouteName, (typeof REST_ROUTES)[RestRouteName]][]).map(([name, route]) => ({
          name,
          method: route.method,
          path: route.path.replace(/:(\w+)/g, (_m, p: string) => `some-${p}`),
        }));

      it('rejects every endpoint without an Authorization header with 401 unauthorized', async () => {
        for (const route of everyRoute()) {
          const body = ['POST', 'PUT', 'PATCH'].includes(route.method) ? {} : undefined;
          const res = await api(route.method, route.path, body, '');
          expectError(res, 401, 'unauthorized');
        }
      });

      it('rejects malformed Authorization headers with 401 unauthorized', async () => {
        for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', t.secretKey, `Token ${t.secretKey}`, `Bearer ${t.secretKey} extra`]) {
          const res = await rawApi('/api/v1/rooms', { headers: { authorization: header } });
          expectError(res, 401, 'unauthorized');
          expect(res.contentType).toMatch(/^application\/json/);
        }
      });

      it('rejects an unknown secret key and a non-key with 401 invalid_api_key', async () => {
        const unknown = `sk_${'0'.repeat(48)}`;
        expectError(await api('GET', '/api/v1/rooms', undefined, unknown), 401, 'invalid_api_key');
        expectError(await api('GET', '/api/v1/rooms', undefined, 'not-a-key'), 401, 'invalid_api_key');
        // A secret key with one character changed is unknown too.
        const altered = t.secretKey.slice(0, -1) + (t.secretKey.endsWith('a') ? 'b' : 'a');
        expectError(await api('GET', '/api/v1/users', undefined, altered), 401, 'invalid_api_key');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U' }, unknown), 401, 'invalid_api_key');
        // A user token sent instead: the answer says which key the REST API takes.
        const { token } = (await api('POST', '/auth/token', { userId: 'u', name: 'U' })).body;
        const asKey = await api('GET', '/api/v1/rooms', undefined, token);
        expectError(asKey, 401, 'invalid_api_key');
        expect(asKey.body.error.message).toMatch(/user token .*secret key/);
      });

      it('rejects the publishable key used as Bearer with 401 publishable_key_not_allowed', async () => {
        expectError(await api('GET', '/api/v1/rooms', undefined, t.publishableKey), 401, 'publishable_key_not_allowed');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U' }, t.publishableKey), 401, 'publishable_key_not_allowed');
        expectError(await api('PUT', '/api/v1/users/u', { name: 'U' }, t.publishableKey), 401, 'publishable_key_not_allowed');
      });

      it('rejects a revoked secret key at once with 401 key_revoked', async () => {
        const env = await t.server.ctx.environments.create(uid('revoke'));
        expectRoute('listRooms', await api('GET', '/api/v1/rooms', undefined, env.secretKey));
        const sk = (await t.server.ctx.environments.keys(env.id)).find((k) => k.kind === 'secret' && !k.revokedAt)!;
        await t.server.ctx.environments.revoke(env.id, sk.id);
        expectError(await api('GET', '/api/v1/rooms', undefined, env.secretKey), 401, 'key_revoked');
        expectError(await api('PUT', '/api/v1/users/u', { name: 'U' }, env.secretKey), 401, 'key_revoked');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U' }, env.secretKey), 401, 'key_revoked');
      });

      it('rejects a rotated-away secret key at once; the new key works and sees the same data', async () => {
        const env = await t.server.ctx.environments.create(uid('rotate'));
        await putUser('rot-user', { name: 'Rot' }, env.secretKey);
        const thread = await createThread('rot-room', { userId: 'rot-user', body: 'before rotation' }, env.secretKey);
        const rotated = await t.server.ctx.environments.rotate(env.id);
        expect(rotated.revokedKeyIds.length).toBe(2);
        expectError(await api('GET', `/api/v1/threads/${thread.id}`, undefined, env.secretKey), 401, 'key_revoked');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U' }, env.secretKey), 401, 'key_revoked');
        const res = await api('GET', `/api/v1/threads/${thread.id}`, undefined, rotated.secretKey);
        expectRoute('getThread', res);
        expect(res.body.comments[0].body).toBe('before rotation');
        expectError(await api('GET', '/api/v1/rooms', undefined, rotated.publishableKey), 401, 'publishable_key_not_allowed');
      });
    });

    // ------------------------------------------------------------------ POST /auth/token

    describe('POST /auth/token', () => {
      it('returns { token, expiresAt, user } with a namespaced user id and a deterministic colour', async () => {
        const before = Date.now();
        const res = await api('POST', '/auth/token', { userId: 'token-user', name: 'Token User', avatar: 'https://example.com/a.png' });
        expectRoute('mintToken', res);
        expect(keys(res.body)).toEqual(['expiresAt', 'token', 'user']);
        expect(res.body.token.split('.')).toHaveLength(3);
        expect(res.body.expiresAt).toMatch(ISO_MS);
        const lifetimeS = (Date.parse(res.body.expiresAt) - before) / 1000;
        expect(lifetimeS).toBeGreaterThan(3590);
        expect(lifetimeS).toBeLessThanOrEqual(3601);
        expect(res.body.user).toEqual({
          id: `${t.envId}:token-user`,
          externalId: 'token-user',
          name: 'Token User',
          avatar: 'https://example.com/a.png',
          color: colorForUser('token-user'),
        });
      });

      it('gives the same user the same colour in every environment', async () => {
        const userId = uid('colour');
        const a = await api('POST', '/auth/token', { userId, name: 'C' });
        const b = await api('POST', '/auth/token', { userId, name: 'C' }, envB.secretKey);
        expect(a.status).toBe(200);
        expect(b.status).toBe(200);
        expect(a.body.user.color).toBe(colorForUser(userId));
        expect(b.body.user.color).toBe(a.body.user.color);
        expect(a.body.user.id).toBe(`${t.envId}:${userId}`);
        expect(b.body.user.id).toBe(`${envB.id}:${userId}`);
      });

      it('uses a colour given in the body', async () => {
        const res = await api('POST', '/auth/token', { userId: uid('c'), name: 'C', color: '#123abc' });
        expect(res.status).toBe(200);
        expect(res.body.user.color).toBe('#123abc');
        expect(res.body.user.avatar).toBeNull();
      });

      it('validates the body, naming the field', async () => {
        expectError(await api('POST', '/auth/token', { name: 'No id' }), 400, 'validation_failed', 'userId');
        expectError(await api('POST', '/auth/token', { userId: 'u' }), 400, 'validation_failed', 'name');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U', role: 'admin' }), 400, 'validation_failed', '"role"');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U', color: 'blue' }), 400, 'validation_failed', 'color');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U', avatar: 'javascript:alert(1)' }), 400, 'validation_failed', 'avatar');
        expectError(await api('POST', '/auth/token', { userId: 'u', name: 'U', expiresIn: 59 }), 400, 'validation_failed', 'expiresIn');
        expectError(await api('POST', '/auth/token', '{"userId":'), 400, 'invalid_json');
      });
    });

    // ------------------------------------------------------------------ rooms

    describe('rooms', () => {
      it('creates a room on first use and returns it with its threads', async () => {
        const roomId = uid('first-use');
        expectError(await api('GET', `/api/v1/rooms/${roomId}`), 404, 'room_not_found');
        expectError(await api('GET', `/api/v1/rooms/${roomId}/threads`), 404, 'room_not_found');

        const thread = await createThread(roomId, { userId: ALICE, body: 'hello room' });
        const res = await api('GET', `/api/v1/rooms/${roomId}`);
        expectRoute('getRoom', res);
        expect(keys(res.body)).toEqual(['room', 'threads']);
        expect(keys(res.body.room)).toEqual(ROOM_KEYS);
        expect(res.body.room).toMatchObject({ id: roomId, environmentId: t.envId, metadata: null });
        expect(res.body.room.createdAt).toMatch(ISO_MS);
        expect(res.body.threads).toHaveLength(1);
        expectThreadShape(res.body.threads[0]);
        expect(res.body.threads[0].id).toBe(thread.id);

        const list = await api('GET', '/api/v1/rooms?limit=200');
        expectRoute('listRooms', list);
        expect(keys(list.body)).toEqual(['items', 'nextCursor']);
        const listed = list.body.items.find((r: any) => r.id === roomId);
        expect(listed).toEqual(res.body.room);
        for (const room of list.body.items) expect(keys(room)).toEqual(ROOM_KEYS);
      });

      it('pages the room list with limit and cursor', async () => {
        for (let i = 0; i < 3; i++) await createThread(uid('room-page'), { userId: ALICE, body: 'x' });
        const all = (await api('GET', '/api/v1/rooms?limit=200')).body.items.map((r: any) => r.id);
        expect(all.length).toBeGreaterThanOrEqual(3);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res: Res = await api('GET', `/api/v1/rooms?limit=2${cursor ? `&cursor=${enc(cursor)}` : ''}`);
          expectRoute('listRooms', res);
          expect(res.body.items.length).toBeLessThanOrEqual(2);
          seen.push(...res.body.items.map((r: any) => r.id));
          cursor = res.body.nextCursor;
          pages++;
        } while (cursor && pages < 100);
        expect(seen).toEqual(all);
      });

      it('pages past rooms with the longest ids', async () => {
        // 256 characters of three UTF-8 bytes each: the cursor naming such a room is over 1,000 characters.
        const long = (c: string) => `${c}${'€'.repeat(255)}`;
        for (const c of ['a', 'b']) await createThread(long(c), { userId: ALICE, body: 'long id' });
        const first = await api('GET', '/api/v1/rooms?limit=200');
        const index = first.body.items.findIndex((r: any) => r.id === long('a'));
        const page: Res = await api('GET', `/api/v1/rooms?limit=${index + 1}`);
        expect(page.body.nextCursor.length).toBeGreaterThan(1000);
        const next: Res = await api('GET', `/api/v1/rooms?limit=1&cursor=${enc(page.body.nextCursor)}`);
        expect(next.status).toBe(200);
        expect(next.body.items.map((r: any) => r.id)).toEqual([long('b')]);
      });

      it('accepts room ids containing "/" sent as %2F', async () => {
        const roomId = `docs/${uid('page')}/section 1`;
        const thread = await createThread(roomId, { userId: ALICE, body: 'slashes' });
        expect(thread.roomId).toBe(roomId);
        const room = await api('GET', `/api/v1/rooms/${enc(roomId)}`);
        expectRoute('getRoom', room);
        expect(room.body.room.id).toBe(roomId);
        expect(room.body.threads.map((th: any) => th.id)).toEqual([thread.id]);
        const threads = await api('GET', `/api/v1/rooms/${enc(roomId)}/threads`);
        expectRoute('listThreads', threads);
        expect(threads.body.items.map((th: any) => th.id)).toEqual([thread.id]);
        const presence = await api('GET', `/api/v1/rooms/${enc(roomId)}/presence`);
        expect(presence).toEqual({ status: 200, body: { items: [] } });
        const list = await api('GET', '/api/v1/rooms?limit=200');
        expect(list.body.items.map((r: any) => r.id)).toContain(roomId);
      });

      it('GET /rooms/:roomId/presence returns { items: [] } when nobody is connected', async () => {
        const roomId = uid('presence');
        await createThread(roomId, { userId: ALICE, body: 'x' });
        const res = await api('GET', `/api/v1/rooms/${roomId}/presence`);
        expectRoute('getPresence', res);
        expect(res.body).toEqual({ items: [] });
      });
    });

    // ------------------------------------------------------------------ threads

    describe('threads', () => {
      it('creates a thread with its first comment (201, full shape)', async () => {
        const roomId = uid('create');
        const position = { x: 0.45, y: 0.72, selector: '#main > .card', path: '/dashboard' };
        const res = await api('POST', `/api/v1/rooms/${roomId}/threads`, {
          userId: ALICE,
          body: 'Deployment failed — see CI logs',
          mentions: [BOB, BOB],
          position,
        });
        expectRoute('createThread', res, 201);
        expect(keys(res.body)).toEqual(['thread']);
        const thread = res.body.thread;
        expect(keys(thread)).toEqual([...THREAD_KEYS, 'comments'].sort());
        expect(thread.id).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(thread).toMatchObject({ roomId, resolved: false, position, positionX: 0.45, positionY: 0.72 });
        expect(thread.createdAt).toMatch(ISO_MS);
        expect(thread.updatedAt).toMatch(ISO_MS);
        expect(thread.comments).toHaveLength(1);
        const [comment] = thread.comments;
        expectCommentShape(comment);
        expect(comment).toMatchObject({
          threadId: thread.id,
          userId: ALICE,
          body: 'Deployment failed — see CI logs',
          mentions: [BOB],
          editedAt: null,
          reactions: [],
          attachments: [],
        });
      });

      it('creates an unpinned thread with position null and honours a client-supplied id', async () => {
        const id = uid('client_thread');
        const thread = await createThread(uid('room'), { id, userId: ALICE, body: 'no pin' });
        expect(thread.id).toBe(id);
        expect(thread.position).toBeNull();
        expect(thread.positionX).toBeNull();
        expect(thread.positionY).toBeNull();
        expect(thread.comments[0].mentions).toEqual([]);
      });

      it('GET /threads/:id returns { thread, comments }', async () => {
        const created = await createThread(uid('room'), { userId: ALICE, body: 'first' });
        const reply = await addComment(created.id, { userId: BOB, body: 'second' });
        const res = await api('GET', `/api/v1/threads/${created.id}`);
        expectRoute('getThread', res);
        expect(keys(res.body)).toEqual(['comments', 'thread']);
        expectThreadShape(res.body.thread);
        expect(res.body.thread.id).toBe(created.id);
        expect(res.body.comments.map((c: any) => c.body)).toEqual(['first', 'second']);
        expect(res.body.comments[1].id).toBe(reply.id);
        res.body.comments.forEach(expectCommentShape);
        expectError(await api('GET', '/api/v1/threads/no_such_thread'), 404, 'thread_not_found');
      });

      it('GET /threads/:id shows every change at once, also one written by another process', async () => {
        const created = await createThread(uid('room'), { userId: ALICE, body: 'first' });
        const get = async () => (await api('GET', `/api/v1/threads/${created.id}`)).body;
        expect((await get()).comments).toHaveLength(1);

        const reply = await addComment(created.id, { userId: BOB, body: 'second' });
        expect((await get()).comments.map((c: any) => c.body)).toEqual(['first', 'second']);
        expect((await api('PATCH', `/api/v1/comments/${reply.id}`, { body: 'second, edited' })).status).toBe(200);
        expect((await get()).comments[1].body).toBe('second, edited');
        const reaction = (await api('POST', `/api/v1/comments/${reply.id}/reactions`, { userId: ALICE, emoji: '👍' })).body.reaction;
        expect((await get()).comments[1].reactions.map((r: any) => r.emoji)).toEqual(['👍']);
        expect((await api('DELETE', `/api/v1/reactions/${reaction.id}`)).status).toBe(200);
        expect((await get()).comments[1].reactions).toEqual([]);
        expect((await api('PATCH', `/api/v1/threads/${created.id}`, { resolved: true })).status).toBe(200);
        expect((await get()).thread.resolved).toBe(true);

        // A second store on the same database (as the CLI or another cluster node would be): this
        // server's caches never saw the write.
        const other = await openStore({
          sqliteFile: join(t.options.dataDir, 'pulse.db'),
          ...(t.options.databaseUrl ? { databaseUrl: t.options.databaseUrl } : {}),
          ...(t.options.databaseSchema ? { databaseSchema: t.options.databaseSchema } : {}),
        });
        try {
          const at = new Date().toISOString();
          await other.createComment(t.envId, { id: uid('cm'), threadId: created.id, userId: `${t.envId}:${BOB}`, body: 'from elsewhere', mentions: [], createdAt: at });
          expect((await get()).comments.map((c: any) => c.body)).toEqual(['first', 'second, edited', 'from elsewhere']);
          await other.deleteThread(t.envId, created.id);
          expectError(await api('GET', `/api/v1/threads/${created.id}`), 404, 'thread_not_found');
        } finally {
          await other.close();
        }
      });

      it('PATCH resolves and reopens a thread', async () => {
        const created = await createThread(uid('room'), { userId: ALICE, body: 'resolve me' });
        const resolved = await api('PATCH', `/api/v1/threads/${created.id}`, { resolved: true });
        expectRoute('patchThread', resolved);
        expect(keys(resolved.body)).toEqual(['thread']);
        expectThreadShape(resolved.body.thread);
        expect(resolved.body.thread).toMatchObject({ id: created.id, resolved: true, createdAt: created.createdAt });
        expect(Date.parse(resolved.body.thread.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
        expect((await api('GET', `/api/v1/threads/${created.id}`)).body.thread.resolved).toBe(true);

        const reopened = await api('PATCH', `/api/v1/threads/${created.id}`, { resolved: false });
        expectRoute('patchThread', reopened);
        expect(reopened.body.thread.resolved).toBe(false);
        expectError(await api('PATCH', '/api/v1/threads/no_such_thread', { resolved: true }), 404, 'thread_not_found');
        expectError(await api('PATCH', `/api/v1/threads/${created.id}`, { resolved: 'yes' }), 400, 'validation_failed', 'resolved');
        expectError(await api('PATCH', `/api/v1/threads/${created.id}`, {}), 400, 'validation_failed', 'resolved');
      });

      it('filters the thread list with resolved=true|false', async () => {
        const roomId = uid('filter');
        const a = await createThread(roomId, { userId: ALICE, body: 'a' });
        const b = await createThread(roomId, { userId: ALICE, body: 'b' });
        const c = await createThread(roomId, { userId: ALICE, body: 'c' });
        await api('PATCH', `/api/v1/threads/${b.id}`, { resolved: true });
        const ids = async (q: string) => {
          const res = await api('GET', `/api/v1/rooms/${roomId}/threads${q}`);
          expectRoute('listThreads', res);
          expect(keys(res.body)).toEqual(['items', 'nextCursor']);
          expect(res.body.nextCursor).toBeNull();
          res.body.items.forEach(expectThreadShape);
          return res.body.items.map((th: any) => th.id).sort();
        };
        expect(await ids('')).toEqual([a.id, b.id, c.id].sort());
        expect(await ids('?resolved=true')).toEqual([b.id]);
        expect(await ids('?resolved=false')).toEqual([a.id, c.id].sort());
        expectError(await api('GET', `/api/v1/rooms/${roomId}/threads?resolved=yes`), 400, 'validation_failed', 'resolved');
      });

      it('pages threads with limit and cursor: no duplicates, no gaps', async () => {
        const roomId = uid('paging');
        const created: string[] = [];
        for (let i = 0; i < 7; i++) created.push((await createThread(roomId, { userId: ALICE, body: `t${i}` })).id);
        const full = await api('GET', `/api/v1/rooms/${roomId}/threads`);
        expect(full.body.nextCursor).toBeNull();
        const order = full.body.items.map((th: any) => th.id);
        expect([...order].sort()).toEqual([...created].sort());

        const seen: string[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        do {
          const res: Res = await api('GET', `/api/v1/rooms/${roomId}/threads?limit=3${cursor ? `&cursor=${enc(cursor)}` : ''}`);
          expectRoute('listThreads', res);
          sizes.push(res.body.items.length);
          seen.push(...res.body.items.map((th: any) => th.id));
          cursor = res.body.nextCursor;
          if (cursor !== null) expect(typeof cursor).toBe('string');
        } while (cursor && sizes.length < 10);
        expect(sizes).toEqual([3, 3, 1]);
        expect(seen).toEqual(order);
        expect(new Set(seen).size).toBe(7);

        // The filter applies across pages too.
        await api('PATCH', `/api/v1/threads/${order[1]}`, { resolved: true });
        await api('PATCH', `/api/v1/threads/${order[5]}`, { resolved: true });
        const open: string[] = [];
        cursor = null;
        do {
          const res: Res = await api('GET', `/api/v1/rooms/${roomId}/threads?resolved=false&limit=2${cursor ? `&cursor=${enc(cursor)}` : ''}`);
          open.push(...res.body.items.map((th: any) => th.id));
          cursor = res.body.nextCursor;
        } while (cursor && open.length < 20);
        expect(open).toEqual(order.filter((_: string, i: number) => i !== 1 && i !== 5));
      });

      it('rejects a bad cursor, a bad limit and unknown query parameters with 400', async () => {
        const roomId = uid('badq');
        await createThread(roomId, { userId: ALICE, body: 'x' });
        const base = `/api/v1/rooms/${roomId}/threads`;
        expectError(await api('GET', `${base}?cursor=not-a-cursor`), 400, 'validation_failed', 'cursor');
        expectError(await api('GET', `${base}?cursor=${Buffer.from('{"a":1}').toString('base64url')}`), 400, 'validation_failed', 'cursor');
        // Well-formed but not ours: a cursor is the last item's creation time and id.
        expectError(await api('GET', `${base}?cursor=${Buffer.from('["x","y"]').toString('base64url')}`), 400, 'validation_failed', 'cursor');
        expectError(await api('GET', `${base}?cursor=${Buffer.from('["2026-13-45T99:00:00.000Z","y"]').toString('base64url')}`), 400, 'validation_failed', 'cursor');
        // A day that does not exist (Date.parse rolls 30 February over into March).
        expectError(await api('GET', `${base}?cursor=${Buffer.from('["2026-02-30T00:00:00.000Z","y"]').toString('base64url')}`), 400, 'validation_failed', 'cursor');
        expectError(await api('GET', '/api/v1/rooms?cursor=%%%'), 400, 'validation_failed');
        expectError(await api('GET', '/api/v1/users?cursor=garbage'), 400, 'validation_failed', 'cursor');
        expectError(await api('GET', `${base}?limit=0`), 400, 'validation_failed', 'limit');
        expectError(await api('GET', `${base}?limit=${LIMITS.pageMax + 1}`), 400, 'validation_failed', 'limit');
        expectError(await api('GET', `${base}?limit=abc`), 400, 'validation_failed', 'limit');
        expectError(await api('GET', `${base}?limit=1.5`), 400, 'validation_failed', 'limit');
        // A number written otherwise than in plain digits is not what the client meant.
        for (const limit of ['1e1', '010', '%205', '0x10', '']) expectError(await api('GET', `${base}?limit=${limit}`), 400, 'validation_failed', 'limit: must be a whole number');
        expectError(await api('GET', `${base}?cursor=`), 400, 'validation_failed', 'cursor');
        expectError(await api('GET', `${base}?sort=desc`), 400, 'validation_failed', '"sort"');
        // Endpoints that take no query parameters refuse them too, and a room id that cannot exist is bad input.
        for (const path of [`/api/v1/rooms/${roomId}`, `/api/v1/rooms/${roomId}/presence`, `/api/v1/rooms/${roomId}/shared`, '/api/v1/threads/thread_x']) {
          expectError(await api('GET', `${path}?foo=1`), 400, 'validation_failed', 'query: unknown parameter "foo"');
        }
        expectError(await api('PATCH', '/api/v1/threads/thread_x?foo=1', { resolved: true }), 400, 'validation_failed', 'query: unknown parameter "foo"');
        for (const bad of ['r'.repeat(257), 'a%01b']) expectError(await api('GET', `/api/v1/rooms/${bad}/presence`), 400, 'validation_failed', 'roomId');
        expect((await api('GET', `${base}?limit=${LIMITS.pageMax}`)).status).toBe(200);
      });

      it('refuses a DELETE whose body says anything: these endpoints take none, and nothing is deleted', async () => {
        const created = await createThread(uid('room'), { userId: ALICE, body: 'kept' });
        const reaction = (await api('POST', `/api/v1/comments/${created.comments[0].id}/reactions`, { userId: BOB, emoji: '👍' })).body.reaction;
        const room = created.roomId;
        for (const path of [`/api/v1/threads/${created.id}`, `/api/v1/comments/${created.comments[0].id}`, `/api/v1/reactions/${reaction.id}`, `/api/v1/rooms/${room}/shared`]) {
          expectError(await api('DELETE', path, { a: 1 }), 400, 'validation_failed', 'unknown field "a"');
          expectError(await api('DELETE', path, [1]), 400, 'validation_failed', 'takes no body');
          expectError(await api('DELETE', path, 'true'), 400, 'validation_failed', 'takes no body');
          expectError(await api('DELETE', path, 'null'), 400, 'validation_failed', 'takes no body');
        }
        expect((await api('GET', `/api/v1/threads/${created.id}`)).body.comments[0].reactions).toHaveLength(1);
        // An empty object is no body at all.
        expect((await api('DELETE', `/api/v1/reactions/${reaction.id}`, {})).status).toBe(200);
      });

      it('DELETE removes the thread and its comments', async () => {
        const created = await createThread(uid('room'), { userId: ALICE, body: 'doomed' });
        const reply = await addComment(created.id, { userId: BOB, body: 'also doomed' });
        const res = await api('DELETE', `/api/v1/threads/${created.id}`);
        expectRoute('deleteThread', res);
        expect(res.body).toEqual({ deleted: true });
        expectError(await api('GET', `/api/v1/threads/${created.id}`), 404, 'thread_not_found');
        expectError(await api('GET', `/api/v1/threads/${created.id}/comments`), 404, 'thread_not_found');
        expectError(await api('PATCH', `/api/v1/comments/${reply.id}`, { body: 'x' }), 404, 'comment_not_found');
        expectError(await api('DELETE', `/api/v1/threads/${created.id}`), 404, 'thread_not_found');
        expectError(await api('POST', `/api/v1/threads/${created.id}/comments`, { userId: ALICE, body: 'late' }), 404, 'thread_not_found');
      });
    });

    // ------------------------------------------------------------------ comments

    describe('comments', () => {
      it('adds a reply (201) and lists comments with items + nextCursor', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'question' });
        const res = await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: BOB, body: 'On it!', mentions: [ALICE] });
        expectRoute('createComment', res, 201);
        expect(keys(res.body)).toEqual(['comment']);
        expectCommentShape(res.body.comment);
        expect(res.body.comment).toMatchObject({
          threadId: thread.id,
          userId: BOB,
          body: 'On it!',
          mentions: [ALICE],
          editedAt: null,
          reactions: [],
          attachments: [],
        });

        const list = await api('GET', `/api/v1/threads/${thread.id}/comments`);
        expectRoute('listComments', list);
        expect(keys(list.body)).toEqual(['items', 'nextCursor']);
        expect(list.body.nextCursor).toBeNull();
        list.body.items.forEach(expectCommentShape);
        expect(list.body.items.map((c: any) => c.body)).toEqual(['question', 'On it!']);
        expect(list.body.items[1]).toEqual(res.body.comment);
      });

      it('honours a client-supplied comment id', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'q' });
        const id = uid('client_comment');
        const comment = await addComment(thread.id, { id, userId: BOB, body: 'a' });
        expect(comment.id).toBe(id);
      });

      it('pages comments with limit and cursor: no duplicates, no gaps', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'c0' });
        for (let i = 1; i < 6; i++) await addComment(thread.id, { userId: i % 2 ? BOB : ALICE, body: `c${i}` });
        const full = (await api('GET', `/api/v1/threads/${thread.id}/comments`)).body.items.map((c: any) => c.id);
        expect(full).toHaveLength(6);
        const seen: string[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        do {
          const res: Res = await api('GET', `/api/v1/threads/${thread.id}/comments?limit=4${cursor ? `&cursor=${enc(cursor)}` : ''}`);
          expectRoute('listComments', res);
          sizes.push(res.body.items.length);
          seen.push(...res.body.items.map((c: any) => c.id));
          cursor = res.body.nextCursor;
        } while (cursor && sizes.length < 10);
        expect(sizes).toEqual([4, 2]);
        expect(seen).toEqual(full);
        expectError(await api('GET', `/api/v1/threads/${thread.id}/comments?cursor=zzz`), 400, 'validation_failed', 'cursor');
        expectError(await api('GET', '/api/v1/threads/no_such_thread/comments'), 404, 'thread_not_found');
      });

      it('PATCH edits a comment and sets editedAt', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'typo' });
        const commentId = thread.comments[0].id;
        const res = await api('PATCH', `/api/v1/comments/${commentId}`, { body: 'fixed', mentions: [BOB] });
        expectRoute('patchComment', res);
        expect(keys(res.body)).toEqual(['comment']);
        expect((await raw(`/api/v1/threads/${thread.id}`, { headers: { authorization: `Bearer ${t.secretKey}` } })).headers.get('cache-control')).toBe('no-store');
        expectCommentShape(res.body.comment);
        expect(res.body.comment).toMatchObject({ id: commentId, threadId: thread.id, userId: ALICE, body: 'fixed', mentions: [BOB] });
        expect(res.body.comment.editedAt).toMatch(ISO_MS);
        expect(res.body.comment.createdAt).toBe(thread.comments[0].createdAt);
        const again = await api('GET', `/api/v1/threads/${thread.id}`);
        expect(again.body.comments[0]).toEqual(res.body.comment);
        // The backend edited it, not Alice: the feed says so (a moderator), and shows the new text throughout.
        const feed = await t.server.ctx.store.listActivity(t.envId, thread.roomId, 10);
        expect(feed.map((a) => [a.kind, a.userId, a.preview])).toEqual([
          ['thread.created', ALICE, 'fixed'],
          ['comment.edited', null, 'fixed'],
        ]);
        expectError(await api('PATCH', '/api/v1/comments/no_such_comment', { body: 'x' }), 404, 'comment_not_found');
        // The same text again changes nothing: editedAt stays, and no second edit is recorded.
        const same = await api('PATCH', `/api/v1/comments/${commentId}`, { body: 'fixed' });
        expect(same.status).toBe(200);
        expect(same.body.comment).toEqual(res.body.comment);
        expect((await t.server.ctx.store.listActivity(t.envId, thread.roomId, 10)).map((a) => a.kind)).toEqual(['thread.created', 'comment.edited']);
      });

      it('DELETE removes a comment; deleting the last comment deletes the thread', async () => {
        const roomId = uid('room');
        const thread = await createThread(roomId, { userId: ALICE, body: 'first' });
        const reply = await addComment(thread.id, { userId: BOB, body: 'second' });

        const first = await api('DELETE', `/api/v1/comments/${thread.comments[0].id}`);
        expectRoute('deleteComment', first);
        expect(first.body).toEqual({ deleted: true });
        const left = await api('GET', `/api/v1/threads/${thread.id}`);
        expect(left.status).toBe(200);
        expect(left.body.comments.map((c: any) => c.id)).toEqual([reply.id]);

        const last = await api('DELETE', `/api/v1/comments/${reply.id}`);
        expect(last).toEqual({ status: 200, body: { deleted: true } });
        expectError(await api('GET', `/api/v1/threads/${thread.id}`), 404, 'thread_not_found');
        const threads = await api('GET', `/api/v1/rooms/${roomId}/threads`);
        expect(threads.body.items).toEqual([]);
        expectError(await api('DELETE', `/api/v1/comments/${reply.id}`), 404, 'comment_not_found');
      });

      it('rejects a comment by a user who never connected with 404 user_not_found', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'q' });
        expectError(await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: uid('ghost'), body: 'boo' }), 404, 'user_not_found', 'userId');
        expectError(await api('POST', `/api/v1/rooms/${uid('room')}/threads`, { userId: uid('ghost'), body: 'boo' }), 404, 'user_not_found', 'userId');
      });
    });

    // ------------------------------------------------------------------ reactions

    describe('reactions', () => {
      it('adds a reaction (201), returns the same one with 200 on a repeat, and shows it on the comment', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'react to me' });
        const commentId = thread.comments[0].id;
        const first = await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '👍' });
        expectRoute('addReaction', first, 201);
        expect(keys(first.body)).toEqual(['reaction']);
        expectReactionShape(first.body.reaction);
        expect(first.body.reaction).toMatchObject({ targetId: commentId, targetType: 'comment', userId: BOB, emoji: '👍' });

        const second = await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '👍' });
        expectRoute('addReaction', second, 200);
        expect(second.body).toEqual(first.body);

        const otherEmoji = await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '🎉' });
        expect(otherEmoji.status).toBe(201);
        expect(otherEmoji.body.reaction.id).not.toBe(first.body.reaction.id);
        const otherUser = await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: ALICE, emoji: '👍' });
        expect(otherUser.status).toBe(201);
        // Multi-code-point emoji: flag, ZWJ sequence, variation selector, skin tone.
        for (const emoji of ['🇫🇷', '👩‍💻', '❤️', '👍🏽']) {
          expect((await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: ALICE, emoji })).status).toBe(201);
        }

        const got = await api('GET', `/api/v1/threads/${thread.id}`);
        const reactions = got.body.comments[0].reactions;
        reactions.forEach(expectReactionShape);
        expect(reactions).toHaveLength(7);
        expect(reactions.filter((r: any) => r.userId === BOB && r.emoji === '👍')).toEqual([first.body.reaction]);
      });

      it('accepts keycap emoji (1️⃣, #️⃣, *️⃣)', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'vote' });
        for (const emoji of ['1️⃣', '#️⃣', '*️⃣']) {
          const res = await api('POST', `/api/v1/comments/${thread.comments[0].id}/reactions`, { userId: BOB, emoji });
          expect(res.status, `${emoji}: ${JSON.stringify(res.body)}`).toBe(201);
          expect(res.body.reaction.emoji).toBe(emoji);
        }
      });

      it('refuses anything but one emoji: two side by side, three flags, a dangling joiner, text', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'one at a time' });
        const commentId = thread.comments[0].id;
        for (const emoji of ['👍👍', '🇫🇷🇩🇪🇮🇹', '👍\u200d', '\u200d👍', '🏽', '👍 ', ':+1:', '1']) {
          const res = await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji });
          expect(res.status, JSON.stringify(emoji)).toBe(400);
          expect(res.body.error).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('one emoji') });
        }
        expect((await api('GET', `/api/v1/threads/${thread.id}`)).body.comments[0].reactions).toEqual([]);
      });

      it('keeps one reaction per user per emoji under concurrent requests', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'race' });
        const commentId = thread.comments[0].id;
        const results = await Promise.all(
          Array.from({ length: 6 }, () => api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '🔥' })),
        );
        expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
        expect(new Set(results.map((r) => r.body.reaction.id)).size).toBe(1);
        const got = await api('GET', `/api/v1/threads/${thread.id}`);
        expect(got.body.comments[0].reactions).toHaveLength(1);
      });

      it('DELETE removes a reaction; a second DELETE is 404', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'x' });
        const commentId = thread.comments[0].id;
        const added = await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '👀' });
        const res = await api('DELETE', `/api/v1/reactions/${added.body.reaction.id}`);
        expectRoute('deleteReaction', res);
        expect(res.body).toEqual({ deleted: true });
        expect((await api('GET', `/api/v1/threads/${thread.id}`)).body.comments[0].reactions).toEqual([]);
        expectError(await api('DELETE', `/api/v1/reactions/${added.body.reaction.id}`), 404, 'reaction_not_found');
        // Reacting again after removal creates a new reaction.
        expect((await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '👀' })).status).toBe(201);
      });

      it('removes the reactions of a deleted comment', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'x' });
        const reply = await addComment(thread.id, { userId: BOB, body: 'y' });
        const added = await api('POST', `/api/v1/comments/${reply.id}/reactions`, { userId: ALICE, emoji: '👍' });
        expect(added.status).toBe(201);
        await api('DELETE', `/api/v1/comments/${reply.id}`);
        expectError(await api('DELETE', `/api/v1/reactions/${added.body.reaction.id}`), 404, 'reaction_not_found');
        expectError(await api('POST', `/api/v1/comments/${reply.id}/reactions`, { userId: ALICE, emoji: '👍' }), 404, 'comment_not_found');
      });

      it('rejects reactions on unknown comments and by unknown users with 404', async () => {
        expectError(await api('POST', '/api/v1/comments/no_such_comment/reactions', { userId: BOB, emoji: '👍' }), 404, 'comment_not_found');
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'x' });
        expectError(
          await api('POST', `/api/v1/comments/${thread.comments[0].id}/reactions`, { userId: uid('ghost'), emoji: '👍' }),
          404,
          'user_not_found',
        );
        expectError(await api('DELETE', '/api/v1/reactions/no_such_reaction'), 404, 'reaction_not_found');
      });
    });

    // ------------------------------------------------------------------ users

    describe('users', () => {
      it('PUT creates a user, then updates it (upsert)', async () => {
        const userId = uid('bot');
        const created = await api('PUT', `/api/v1/users/${userId}`, { name: 'CI Bot', avatar: 'https://example.com/bot.png' });
        expectRoute('putUser', created);
        expect(keys(created.body)).toEqual(['user']);
        expectUserShape(created.body.user, t.envId, userId);
        expect(created.body.user).toMatchObject({ name: 'CI Bot', avatar: 'https://example.com/bot.png', color: colorForUser(userId) });

        const updated = await api('PUT', `/api/v1/users/${userId}`, { name: 'CI Bot 2' });
        expectRoute('putUser', updated);
        expect(updated.body.user).toEqual({ ...created.body.user, name: 'CI Bot 2', avatar: null });

        const coloured = await api('PUT', `/api/v1/users/${userId}`, { name: 'CI Bot 3', color: '#abcdef' });
        expect(coloured.body.user.color).toBe('#abcdef');
        const kept = await api('PUT', `/api/v1/users/${userId}`, { name: 'CI Bot 4' });
        expect(kept.body.user.color).toBe('#abcdef');
        expect(kept.body.user.createdAt).toBe(created.body.user.createdAt);

        const list = await api('GET', '/api/v1/users?limit=200');
        expectRoute('listUsers', list);
        expect(keys(list.body)).toEqual(['items', 'nextCursor']);
        const listed = list.body.items.filter((u: any) => u.externalId === userId);
        expect(listed).toEqual([kept.body.user]);
        for (const u of list.body.items) expectUserShape(u, t.envId, u.externalId);
      });

      it('assigns the same colour to the same user id in every environment', async () => {
        const userId = uid('same-colour');
        const a = await putUser(userId, { name: 'In A' });
        const b = await putUser(userId, { name: 'In B' }, envB.secretKey);
        expect(a.color).toBe(colorForUser(userId));
        expect(b.color).toBe(a.color);
        expectUserShape(a, t.envId, userId);
        expectUserShape(b, envB.id, userId);
        expect(a.id).not.toBe(b.id);
      });

      it('accepts a user id containing "/" sent as %2F', async () => {
        const userId = `team/${uid('member')}`;
        const user = await putUser(userId, { name: 'Slash' });
        expectUserShape(user, t.envId, userId);
        const thread = await createThread(uid('room'), { userId, body: 'by slash user' });
        expect(thread.comments[0].userId).toBe(userId);
      });

      it('pages the user list with limit and cursor: no duplicates, no gaps', async () => {
        for (let i = 0; i < 4; i++) await putUser(uid('pager'));
        const full = (await api('GET', '/api/v1/users?limit=200')).body.items.map((u: any) => u.id);
        expect(full.length).toBeGreaterThanOrEqual(6);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res: Res = await api('GET', `/api/v1/users?limit=3${cursor ? `&cursor=${enc(cursor)}` : ''}`);
          expectRoute('listUsers', res);
          expect(res.body.items.length).toBeLessThanOrEqual(3);
          seen.push(...res.body.items.map((u: any) => u.id));
          cursor = res.body.nextCursor;
          pages++;
        } while (cursor && pages < 100);
        expect(seen).toEqual(full);
        expect(new Set(seen).size).toBe(seen.length);
      });
    });

    // ------------------------------------------------------------------ OpenAPI

    describe('OpenAPI', () => {
      it('GET /api/v1/openapi.json is an OpenAPI 3.1 document listing every route', async () => {
        const res = await rawApi('/api/v1/openapi.json');
        expect(res.status).toBe(200);
        expect(res.contentType).toMatch(/^application\/json/);
        const doc = res.body;
        expect(doc.openapi).toMatch(/^3\.1\./);
        expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
        expect(doc.components.securitySchemes.secretKey).toMatchObject({ type: 'http', scheme: 'bearer' });
        for (const [name, route] of Object.entries(REST_ROUTES)) {
          const path = route.path.replace(/:(\w+)/g, '{$1}');
          const op = doc.paths[path]?.[route.method.toLowerCase()];
          expect(op, `${route.method} ${path}`).toBeDefined();
          expect(op.operationId).toBe(name);
          expect(op.responses[String(route.status)]).toBeDefined();
          const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
          for (const p of params) expect(op.parameters).toContainEqual(expect.objectContaining({ name: p, in: 'path', required: true }));
          if ('body' in route) expect(op.requestBody.content['application/json'].schema).toBeTypeOf('object');
        }
        const opCount = Object.values(doc.paths as Record<string, object>).reduce((n, ops) => n + Object.keys(ops).length, 0);
        expect(opCount).toBe(Object.keys(REST_ROUTES).length);
      });

      it('gives each route the success codes of the table in docs/rest-api.md', async () => {
        const doc = (await rawApi('/api/v1/openapi.json')).body;
        const table = readFileSync(new URL('../../../docs/rest-api.md', import.meta.url), 'utf8');
        const rows = [...table.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE)` \| \[`([^`]+)`\]\([^)]*\) \| ([^|]+) \|$/gm)];
        expect(rows.length).toBe(Object.keys(REST_ROUTES).length);
        for (const [, method, path, codes] of rows) {
          const op = doc.paths[path!]?.[method!.toLowerCase()];
          expect(op, `${method} ${path}`).toBeDefined();
          const documented = codes!.split(' or ').map((c) => c.trim()).sort();
          expect(Object.keys(op.responses).filter((c) => c !== 'default').sort(), `${method} ${path}`).toEqual(documented);
        }
      });
    });

    // ------------------------------------------------------------------ validation

    describe('validation (400 naming the field)', () => {
      let threadId: string;
      let commentId: string;
      const room = uid('validation');
      beforeAll(async () => {
        const thread = await createThread(room, { userId: ALICE, body: 'target' });
        threadId = thread.id;
        commentId = thread.comments[0].id;
      });

      it('rejects unknown fields', async () => {
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', title: 'no' }), 400, 'validation_failed', '"title"');
        expectError(await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 'x', extra: 1 }), 400, 'validation_failed', '"extra"');
        expectError(await api('PATCH', `/api/v1/threads/${threadId}`, { resolved: true, pinned: true }), 400, 'validation_failed', '"pinned"');
        expectError(await api('PUT', '/api/v1/users/v-user', { name: 'V', nickname: 'v' }), 400, 'validation_failed', '"nickname"');
        expectError(await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: ALICE, emoji: '👍', count: 2 }), 400, 'validation_failed', '"count"');
        expectError(
          await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: 0.1, y: 0.1, z: 0 } }),
          400,
          'validation_failed',
          '"z"',
        );
      });

      it('rejects wrong types and missing fields', async () => {
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: 42, body: 'x' }), 400, 'validation_failed', 'userId');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { body: 'x' }), 400, 'validation_failed', 'userId');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE }), 400, 'validation_failed', 'body');
        expectError(await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 5 }), 400, 'validation_failed', 'body');
        expectError(await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 'x', mentions: 'bob' }), 400, 'validation_failed', 'mentions');
        expectError(await api('PUT', '/api/v1/users/v-user', { name: ['V'] }), 400, 'validation_failed', 'name');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { id: 'has space', userId: ALICE, body: 'x' }), 400, 'validation_failed', 'id');
        for (const notObject of ['[]', '"text"', 'null', '42']) {
          expectError(await api('POST', `/api/v1/rooms/${room}/threads`, notObject), 400, ['validation_failed', 'invalid_json'], 'body');
        }
      });

      it('limits the comment body to 10,000 characters and rejects an empty body', async () => {
        const max = 'a'.repeat(LIMITS.commentBodyLength);
        expect((await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: max })).status).toBe(201);
        expectError(await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: max + 'a' }), 400, 'validation_failed', 'body');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: max + 'a' }), 400, 'validation_failed', 'body');
        expectError(await api('PATCH', `/api/v1/comments/${commentId}`, { body: max + 'a' }), 400, 'validation_failed', 'body');
        for (const empty of ['', '   ', '\n\t']) {
          expectError(await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: empty }), 400, 'validation_failed', 'body');
          expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: empty }), 400, 'validation_failed', 'body');
          expectError(await api('PATCH', `/api/v1/comments/${commentId}`, { body: empty }), 400, 'validation_failed', 'body');
        }
        expect((await api('GET', `/api/v1/threads/${threadId}`)).body.comments[0].body).toBe('target');
      });

      it('allows at most 50 distinct mentions, duplicates dropped', async () => {
        const mentions = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);
        expect((await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 'x', mentions: mentions(50) })).status).toBe(201);
        for (const res of [
          await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 'x', mentions: mentions(51) }),
          await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', mentions: mentions(51) }),
          await api('PATCH', `/api/v1/comments/${commentId}`, { body: 'x', mentions: mentions(51) }),
        ]) {
          expectError(res, 400, 'too_many_mentions', 'mentions: at most 50 distinct users');
        }
        // Duplicates are dropped before counting; a list far past the limit is refused as invalid.
        const repeated = await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 'x', mentions: Array.from({ length: 60 }, () => 'm1') });
        expect(repeated.status).toBe(201);
        expect(repeated.body.comment.mentions).toEqual(['m1']);
        expectError(await api('POST', `/api/v1/threads/${threadId}/comments`, { userId: ALICE, body: 'x', mentions: Array.from({ length: 201 }, () => 'm1') }), 400, 'validation_failed', 'mentions');
      });

      it('rejects a bad emoji', async () => {
        for (const emoji of ['abc', '', ':+1:', '1', '#', '👍'.repeat(LIMITS.emojiLength + 1), 123, null]) {
          expectError(await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: ALICE, emoji }), 400, 'validation_failed', 'emoji');
        }
      });

      it('rejects a position outside 0–1', async () => {
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: 0.5, y: 0.5, z: 1 } }), 400, 'validation_failed', 'position: unknown field "z"');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: 1.5, y: 0.5 } }), 400, 'validation_failed', 'position.x');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: -0.01, y: 0.5 } }), 400, 'validation_failed', 'position.x');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: 0.5, y: 2 } }), 400, 'validation_failed', 'position.y');
        expectError(await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: 0.5 } }), 400, 'validation_failed', 'position.y');
        expect((await api('POST', `/api/v1/rooms/${room}/threads`, { userId: ALICE, body: 'x', position: { x: 0, y: 1 } })).status).toBe(201);
      });

      it('rejects a bad colour and a non-http avatar', async () => {
        for (const color of ['red', '#fff', '#12345g', 'rgb(0,0,0)']) {
          expectError(await api('PUT', '/api/v1/users/v-user', { name: 'V', color }), 400, 'validation_failed', 'color');
        }
        for (const avatar of ['javascript:alert(1)', 'ftp://example.com/a.png', 'data:image/png;base64,AAAA', 'not a url', '/relative.png']) {
          expectError(await api('PUT', '/api/v1/users/v-user', { name: 'V', avatar }), 400, 'validation_failed', 'avatar');
        }
        expectError(await api('PUT', '/api/v1/users/v-user', { name: '   ' }), 400, 'validation_failed', 'name');
        const users = await api('GET', '/api/v1/users?limit=200');
        expect(users.body.items.some((u: any) => u.externalId === 'v-user')).toBe(false);
      });

      it('accepts a room id of 256 and a user id of 128 characters (the protocol limits)', async () => {
        const userId = 'u'.repeat(LIMITS.userIdLength);
        const user = await api('PUT', `/api/v1/users/${userId}`, { name: 'Long id' });
        expect(user.status, JSON.stringify(user.body)).toBe(200);
        expect(user.body.user.externalId).toBe(userId);
        const roomId = `${uid('long')}-`.padEnd(LIMITS.roomIdLength, 'r');
        const created = await api('POST', `/api/v1/rooms/${roomId}/threads`, { userId: ALICE, body: 'long room' });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        expect(created.body.thread.roomId).toBe(roomId);
        expect((await api('GET', `/api/v1/rooms/${roomId}`)).status).toBe(200);
      });

      it('rejects an over-long roomId or userId path parameter with 400 naming it', async () => {
        expectError(await api('PUT', `/api/v1/users/${'u'.repeat(LIMITS.userIdLength + 1)}`, { name: 'Long' }), 400, 'validation_failed', 'userId');
        expectError(
          await api('POST', `/api/v1/rooms/${'r'.repeat(LIMITS.roomIdLength + 1)}/threads`, { userId: ALICE, body: 'x' }),
          400,
          'validation_failed',
          'roomId',
        );
      });

      it('rejects a userId path parameter with surrounding whitespace or control characters with 400 naming it', async () => {
        expectError(await api('PUT', `/api/v1/users/${enc(' padded ')}`, { name: 'Padded' }), 400, 'validation_failed', 'userId');
        expectError(await api('PUT', `/api/v1/users/${enc('bell\u0007')}`, { name: 'Control' }), 400, 'validation_failed', 'userId');
      });

      it('rejects a roomId path parameter with control characters with 400 naming it', async () => {
        expectError(await api('POST', `/api/v1/rooms/${enc('tab\there')}/threads`, { userId: ALICE, body: 'x' }), 400, 'validation_failed', 'roomId');
      });
    });

    // ------------------------------------------------------------------ request format

    describe('request format', () => {
      it('rejects invalid JSON with 400 invalid_json', async () => {
        for (const body of ['{"userId": "alice", "body": ', '{userId: alice}', "{'a':1}"]) {
          expectError(await api('POST', `/api/v1/rooms/${uid('json')}/threads`, body), 400, 'invalid_json');
        }
        expectError(await api('PUT', '/api/v1/users/json-user', '{"name": "x",}'), 400, 'invalid_json');
        // An empty body declared as JSON.
        const empty = await rawApi('/api/v1/users/json-user', {
          method: 'PUT',
          headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'application/json' },
        });
        expectError(empty, 400, 'invalid_json');
        // Prototype poisoning is refused, not merged.
        expectError(
          await api('PUT', '/api/v1/users/json-user', '{"name":"x","__proto__":{"admin":true}}'),
          400,
          ['invalid_json', 'validation_failed'],
        );
        expect((await api('GET', '/api/v1/users?limit=200')).body.items.some((u: any) => u.externalId === 'json-user')).toBe(false);
      });

      it('accepts application/json with a charset parameter', async () => {
        const res = await rawApi(`/api/v1/users/${uid('charset')}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ name: 'Zoë' }),
        });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.user.name).toBe('Zoë');
      });

      it('ignores a body sent with a GET, whatever its type', async () => {
        // fetch() cannot send one: a raw request.
        const getWithBody = (path: string, type: string, body: string) =>
          new Promise<number>((resolve, reject) => {
            const req = httpRequest(t.url + path, {
              method: 'GET',
              headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': type, 'content-length': Buffer.byteLength(body) },
            });
            req.on('response', (res) => (res.resume(), resolve(res.statusCode!)));
            req.on('error', reject);
            req.end(body);
          });
        expect(await getWithBody('/api/v1/rooms?limit=1', 'text/plain', 'hello')).toBe(200);
        expect(await getWithBody('/api/v1/rooms?limit=1', 'application/json', '{bad')).toBe(200);
      });

      it('rejects a text/plain body with 415 unsupported_media_type', async () => {
        const res = await rawApi(`/api/v1/rooms/${uid('plain')}/threads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'text/plain' },
          body: JSON.stringify({ userId: ALICE, body: 'as text' }),
        });
        expectError(res, 415, 'unsupported_media_type');
        expect(res.contentType).toMatch(/^application\/json/);
        const form = await rawApi('/api/v1/users/form-user', {
          method: 'PUT',
          headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'name=Form',
        });
        expectError(form, 415, 'unsupported_media_type');
        expect((await api('GET', '/api/v1/users?limit=200')).body.items.some((u: any) => u.externalId === 'form-user')).toBe(false);
        // Multipart is for uploads only: elsewhere it is refused, not read as no body (a DELETE would run).
        const thread = await createThread(uid('multipart'), { userId: ALICE, body: 'keep me' });
        const multipart = { authorization: `Bearer ${t.secretKey}`, 'content-type': 'multipart/form-data; boundary=x' };
        expectError(await rawApi(`/api/v1/threads/${thread.id}`, { method: 'DELETE', headers: multipart, body: 'this is not even multipart' }), 415, 'unsupported_media_type');
        expectError(await rawApi(`/api/v1/threads/${thread.id}`, { method: 'PATCH', headers: multipart, body: '--x--' }), 415, 'unsupported_media_type');
        expect((await api('GET', `/api/v1/threads/${thread.id}`)).status).toBe(200);
        expectError(await rawApi('/api/v1/no-such-route', { method: 'POST', headers: multipart, body: '--x--' }), 404, 'not_found');
      });

      it('rejects a body over 256 KB with 413 payload_too_large', async () => {
        const roomId = uid('big');
        const big = { userId: ALICE, body: 'x', mentions: Array.from({ length: 30 }, () => 'y'.repeat(10_000)) };
        expect(JSON.stringify(big).length).toBeGreaterThan(LIMITS.restBodyBytes);
        expectError(await api('POST', `/api/v1/rooms/${roomId}/threads`, big), 413, 'payload_too_large');
        expectError(await api('GET', `/api/v1/rooms/${roomId}`), 404, 'room_not_found');
      });

      it('answers a malformed percent-encoding in the path with a catalogue error', async () => {
        const res = await rawApi('/api/v1/threads/%E0%A4%A', { headers: { authorization: `Bearer ${t.secretKey}` } });
        expectError(res, 400, 'validation_failed');
      });

      it('answers an unknown route with 404 not_found as JSON', async () => {
        for (const [method, path] of [
          ['GET', '/api/v1/nothing-here'],
          ['GET', '/api/v2/rooms'],
          ['GET', '/api/v1/rooms/a/b/c'],
          ['GET', '/no/such/page'],
        ] as const) {
          const res = await rawApi(path, { method, headers: { authorization: `Bearer ${t.secretKey}` } });
          expectError(res, 404, 'not_found');
          expect(res.contentType).toMatch(/^application\/json/);
        }
      });

      it('marks every API answer no-store, errors and empty ones too', async () => {
        const auth = { authorization: `Bearer ${t.secretKey}` };
        for (const res of [
          await raw('/api/v1/threads/nope', { headers: auth }),
          await raw('/api/v1/rooms?limit=0', { headers: auth }),
          await raw('/api/v1/rooms'),
          await raw('/auth/token'),
          await raw(`/api/v1/rooms/${uid('shared')}/shared`, { method: 'DELETE', headers: auth }),
          await raw('/api/v1/openapi.json'),
        ]) {
          expect(res.headers.get('cache-control'), `${res.status} ${res.url}`).toBe('no-store');
        }
      });

      it('refuses a compressed JSON body with 415, saying why', async () => {
        const { gzipSync } = await import('node:zlib');
        const res = await raw(`/api/v1/rooms/${uid('gz')}/threads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.secretKey}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
          body: gzipSync(JSON.stringify({ userId: 'u', body: 'x' })),
        });
        expect(res.status).toBe(415);
        expect(await res.json()).toMatchObject({ error: { code: 'unsupported_media_type', message: expect.stringContaining('Content-Encoding "gzip"') } });
      });

      it('answers requests that are not valid HTTP in the same error shape, and closes them', async () => {
        const { connect } = await import('node:net');
        const exchange = (request: string) =>
          new Promise<string>((resolve, reject) => {
            const socket = connect(Number(new URL(t.url).port), '127.0.0.1', () => socket.end(request));
            let answer = '';
            socket.on('data', (d) => (answer += d));
            socket.on('close', () => resolve(answer));
            socket.on('error', reject);
          });
        const tooLarge = await exchange(`GET /api/v1/rooms/${'r'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect(tooLarge).toMatch(/^HTTP\/1.1 431 /);
        expect(JSON.parse(tooLarge.slice(tooLarge.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'headers_too_large' } });
        const malformed = await exchange('GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\nBad\u0001Header: y\r\n\r\n');
        expect(malformed).toMatch(/^HTTP\/1.1 400 /);
        expect(JSON.parse(malformed.slice(malformed.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'validation_failed' } });
      });

      it('answers a known path with another method with 405 and the methods it takes', async () => {
        for (const [method, path, allow] of [
          ['POST', '/api/v1/rooms', 'GET, HEAD'],
          ['PUT', '/api/v1/rooms/some-room', 'GET, HEAD'],
          ['PATCH', '/api/v1/users/someone', 'PUT'],
          ['GET', '/auth/token', 'POST'],
          ['DELETE', '/api/v1/rooms/some-room/threads', 'GET, HEAD, POST'],
          ['POST', '/healthz', 'GET, HEAD'],
        ] as const) {
          const res = await raw(path, { method, headers: { authorization: `Bearer ${t.secretKey}` } });
          expect(res.status, `${method} ${path}`).toBe(405);
          expect(res.headers.get('allow')).toBe(allow);
          expect(((await res.json()) as any).error.code).toBe('method_not_allowed');
        }
      });
    });

    // ------------------------------------------------------------------ duplicates

    describe('duplicate client-supplied ids (409, nothing half-written)', () => {
      it('rejects a duplicate thread id in the same room', async () => {
        const roomId = uid('dup');
        const id = uid('dup_thread');
        await createThread(roomId, { id, userId: ALICE, body: 'original' });
        const before = await api('GET', `/api/v1/rooms/${roomId}`);
        expectError(await api('POST', `/api/v1/rooms/${roomId}/threads`, { id, userId: BOB, body: 'impostor' }), 409, 'already_exists');
        const after = await api('GET', `/api/v1/rooms/${roomId}`);
        expect(after.body).toEqual(before.body);
        const thread = await api('GET', `/api/v1/threads/${id}`);
        expect(thread.body.comments.map((c: any) => c.body)).toEqual(['original']);
      });

      it('rejects a duplicate thread id aimed at a new room without creating the room', async () => {
        const id = uid('dup_thread');
        await createThread(uid('dup'), { id, userId: ALICE, body: 'original' });
        const roomsBefore = (await api('GET', '/api/v1/rooms?limit=200')).body.items;
        const newRoom = uid('never');
        expectError(await api('POST', `/api/v1/rooms/${newRoom}/threads`, { id, userId: BOB, body: 'impostor' }), 409, 'already_exists');
        expectError(await api('GET', `/api/v1/rooms/${newRoom}`), 404, 'room_not_found');
        expect((await api('GET', '/api/v1/rooms?limit=200')).body.items).toEqual(roomsBefore);
        expect((await api('GET', `/api/v1/threads/${id}`)).body.comments.map((c: any) => c.body)).toEqual(['original']);
      });

      it('rejects a duplicate comment id, in the same thread or another one', async () => {
        const roomId = uid('dup');
        const thread = await createThread(roomId, { userId: ALICE, body: 'first' });
        const other = await createThread(roomId, { userId: ALICE, body: 'other' });
        const id = uid('dup_comment');
        await addComment(thread.id, { id, userId: BOB, body: 'reply' });
        const before = await api('GET', `/api/v1/threads/${thread.id}`);
        const otherBefore = await api('GET', `/api/v1/threads/${other.id}`);

        expectError(await api('POST', `/api/v1/threads/${thread.id}/comments`, { id, userId: ALICE, body: 'again' }), 409, 'already_exists');
        expectError(await api('POST', `/api/v1/threads/${other.id}/comments`, { id, userId: ALICE, body: 'elsewhere' }), 409, 'already_exists');
        // The first comment's id cannot be reused either.
        expectError(
          await api('POST', `/api/v1/threads/${other.id}/comments`, { id: thread.comments[0].id, userId: ALICE, body: 'x' }),
          409,
          'already_exists',
        );

        expect((await api('GET', `/api/v1/threads/${thread.id}`)).body).toEqual(before.body);
        expect((await api('GET', `/api/v1/threads/${other.id}`)).body).toEqual(otherBefore.body);
        expect((await api('GET', `/api/v1/threads/${thread.id}/comments`)).body.items).toHaveLength(2);
        expect((await api('GET', `/api/v1/threads/${other.id}/comments`)).body.items).toHaveLength(1);
      });
    });

    // ------------------------------------------------------------------ environment config

    describe('environment config', () => {
      it('allowReactions=false → 403 feature_disabled on reactions', async () => {
        const thread = await createThread(uid('room'), { userId: ALICE, body: 'x' });
        const commentId = thread.comments[0].id;
        await t.server.ctx.environments.updateConfig(t.envId, { allowReactions: false });
        try {
          expectError(await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '👍' }), 403, 'feature_disabled');
          expect((await api('GET', `/api/v1/threads/${thread.id}`)).body.comments[0].reactions).toEqual([]);
          // Other environments are not affected.
          await putUser(ALICE, { name: 'Alice in B' }, envB.secretKey);
          const inB = await createThread(uid('room'), { userId: ALICE, body: 'x' }, envB.secretKey);
          expect(
            (await api('POST', `/api/v1/comments/${inB.comments[0].id}/reactions`, { userId: ALICE, emoji: '👍' }, envB.secretKey)).status,
          ).toBe(201);
        } finally {
          await t.server.ctx.environments.updateConfig(t.envId, { allowReactions: true });
        }
        expect((await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '👍' })).status).toBe(201);
      });

      it('allowMentions=false → 403 feature_disabled on comments with mentions', async () => {
        const roomId = uid('room');
        const thread = await createThread(roomId, { userId: ALICE, body: 'x' });
        await t.server.ctx.environments.updateConfig(t.envId, { allowMentions: false });
        try {
          expectError(await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: BOB, body: 'hey', mentions: [ALICE] }), 403, 'feature_disabled');
          expectError(await api('POST', `/api/v1/rooms/${roomId}/threads`, { userId: BOB, body: 'hey', mentions: [ALICE] }), 403, 'feature_disabled');
          expectError(await api('PATCH', `/api/v1/comments/${thread.comments[0].id}`, { body: 'hey', mentions: [BOB] }), 403, 'feature_disabled');
          expect((await api('GET', `/api/v1/rooms/${roomId}/threads`)).body.items).toHaveLength(1);
          const unchanged = await api('GET', `/api/v1/threads/${thread.id}`);
          expect(unchanged.body.comments.map((c: any) => [c.body, c.mentions])).toEqual([['x', []]]);
          // Without mentions a comment is fine.
          expect((await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: BOB, body: 'hey' })).status).toBe(201);
        } finally {
          await t.server.ctx.environments.updateConfig(t.envId, { allowMentions: true });
        }
        expect((await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: BOB, body: 'hey', mentions: [ALICE] })).status).toBe(201);
      });
    });

    // ------------------------------------------------------------------ cross-environment isolation

    describe('cross-environment isolation', () => {
      it("answers 404 to environment B for every read and write of environment A's objects, and leaves A unchanged", async () => {
        const roomId = uid('a-only');
        const aUser = uid('a-user');
        await putUser(aUser, { name: 'Only in A' });
        const thread = await createThread(roomId, { userId: ALICE, body: 'A secret', position: { x: 0.2, y: 0.3 } });
        const reply = await addComment(thread.id, { userId: BOB, body: 'A reply' });
        const reaction = (await api('POST', `/api/v1/comments/${reply.id}/reactions`, { userId: ALICE, emoji: '👍' })).body.reaction;
        // B knows the same user ids, so "user not found" cannot hide a leak.
        await putUser(ALICE, { name: 'Alice in B' }, envB.secretKey);
        await putUser(BOB, { name: 'Bob in B' }, envB.secretKey);

        const snapshot = {
          thread: (await api('GET', `/api/v1/threads/${thread.id}`)).body,
          room: (await api('GET', `/api/v1/rooms/${roomId}`)).body,
          comments: (await api('GET', `/api/v1/threads/${thread.id}/comments`)).body,
        };
        expect(snapshot.thread.comments[1].reactions).toEqual([reaction]);

        const b = envB.secretKey;
        // Reads
        expectError(await api('GET', `/api/v1/threads/${thread.id}`, undefined, b), 404, 'thread_not_found');
        expectError(await api('GET', `/api/v1/threads/${thread.id}/comments`, undefined, b), 404, 'thread_not_found');
        expectError(await api('GET', `/api/v1/rooms/${roomId}`, undefined, b), 404, 'room_not_found');
        expectError(await api('GET', `/api/v1/rooms/${roomId}/threads`, undefined, b), 404, 'room_not_found');
        expect((await api('GET', `/api/v1/rooms/${roomId}/presence`, undefined, b)).body).toEqual({ items: [] });
        const bRooms = (await api('GET', '/api/v1/rooms?limit=200', undefined, b)).body.items;
        expect(bRooms.map((r: any) => r.id)).not.toContain(roomId);
        for (const r of bRooms) expect(r.environmentId).toBe(envB.id);
        const bUsers = (await api('GET', '/api/v1/users?limit=200', undefined, b)).body.items;
        expect(bUsers.map((u: any) => u.externalId)).not.toContain(aUser);
        for (const u of bUsers) expect(u.id.startsWith(`${envB.id}:`)).toBe(true);
        // Writes
        expectError(await api('PATCH', `/api/v1/threads/${thread.id}`, { resolved: true }, b), 404, 'thread_not_found');
        expectError(await api('DELETE', `/api/v1/threads/${thread.id}`, undefined, b), 404, 'thread_not_found');
        expectError(await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: ALICE, body: 'intrude' }, b), 404, 'thread_not_found');
        for (const commentId of [thread.comments[0].id, reply.id]) {
          expectError(await api('PATCH', `/api/v1/comments/${commentId}`, { body: 'defaced' }, b), 404, 'comment_not_found');
          expectError(await api('DELETE', `/api/v1/comments/${commentId}`, undefined, b), 404, 'comment_not_found');
          expectError(await api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: BOB, emoji: '💩' }, b), 404, 'comment_not_found');
        }
        expectError(await api('DELETE', `/api/v1/reactions/${reaction.id}`, undefined, b), 404, 'reaction_not_found');
        // Ids are per environment: B may use the same ids for its own objects without touching A's (and without a 409 that would reveal them).
        const bThread = await api('POST', `/api/v1/rooms/${roomId}/threads`, { id: thread.id, userId: ALICE, body: 'B thread' }, b);
        expect(bThread.status).toBe(201);
        expect(bThread.body.thread.comments[0].body).toBe('B thread');
        const bComment = await api('POST', `/api/v1/threads/${thread.id}/comments`, { id: reply.id, userId: BOB, body: 'B reply' }, b);
        expect(bComment.status).toBe(201);
        await putUser(aUser, { name: 'Impostor in B', color: '#000000' }, b);
        expect((await api('DELETE', `/api/v1/threads/${thread.id}`, undefined, b)).status).toBe(200);

        // A is unchanged.
        expect((await api('GET', `/api/v1/threads/${thread.id}`)).body).toEqual(snapshot.thread);
        expect((await api('GET', `/api/v1/rooms/${roomId}`)).body).toEqual(snapshot.room);
        expect((await api('GET', `/api/v1/threads/${thread.id}/comments`)).body).toEqual(snapshot.comments);
        const aUsers = (await api('GET', '/api/v1/users?limit=200')).body.items;
        expect(aUsers.find((u: any) => u.externalId === aUser)).toMatchObject({ name: 'Only in A', color: colorForUser(aUser) });
        expect(aUsers.find((u: any) => u.externalId === ALICE).name).toBe('Alice Chen');
      });
    });
  });
}
