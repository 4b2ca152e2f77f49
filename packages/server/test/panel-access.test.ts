import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';
import { PanelClient, signedInAdmin } from './panel-client.ts';

/**
 * Every admin API route, authorised on the server: 401 without a session, 403 `csrf_failed`
 * without the CSRF token on every change, and 403 `forbidden` for Members on every change.
 */

interface Fixture {
  envId: string;
  keyId: string;
  threadId: string;
  /** A second thread, for the thread deletion. */
  otherThreadId: string;
  commentId: string;
  otherAdminId: string;
}

type Route = { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; path: (f: Fixture) => string; body?: unknown };

/** Every change the API offers (all Admin-only). */
const WRITES: Route[] = [
  { method: 'POST', path: () => '/environments', body: { name: 'Nope' } },
  { method: 'PATCH', path: (f) => `/environments/${f.envId}`, body: { name: 'Renamed' } },
  { method: 'POST', path: (f) => `/environments/${f.envId}/keys/${f.keyId}/revoke` },
  { method: 'POST', path: (f) => `/environments/${f.envId}/keys/rotate` },
  { method: 'PATCH', path: (f) => `/environments/${f.envId}/config`, body: { allowImages: false } },
  { method: 'DELETE', path: (f) => `/environments/${f.envId}/threads/${f.otherThreadId}` },
  { method: 'PATCH', path: (f) => `/environments/${f.envId}/comments/${f.commentId}`, body: { body: 'edited' } },
  { method: 'DELETE', path: (f) => `/environments/${f.envId}/comments/${f.commentId}` },
  { method: 'POST', path: () => '/team', body: { email: 'new@example.com', name: 'New', password: 'new password', role: 'admin' } },
  { method: 'PATCH', path: (f) => `/team/${f.otherAdminId}`, body: { role: 'member' } },
  { method: 'DELETE', path: (f) => `/team/${f.otherAdminId}` },
];

/** Every read (any signed-in account). */
const READS: Route[] = [
  { method: 'GET', path: () => '/me' },
  { method: 'GET', path: () => '/session' },
  { method: 'GET', path: () => '/environments' },
  { method: 'GET', path: (f) => `/environments/${f.envId}` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/keys` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/config` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/analytics` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/audit` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/rooms` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/rooms/room-1/threads` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/threads/${f.threadId}/comments` },
  { method: 'GET', path: (f) => `/environments/${f.envId}/users` },
  { method: 'GET', path: () => '/team' },
  { method: 'GET', path: () => '/team/audit' },
];

const label = (r: Route) => `${r.method} ${r.path({ envId: ':envId', keyId: ':keyId', threadId: ':threadId', otherThreadId: ':threadId', commentId: ':commentId', otherAdminId: ':adminId' })}`;

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`Admin API: access control on every route (${driver})`, () => {
    let t: TestServer;
    let admin: PanelClient;
    let member: PanelClient;
    let anonymous: PanelClient;
    let f: Fixture;

    const call = (c: PanelClient, r: Route, options = {}) => c.request(r.method, `/panel/api${r.path(f)}`, r.body, options);

    /** What the writes would change: it must stay exactly as it is after refused calls. */
    const snapshot = async () => ({
      environments: (await admin.get('/environments')).body,
      keys: (await admin.get(`/environments/${f.envId}/keys`)).body,
      config: (await admin.get(`/environments/${f.envId}/config`)).body.config,
      comments: (await admin.get(`/environments/${f.envId}/threads/${f.threadId}/comments`)).body,
      team: (await admin.get('/team')).body,
    });

    beforeAll(async () => {
      t = await startTestServer(driver);
      admin = await signedInAdmin(t, 'admin@example.com', 'admin');
      member = await signedInAdmin(t, 'member@example.com', 'member');
      await signedInAdmin(t, 'other@example.com', 'admin');
      anonymous = new PanelClient(t.url);
      await anonymous.get('/setup'); // holds a valid CSRF cookie: only the session is missing
      await t.api('PUT', '/api/v1/users/alice', { name: 'Alice' });
      const thread = (await t.api('POST', '/api/v1/rooms/room-1/threads', { userId: 'alice', body: 'keep me' })).body.thread;
      const other2 = (await t.api('POST', '/api/v1/rooms/room-1/threads', { userId: 'alice', body: 'keep me too' })).body.thread;
      const keys = (await admin.get(`/environments/${t.envId}/keys`)).body.keys;
      const other = (await admin.get('/team')).body.members.find((m: any) => m.email === 'other@example.com');
      f = { envId: t.envId, keyId: keys[0].id, threadId: thread.id, otherThreadId: other2.id, commentId: thread.comments[0].id, otherAdminId: other.id };
    });
    afterAll(async () => {
      await t?.close();
    });

    it('answers 401 on every route without a session', async () => {
      for (const r of [...READS.filter((x) => label(x) !== 'GET /session'), ...WRITES, { method: 'POST', path: () => '/logout' } as Route]) {
        const res = await call(anonymous, r);
        expect(res.status, label(r)).toBe(401);
        expect(res.body.error.code, label(r)).toBe('unauthorized');
      }
    });

    it('lets a Member read everything', async () => {
      for (const r of READS) {
        const res = await call(member, r);
        expect(res.status, `${label(r)}: ${JSON.stringify(res.body)}`).toBe(200);
      }
    });

    it('answers 403 to a Member on every write, and changes nothing', async () => {
      const before = await snapshot();
      for (const r of WRITES) {
        const res = await call(member, r);
        expect(res.status, label(r)).toBe(403);
        expect(res.body.error.code, label(r)).toBe('forbidden');
        expect(res.body.error.message).toContain('view-only');
      }
      expect(await snapshot()).toEqual(before);
      expect(before.config).toEqual(DEFAULT_ENV_CONFIG);
      expect(before.keys.keys.every((k: any) => k.status === 'active')).toBe(true);
      // The key still works; the comment is still there.
      expect((await t.api('GET', '/api/v1/rooms')).status).toBe(200);
    });

    it('answers 403 csrf_failed to every write without the token or with a wrong one, and changes nothing', async () => {
      const before = await snapshot();
      for (const r of WRITES) {
        for (const csrf of [false, 'wrong-token-'.repeat(4)] as const) {
          const res = await call(admin, r, { csrf });
          expect(res.status, label(r)).toBe(403);
          expect(res.body.error.code, label(r)).toBe('csrf_failed');
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    it('lets a Member log out (the one change a Member can make)', async () => {
      const m = await signedInAdmin(t, 'member@example.com', 'member');
      expect((await m.post('/logout')).status).toBe(204);
      expect((await member.get('/me')).status).toBe(200); // other sessions stay
    });

    it('lets an Admin make every change', async () => {
      for (const r of WRITES) {
        const res = await call(admin, r);
        expect([200, 201, 204], `${label(r)}: ${JSON.stringify(res.body)}`).toContain(res.status);
      }
    });

    it('answers unknown API paths with a JSON 404 and other methods with a 405, never the app', async () => {
      const res = await admin.get('/nope');
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
      expect((await admin.request('GET', '/panel/api')).status).toBe(404);
      const wrongMethod = await admin.request('PUT', '/panel/api/environments');
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.body.error.code).toBe('method_not_allowed');
      expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, POST');
      const unsubscribe = await admin.request('PUT', '/email/unsubscribe?u=x');
      expect(unsubscribe.status).toBe(405);
      expect(unsubscribe.headers.get('allow')).toBe('GET, HEAD, POST');
    });
  });
}
