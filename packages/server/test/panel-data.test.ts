import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';
import { signedInAdmin, type PanelClient, type PanelResponse } from './panel-client.ts';

/** Admin API: the data browser, moderation (live in connected clients) and environment isolation, on both drivers. */

function expectError(res: PanelResponse, status: number, code: string, messageIncludes?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (messageIncludes) expect(res.body.error.message).toContain(messageIncludes);
}

const enc = encodeURIComponent;

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`Admin API: data browser and moderation (${driver})`, () => {
    let t: TestServer;
    let admin: PanelClient;
    let envB: { id: string; secretKey: string };
    const api = (m: string, p: string, b?: unknown, key?: string) => t.api(m, p, b, key);
    const base = () => `/environments/${t.envId}`;

    beforeAll(async () => {
      t = await startTestServer(driver);
      admin = await signedInAdmin(t);
      const b = await t.server.ctx.environments.create('B');
      envB = { id: b.id, secretKey: b.secretKey };
      await api('PUT', '/api/v1/users/alice', { name: 'Alice <b>Chen</b>', avatar: 'https://example.com/a.png', color: '#ff0000' });
      await api('PUT', '/api/v1/users/bob', { name: 'Bob Smith' });
      // 23 rooms so the list pages (20 per page).
      for (let i = 0; i < 23; i++) {
        await api('POST', `/api/v1/rooms/${enc(`page/${String(i).padStart(2, '0')}`)}/threads`, { userId: 'bob', body: `in room ${i}` });
      }
    });
    afterAll(async () => {
      await t?.close();
    });

    it('lists rooms newest first, 20 per page, with thread and comment counts', async () => {
      const first = await admin.get(`${base()}/rooms`);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ page: 1, pageSize: 20, total: 23, totalPages: 2 });
      expect(first.body.items).toHaveLength(20);
      expect(first.body.items[0]).toEqual({ id: 'page/22', createdAt: expect.any(String), threads: 1, comments: 1 });
      const second = await admin.get(`${base()}/rooms?page=2`);
      expect(second.body.items.map((r: any) => r.id)).toEqual(['page/02', 'page/01', 'page/00']);
      expect((await admin.get(`${base()}/rooms?page=3`)).body.items).toEqual([]);
    });

    it('searches rooms by id as you type, wildcards taken literally', async () => {
      const res = await admin.get(`${base()}/rooms?search=${enc('PAGE/1')}`);
      expect(res.body.items.map((r: any) => r.id).sort()).toEqual(['page/1' + '0', ...Array.from({ length: 9 }, (_, i) => `page/1${i + 1}`)].sort());
      expect(res.body.total).toBe(10);
      expect((await admin.get(`${base()}/rooms?search=${enc('%')}`)).body.total).toBe(0);
      expect((await admin.get(`${base()}/rooms?search=${enc('   ')}`)).body.total).toBe(23);
      expectError(await admin.get(`${base()}/rooms?search=${'x'.repeat(257)}`), 400, 'validation_failed', 'search');
      expectError(await admin.get(`${base()}/rooms?search=a&search=b`), 400, 'validation_failed', 'search');
    });

    it('refuses query parameters a route does not take, before any change', async () => {
      for (const path of ['/environments?foo=1', '/me?x=', `${base()}/keys?foo=1`, `${base()}/config?foo=1`, `${base()}/analytics?days=7`, `${base()}/webhooks?page=2`, `${base()}/rooms/r/threads?search=a`, '/team/audit?search=a']) {
        expectError(await admin.get(path), 400, 'validation_failed', 'query: unknown parameter');
      }
      expectError(await admin.get(`${base()}/rooms?page=1&sort=name&dir=up`), 400, 'validation_failed', '"sort", "dir"');
      expectError(await admin.patch(`${base()}/config?foo=1`, { allowImages: false }), 400, 'validation_failed', '"foo"');
      expect((await admin.get(`${base()}/config`)).body.config.allowImages).toBe(true);
      expect((await admin.get(`${base()}/rooms?page=1&search=page`)).status).toBe(200);
    });

    it('drills from a room into its threads and comments, with authors, reactions and edits', async () => {
      const thread = (await api('POST', `/api/v1/rooms/${enc('docs/intro #1')}/threads`, { userId: 'alice', body: '<img src=x onerror=alert(1)> first' })).body.thread;
      const reply = (await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'bob', body: 'a reply' })).body.comment;
      await api('PATCH', `/api/v1/comments/${reply.id}`, { body: 'an edited reply' });
      await api('POST', `/api/v1/comments/${reply.id}/reactions`, { userId: 'alice', emoji: '🎉' });
      await api('PATCH', `/api/v1/threads/${thread.id}`, { resolved: true });

      const threads = await admin.get(`${base()}/rooms/${enc('docs/intro #1')}/threads`);
      expect(threads.status, JSON.stringify(threads.body)).toBe(200);
      expect(threads.body.room).toEqual({ id: 'docs/intro #1', createdAt: expect.any(String) });
      expect(threads.body.items).toEqual([
        {
          id: thread.id,
          roomId: 'docs/intro #1',
          resolved: true,
          createdAt: thread.createdAt,
          updatedAt: expect.any(String),
          comments: 2,
          firstComment: { body: '<img src=x onerror=alert(1)> first', userId: 'alice', userName: 'Alice <b>Chen</b>' },
        },
      ]);

      const comments = await admin.get(`${base()}/threads/${thread.id}/comments`);
      expect(comments.status).toBe(200);
      expect(comments.body.thread).toMatchObject({ id: thread.id, roomId: 'docs/intro #1', resolved: true });
      expect(comments.body.total).toBe(2);
      const [first, second] = comments.body.items;
      expect(first).toMatchObject({
        body: '<img src=x onerror=alert(1)> first', // data, returned as is: the panel renders it as text
        editedAt: null,
        author: { externalId: 'alice', name: 'Alice <b>Chen</b>', avatar: 'https://example.com/a.png', color: '#ff0000' },
        reactions: [],
        attachments: [],
      });
      expect(second).toMatchObject({ id: reply.id, body: 'an edited reply', editedAt: expect.any(String), author: { externalId: 'bob', name: 'Bob Smith' }, mentions: [] });
      expect(first.mentions).toEqual([]);
      // Mentions come with the names the panel shows in their place; an unknown id is left out.
      const cc = (await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'bob', body: 'cc @alice and @nobody', mentions: ['alice', 'nobody'] })).body.comment;
      const third = (await admin.get(`${base()}/threads/${thread.id}/comments`)).body.items[2];
      expect(third.mentions).toEqual([{ externalId: 'alice', name: 'Alice <b>Chen</b>' }]);
      expect((await api('DELETE', `/api/v1/comments/${cc.id}`)).status).toBeLessThan(300); // the counts below stay as they were
      expect(second.reactions).toEqual([expect.objectContaining({ emoji: '🎉', userId: 'alice' })]);

      expectError(await admin.get(`${base()}/rooms/${enc('no such room')}/threads`), 404, 'room_not_found');
      expectError(await admin.get(`${base()}/threads/thread_missing/comments`), 404, 'thread_not_found');
      expectError(await admin.get(`${base()}/rooms/${'r'.repeat(257)}/threads`), 400, 'validation_failed', 'roomId');
    });

    it('lists users with colour, comment count and first seen; searches by name', async () => {
      const res = await admin.get(`${base()}/users`);
      expect(res.status).toBe(200);
      const bob = res.body.items.find((u: any) => u.externalId === 'bob');
      expect(bob).toEqual({ externalId: 'bob', name: 'Bob Smith', avatar: null, color: expect.stringMatching(/^#[0-9a-f]{6}$/i), comments: 24, firstSeen: expect.any(String) });
      expect((await admin.get(`${base()}/users?search=chen`)).body.items.map((u: any) => u.externalId)).toEqual(['alice']);
      expect((await admin.get(`${base()}/users?search=zzz`)).body).toMatchObject({ items: [], total: 0, totalPages: 1 });
    });

    it('deletes a thread; connected clients see it go', async () => {
      const thread = (await api('POST', '/api/v1/rooms/live/threads', { userId: 'alice', body: 'to be moderated' })).body.thread;
      const socket = new RawSocket(t.wsUrl);
      await socket.auth(t, 'watcher', 'live');
      const res = await admin.delete(`${base()}/threads/${thread.id}`);
      expect(res.status).toBe(204);
      expect(await socket.next('thread:deleted')).toMatchObject({ threadId: thread.id });
      expect((await api('GET', `/api/v1/threads/${thread.id}`)).status).toBe(404);
      expectError(await admin.delete(`${base()}/threads/${thread.id}`), 404, 'thread_not_found');
      socket.close();
    });

    it('edits a comment and deletes comments, the last one removing its thread, live', async () => {
      const thread = (await api('POST', '/api/v1/rooms/live2/threads', { userId: 'alice', body: 'something rude' })).body.thread;
      const reply = (await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'bob', body: 'reply' })).body.comment;
      const firstId = thread.comments[0].id;
      const socket = new RawSocket(t.wsUrl);
      await socket.auth(t, 'watcher', 'live2');

      const edited = await admin.patch(`${base()}/comments/${firstId}`, { body: 'something polite' });
      expect(edited.status, JSON.stringify(edited.body)).toBe(200);
      expect(edited.body.comment).toMatchObject({ id: firstId, body: 'something polite', editedAt: expect.any(String), userId: 'alice' });
      expect((await socket.next('comment:updated')).comment).toMatchObject({ id: firstId, body: 'something polite' });
      expectError(await admin.patch(`${base()}/comments/${firstId}`, { body: '' }), 400, 'validation_failed', 'body');
      expectError(await admin.patch(`${base()}/comments/${firstId}`, { body: 'x'.repeat(10_001) }), 400, 'validation_failed', 'body');
      expectError(await admin.patch(`${base()}/comments/${firstId}`, { body: 'ok', userId: 'x' }), 400, 'validation_failed', '"userId"');
      expectError(await admin.patch(`${base()}/comments/comment_missing`, { body: 'x' }), 404, 'comment_not_found');

      const one = await admin.delete(`${base()}/comments/${reply.id}`);
      expect(one.body).toEqual({ threadDeleted: false });
      expect(await socket.next('comment:deleted', 3000, (m) => m.commentId === reply.id)).toMatchObject({ threadDeleted: false });
      const last = await admin.delete(`${base()}/comments/${firstId}`);
      expect(last.body).toEqual({ threadDeleted: true });
      expect(await socket.next('comment:deleted', 3000, (m) => m.commentId === firstId)).toMatchObject({ threadDeleted: true, threadId: thread.id });
      expect((await api('GET', `/api/v1/threads/${thread.id}`)).status).toBe(404);
      expectError(await admin.delete(`${base()}/comments/${firstId}`), 404, 'comment_not_found');
      socket.close();

      const audit = (await admin.get(`${base()}/audit`)).body.items.map((e: any) => e.action);
      expect(audit.slice(0, 4)).toEqual(['comment.deleted', 'comment.deleted', 'comment.edited', 'thread.deleted']);
    });

    it('never shows or changes one environment\'s data through another environment\'s path', async () => {
      const thread = (await api('POST', '/api/v1/rooms/secret-room/threads', { userId: 'alice', body: 'env A only' })).body.thread;
      const commentId = thread.comments[0].id;
      const b = `/environments/${envB.id}`;
      expect((await admin.get(`${b}/rooms`)).body.total).toBe(0);
      expect((await admin.get(`${b}/rooms?search=secret`)).body.items).toEqual([]);
      expect((await admin.get(`${b}/users`)).body.total).toBe(0);
      expectError(await admin.get(`${b}/rooms/secret-room/threads`), 404, 'room_not_found');
      expectError(await admin.get(`${b}/threads/${thread.id}/comments`), 404, 'thread_not_found');
      expectError(await admin.delete(`${b}/threads/${thread.id}`), 404, 'thread_not_found');
      expectError(await admin.delete(`${b}/comments/${commentId}`), 404, 'comment_not_found');
      expectError(await admin.patch(`${b}/comments/${commentId}`, { body: 'hijacked' }), 404, 'comment_not_found');
      const keysA = (await admin.get(`${base()}/keys`)).body.keys;
      expectError(await admin.post(`${b}/keys/${keysA[0].id}/revoke`), 404, 'key_not_found');
      // Untouched in A.
      const still = await api('GET', `/api/v1/threads/${thread.id}`);
      expect(still.body.comments[0].body).toBe('env A only');
      expect((await admin.get(`${base()}/keys`)).body.keys.every((k: any) => k.status === 'active')).toBe(true);
      // Unknown environments are 404 on every data route.
      for (const path of ['/rooms', '/users', '/rooms/x/threads', '/threads/x/comments']) {
        expectError(await admin.get(`/environments/env_missing${path}`), 404, 'environment_not_found');
      }
    });
  });
}
