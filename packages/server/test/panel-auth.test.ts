import { ADMIN_SESSION_TTL_MS } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPulseServer, type PulseServer } from '../src/server.ts';
import { ADDRESS_BACKOFF, EMAIL_BACKOFF } from '../src/panel-api/limits.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';
import { PanelClient, type PanelResponse } from './panel-client.ts';

/** Admin API: first-run setup, login, logout, sessions, CSRF, throttling and the team, on both drivers. */

function expectError(res: PanelResponse, status: number, code: string, messageIncludes?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  if (messageIncludes) expect(res.body.error.message).toContain(messageIncludes);
}

const OWNER = { email: 'owner@example.com', name: 'Olivia Owner', password: 'correct horse battery' };

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`Admin API: auth and team (${driver})`, () => {
    let t: TestServer;
    let owner: PanelClient;
    const client = () => new PanelClient(t.url);

    beforeAll(async () => {
      // The tests stand in for a reverse proxy on loopback: X-Forwarded-For/-Proto from there are trusted.
      t = await startTestServer(driver, { trustProxy: '127.0.0.1' });
      owner = client();
    });
    afterAll(async () => {
      await t?.close();
    });

    // ------------------------------------------------------------------ first run

    it('generates a one-time setup token at start-up while no admin exists', async () => {
      expect(t.server.setupToken).toMatch(/^[0-9a-f]{32}$/);
      const res = await owner.get('/setup');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ required: true });
      expect((await owner.get('/session')).body).toEqual({ admin: null, setupRequired: true, csrfToken: owner.csrfToken });
      expect(res.headers.get('cache-control')).toBe('no-store');
      // The page's CSRF cookie: readable by the page's script, SameSite=Strict, scoped to /panel.
      const csrf = res.setCookies.find((c) => c.startsWith('pulse_csrf='))!;
      expect(csrf).toMatch(/; Path=\/panel; SameSite=Strict/);
      expect(csrf).not.toMatch(/HttpOnly/);
      expect(owner.csrfToken!.length).toBeGreaterThanOrEqual(32);
    });

    it('gives every node of the same database and secret the same setup link', async () => {
      const other = await startPulseServer({ ...t.options, port: 0 });
      try {
        expect(other.setupToken).toBe(t.server.setupToken);
      } finally {
        await other.close();
      }
    });

    it('refuses setup without the CSRF token, with a wrong token, or with bad input', async () => {
      const good = { token: t.server.setupToken, ...OWNER };
      expectError(await owner.post('/setup', good, { csrf: false }), 403, 'csrf_failed');
      expectError(await owner.post('/setup', good, { csrf: 'x'.repeat(43) }), 403, 'csrf_failed');
      expectError(await owner.post('/setup', { ...good, token: 'f'.repeat(32) }), 403, 'forbidden', 'setup token');
      expectError(await owner.post('/setup', { ...good, token: 'short' }), 403, 'forbidden');
      expectError(await owner.post('/setup', { ...good, email: 'not-an-email' }), 400, 'validation_failed', 'email');
      expectError(await owner.post('/setup', { ...good, password: 'short' }), 400, 'validation_failed', 'password');
      expectError(await owner.post('/setup', { ...good, name: '   ' }), 400, 'validation_failed', 'name');
      expectError(await owner.post('/setup', { ...good, extra: 1 }), 400, 'validation_failed', '"extra"');
      expectError(await owner.post('/setup', undefined), 400, 'invalid_json');
      expectError(await owner.post('/setup', undefined, { raw: '{"token":', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
      expectError(await owner.post('/setup', undefined, { raw: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
      expect(await t.server.ctx.store.countAdmins()).toBe(0);
    });

    it('creates the first admin with the setup token and signs them in', async () => {
      const res = await owner.post('/setup', { token: t.server.setupToken, ...OWNER, email: ' Owner@Example.com ' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.admin).toEqual({ id: expect.stringMatching(/^adm_/), email: OWNER.email, name: OWNER.name, role: 'admin', createdAt: expect.any(String) });
      expect(res.body.csrfToken).toBe(owner.csrfToken);
      expect(res.setCookies.map((c) => c.split('=')[0]).sort()).toEqual(['pulse_csrf', 'pulse_known', 'pulse_session']); // each once
      // The signed "this browser signed in before" cookie (login throttling spares it): HttpOnly, /panel only.
      expect(res.setCookies.find((c) => c.startsWith('pulse_known='))).toMatch(/; Path=\/panel; SameSite=Strict; HttpOnly; Max-Age=\d+/);
      const session = res.setCookies.find((c) => c.startsWith('pulse_session='))!;
      expect(session).toMatch(/; Path=\/panel; SameSite=Strict; HttpOnly; Max-Age=(\d+)/);
      expect(Number(/Max-Age=(\d+)/.exec(session)![1])).toBe(ADMIN_SESSION_TTL_MS / 1000);
      expect(session).not.toMatch(/Secure/); // plain http here
      const stored = await t.server.ctx.store.findAdminByEmail(OWNER.email);
      expect(stored!.passwordHash).toMatch(/^scrypt\$/);
      const me = await owner.get('/me');
      expect(me.status).toBe(200);
      expect(me.body.admin.email).toBe(OWNER.email);
      expect(me.body.csrfToken).toBe(owner.csrfToken);
    });

    it('never runs setup twice, even with the right token', async () => {
      expect((await client().get('/setup')).body).toEqual({ required: false });
      const again = client();
      await again.get('/setup');
      expectError(await again.post('/setup', { token: 'a'.repeat(32), ...OWNER, email: 'second@example.com' }), 409, 'already_exists');
    });

    // ------------------------------------------------------------------ login / logout / me

    it('logs in with email and password, case-insensitively on the email', async () => {
      const c = client();
      const anonymous = await c.get('/session');
      expect(anonymous.status).toBe(200);
      expect(anonymous.body).toEqual({ admin: null, setupRequired: false, csrfToken: c.csrfToken });
      expectError(await c.get('/me'), 401, 'unauthorized');
      expect(c.csrfToken).toBeDefined(); // even a 401 hands out the CSRF cookie
      const res = await c.login('OWNER@example.com', OWNER.password);
      expect(res.body.admin.email).toBe(OWNER.email);
      expect((await c.get('/me')).status).toBe(200);
      expect((await c.get('/session')).body).toMatchObject({ admin: { email: OWNER.email, role: 'admin' }, setupRequired: false });
    });

    it('marks the session cookie Secure when the request came over https', async () => {
      const c = client();
      await c.get('/setup');
      const res = await c.post('/login', { email: OWNER.email, password: OWNER.password }, { headers: { 'x-forwarded-proto': 'https' } });
      expect(res.status).toBe(200);
      expect(res.setCookies.find((x) => x.startsWith('pulse_session='))).toMatch(/; Secure/);
      expect(res.setCookies.find((x) => x.startsWith('pulse_csrf='))).toMatch(/; Secure/);
    });

    it('rejects wrong credentials with one message for unknown email and wrong password', async () => {
      const c = client();
      await c.get('/setup');
      const wrong = await c.post('/login', { email: OWNER.email, password: 'wrong password' }, { headers: { 'x-forwarded-for': '10.20.0.1' } });
      const unknown = await c.post('/login', { email: 'nobody@example.com', password: 'whatever1' }, { headers: { 'x-forwarded-for': '10.20.0.1' } });
      expectError(wrong, 401, 'unauthorized', 'Wrong email or password');
      expectError(unknown, 401, 'unauthorized', 'Wrong email or password');
      expect(wrong.setCookies.some((x) => x.startsWith('pulse_session='))).toBe(false);
      expectError(await c.post('/login', { email: OWNER.email }), 400, 'validation_failed', 'password');
      expectError(await c.post('/login', { email: OWNER.email, password: 5 }), 400, 'validation_failed', 'password');
      expectError(await c.post('/login', { email: OWNER.email, password: OWNER.password }, { csrf: false }), 403, 'csrf_failed');
      await t.server.ctx.store.clearLoginFailures(`email:${OWNER.email}`);
    });

    it('slows down failed logins per email with growing delays, 429 and Retry-After', async () => {
      const email = 'victim@example.com';
      await t.server.ctx.store.createAdmin({ id: 'adm_victim', email, name: 'V', role: 'member', passwordHash: (await t.server.ctx.store.findAdminByEmail(OWNER.email))!.passwordHash, createdAt: new Date().toISOString() });
      const c = client();
      await c.get('/setup');
      for (let i = 0; i < EMAIL_BACKOFF.freeFailures; i++) {
        // From different addresses: the per-email delay holds however the attacker spreads out.
        expectError(await c.post('/login', { email, password: `guess-${i}` }, { headers: { 'x-forwarded-for': `10.30.0.${i}` } }), 401, 'unauthorized');
      }
      // A new browser on a new address must wait too, even with the right password…
      const blocked = await c.post('/login', { email, password: OWNER.password }, { headers: { 'x-forwarded-for': '10.30.1.1' } });
      expectError(blocked, 429, 'rate_limited', 'Too many failed logins for this account');
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect(retryAfter).toBe(EMAIL_BACKOFF.baseMs / 1000);
      // Other accounts are not affected.
      expect((await c.post('/login', { email: OWNER.email, password: OWNER.password }, { headers: { 'x-forwarded-for': '10.30.1.1' } })).status).toBe(200);
      // …but only for a while: a delay, not a lock.
      await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
      expect((await c.post('/login', { email, password: OWNER.password }, { headers: { 'x-forwarded-for': '10.30.1.2' } })).status).toBe(200);
    });

    it('counts concurrent guesses as they are made: a burst does not get past the delay', async () => {
      const email = 'burst@example.com';
      const hash = (await t.server.ctx.store.findAdminByEmail(OWNER.email))!.passwordHash;
      await t.server.ctx.store.createAdmin({ id: 'adm_burst', email, name: 'B', role: 'member', passwordHash: hash, createdAt: new Date().toISOString() });
      const c = client();
      await c.get('/setup');
      // 30 wrong guesses at once from as many addresses.
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => c.post('/login', { email, password: `guess-${i}` }, { headers: { 'x-forwarded-for': `10.35.0.${i}` } })));
      const statuses = answers.map((a) => a.status);
      // Only as many as the free failures allow are checked at all; the rest wait like sequential ones would.
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(EMAIL_BACKOFF.freeFailures);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30 - EMAIL_BACKOFF.freeFailures);
      // The right password, right after, waits too.
      expect((await c.post('/login', { email, password: OWNER.password }, { headers: { 'x-forwarded-for': '10.35.1.1' } })).status).toBe(429);
      await t.server.ctx.store.clearLoginFailures(`email:${email}`);
    });

    it('slows down failed logins per client address across emails', async () => {
      const c = client();
      await c.get('/setup');
      const from = { headers: { 'x-forwarded-for': '10.40.0.1' } };
      for (let i = 0; i < ADDRESS_BACKOFF.freeFailures; i++) {
        expectError(await c.post('/login', { email: `spray-${i}@example.com`, password: 'password1' }, from), 401, 'unauthorized');
      }
      const blocked = await c.post('/login', { email: OWNER.email, password: OWNER.password }, from);
      expectError(blocked, 429, 'rate_limited', 'your address');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another address still gets in.
      expect((await c.post('/login', { email: OWNER.email, password: OWNER.password }, { headers: { 'x-forwarded-for': '10.40.0.2' } })).status).toBe(200);
    });

    it('logs out: the session is gone from the database, the cookie is cleared', async () => {
      const c = client();
      await c.login(OWNER.email, OWNER.password);
      const cookie = c.cookies.get('pulse_session')!;
      expectError(await c.post('/logout', undefined, { csrf: false }), 403, 'csrf_failed');
      const res = await c.post('/logout');
      expect(res.status).toBe(204);
      expect(res.setCookies.find((x) => x.startsWith('pulse_session='))).toMatch(/Max-Age=0/);
      expectError(await c.get('/me'), 401, 'unauthorized');
      // Replaying the old cookie does not bring the session back.
      const replay = client();
      replay.cookies.set('pulse_session', cookie);
      expectError(await replay.get('/me'), 401, 'unauthorized');
      expectError(await c.post('/logout'), 401, 'unauthorized');
    });

    it('binds the CSRF token to the session: another session\'s token or a forged cookie pair fails', async () => {
      const a = client();
      await a.login(OWNER.email, OWNER.password);
      const b = client();
      await b.login(OWNER.email, OWNER.password);
      expectError(await a.post('/environments', { name: 'x' }, { csrf: b.csrfToken! }), 403, 'csrf_failed');
      // An attacker who could plant a cookie still cannot match the session's token.
      const forged = 'f'.repeat(43);
      a.cookies.set('pulse_csrf', forged);
      expectError(await a.post('/environments', { name: 'x' }, { csrf: forged }), 403, 'csrf_failed');
      // /me hands the session's token back.
      const me = await a.get('/me');
      expect(a.csrfToken).toBe(me.body.csrfToken);
      expect((await a.post('/environments', { name: 'CSRF ok' })).status).toBe(201);
    });

    it('expires sessions after ADMIN_SESSION_TTL_MS', async () => {
      const c = client();
      await c.login(OWNER.email, OWNER.password);
      const { createHash } = await import('node:crypto');
      const id = createHash('sha256').update(c.cookies.get('pulse_session')!).digest('hex');
      const found = await t.server.ctx.store.findAdminSession(id, new Date().toISOString());
      const lifetime = Date.parse(found!.session.expiresAt) - Date.parse(found!.session.createdAt);
      expect(lifetime).toBe(ADMIN_SESSION_TTL_MS);
      expect(await t.server.ctx.store.findAdminSession(id, new Date(Date.now() + ADMIN_SESSION_TTL_MS + 1000).toISOString())).toBeUndefined();
    });

    it('keeps sessions in the database, so another node (and a restart) knows them', async () => {
      const c = client();
      await c.login(OWNER.email, OWNER.password);
      let other: PulseServer | undefined;
      try {
        other = await startPulseServer({ ...t.options, port: 0 });
        const onOther = new PanelClient(other.url);
        for (const [k, v] of c.cookies) onOther.cookies.set(k, v);
        expect((await onOther.get('/me')).body.admin.email).toBe(OWNER.email);
        expect(other.setupToken).toBeUndefined(); // an admin exists: no setup token
      } finally {
        await other?.close();
      }
    });

    // ------------------------------------------------------------------ team

    it('lists, adds, re-roles and removes team members', async () => {
      const list = await owner.get('/team');
      expect(list.status).toBe(200);
      expect(list.body.members.map((m: any) => m.email)).toContain(OWNER.email);
      expect(list.body.members.every((m: any) => !('passwordHash' in m))).toBe(true);

      const added = await owner.post('/team', { email: 'Mia@Example.com', name: 'Mia Member', password: 'member password', role: 'member' });
      expect(added.status, JSON.stringify(added.body)).toBe(201);
      expect(added.body.member).toMatchObject({ email: 'mia@example.com', name: 'Mia Member', role: 'member' });
      expectError(await owner.post('/team', { email: 'mia@example.com', name: 'Again', password: 'member password', role: 'member' }), 409, 'already_exists');
      expectError(await owner.post('/team', { email: 'x@example.com', name: 'X', password: 'member password', role: 'owner' }), 400, 'validation_failed', 'role');
      expectError(await owner.post('/team', { email: 'x@example.com', name: 'X', password: 'short', role: 'member' }), 400, 'validation_failed', 'password');
      expectError(await owner.post('/team', { email: 'x@example.com', password: 'long enough', role: 'member' }), 400, 'validation_failed', 'name');
      expectError(await owner.post('/team', { email: 'nope', name: 'X', password: 'long enough', role: 'member' }), 400, 'validation_failed', 'email');

      const mia = client();
      await mia.login('mia@example.com', 'member password');
      expect((await mia.get('/me')).body.admin.role).toBe('member');
      expectError(await mia.post('/environments', { name: 'Nope' }), 403, 'forbidden', 'view-only');

      // A role change applies to the open session at once.
      const promoted = await owner.patch(`/team/${added.body.member.id}`, { role: 'admin' });
      expect(promoted.status).toBe(200);
      expect(promoted.body.member.role).toBe('admin');
      expect((await mia.post('/environments', { name: 'By Mia' })).status).toBe(201);
      await owner.patch(`/team/${added.body.member.id}`, { role: 'member' });
      expectError(await mia.post('/environments', { name: 'Nope again' }), 403, 'forbidden');
      expectError(await owner.patch(`/team/${added.body.member.id}`, { role: 'root' }), 400, 'validation_failed', 'role');
      expectError(await owner.patch('/team/adm_missing', { role: 'member' }), 404, 'not_found');

      // Nobody removes or demotes themselves.
      const me = (await owner.get('/me')).body.admin;
      expectError(await owner.delete(`/team/${me.id}`), 403, 'forbidden', 'yourself');
      expectError(await owner.patch(`/team/${me.id}`, { role: 'member' }), 403, 'forbidden', 'own role');

      // Removal ends the member's sessions at once.
      expect((await owner.delete(`/team/${added.body.member.id}`)).status).toBe(204);
      expectError(await mia.get('/me'), 401, 'unauthorized');
      expectError(await owner.delete(`/team/${added.body.member.id}`), 404, 'not_found');
      const gone = client();
      await gone.get('/setup');
      expectError(await gone.post('/login', { email: 'mia@example.com', password: 'member password' }), 401, 'unauthorized');

      const audit = await owner.get('/team/audit');
      expect(audit.body.items.map((e: any) => e.action)).toEqual(
        expect.arrayContaining(['team.setup', 'team.added', 'team.role_changed', 'team.removed']),
      );
      expect(audit.body.items[0]).toMatchObject({ actorEmail: OWNER.email, action: 'team.removed', detail: 'mia@example.com (member)' });
    });

    it('lets only one of two Admins acting on each other at the same time through', async () => {
      // Without a check made with the change, two Admins demoting (or removing) each other at once
      // both succeed: with nobody else, no Admin would be left.
      for (const [n, change] of (['demote', 'remove', 'demote', 'remove'] as const).entries()) {
        const pair = await Promise.all(
          ['a', 'b'].map(async (side) => {
            const email = `pair${n}${side}@example.com`;
            const added = await owner.post('/team', { email, name: `Pair ${n}${side}`, password: 'pair password', role: 'admin' });
            const c = client();
            await c.login(email, 'pair password');
            return { id: added.body.member.id as string, c };
          }),
        );
        const [a, b] = pair as [(typeof pair)[number], (typeof pair)[number]];
        const [byA, byB] = await Promise.all(
          change === 'demote'
            ? [a.c.patch(`/team/${b.id}`, { role: 'member' }), b.c.patch(`/team/${a.id}`, { role: 'member' })]
            : [a.c.delete(`/team/${b.id}`), b.c.delete(`/team/${a.id}`)],
        );
        // The first to apply wins. The other is no longer an Admin when its change would apply
        // (403), or, removed, no longer signed in (401).
        const [won, lost] = byA.status < 400 ? [byA, byB] : [byB, byA];
        expect(won.status).toBe(change === 'demote' ? 200 : 204);
        if (change === 'demote' || lost.status === 403) expectError(lost, 403, 'forbidden');
        else expectError(lost, 401, 'unauthorized');
        const left = (await owner.get('/team')).body.members.filter((m: any) => pair.some((p) => p.id === m.id));
        expect(left.filter((m: any) => m.role === 'admin')).toHaveLength(1);
        for (const m of left) expect((await owner.delete(`/team/${m.id}`)).status).toBe(204);
      }
    });

    it('accepts admins created with the CLI (pulse admin create)', async () => {
      const { spawnSync } = await import('node:child_process');
      const { fileURLToPath } = await import('node:url');
      const bin = fileURLToPath(new URL('../bin/pulse-dev.mjs', import.meta.url));
      const run = spawnSync(process.execPath, [bin, 'admin', 'create', '--email', 'cli@example.com', '--password-stdin', '--name', 'Cli Admin', '--json'], {
        env: t.childEnv,
        input: 'cli password\n',
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      const c = client();
      const res = await c.login('cli@example.com', 'cli password');
      expect(res.body.admin).toMatchObject({ name: 'Cli Admin', role: 'admin' });
    });
  });
}
