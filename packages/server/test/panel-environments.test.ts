import { DEFAULT_ENV_CONFIG, ENV_CONFIG_GROUPS } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, RawSocket, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';
import { signedInAdmin, type PanelClient, type PanelResponse } from './panel-client.ts';

/** Admin API: environments, keys, config, analytics and audit log, with their live effects, on both drivers. */

function expectError(res: PanelResponse, status: number, code: string, messageIncludes?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (messageIncludes) expect(res.body.error.message).toContain(messageIncludes);
}

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`Admin API: environments and keys (${driver})`, () => {
    let t: TestServer;
    let admin: PanelClient;

    beforeAll(async () => {
      t = await startTestServer(driver);
      admin = await signedInAdmin(t);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('lists environments with their counts', async () => {
      await t.api('PUT', '/api/v1/users/alice', { name: 'Alice' });
      await t.api('POST', '/api/v1/rooms/lobby/threads', { userId: 'alice', body: 'hello' });
      const res = await admin.get('/environments');
      expect(res.status).toBe(200);
      expect(res.body.environments).toEqual([
        { id: t.envId, name: 'Development', createdAt: expect.any(String), counts: { rooms: 1, threads: 1, users: 1, comments: 1 } },
      ]);
    });

    it('creates an environment and returns its key pair once', async () => {
      const res = await admin.post('/environments', { name: '  Staging  ' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.environment).toMatchObject({ name: 'Staging', counts: { rooms: 0, threads: 0, users: 0, comments: 0 } });
      expect(res.body.publishableKey).toMatch(/^pk_[0-9a-f]{48}$/);
      expect(res.body.secretKey).toMatch(/^sk_[0-9a-f]{48}$/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      // The secret works, and is never shown again: the keys table holds only its prefix.
      const mint = await t.api('POST', '/auth/token', { userId: 'u1', name: 'U' }, res.body.secretKey);
      expect(mint.status).toBe(200);
      const keys = await admin.get(`/environments/${res.body.environment.id}/keys`);
      const secret = keys.body.keys.find((k: any) => k.kind === 'secret');
      expect(secret).toEqual({ id: expect.stringMatching(/^key_/), kind: 'secret', prefix: res.body.secretKey.slice(0, 11), value: null, createdAt: expect.any(String), revokedAt: null, status: 'active' });
      expect(JSON.stringify(keys.body)).not.toContain(res.body.secretKey);
      expect(JSON.stringify(await admin.get(`/environments/${res.body.environment.id}`))).not.toContain(res.body.secretKey);
      expectError(await admin.post('/environments', { name: '' }), 400, 'validation_failed', 'name');
      expectError(await admin.post('/environments', { name: 'x'.repeat(81) }), 400, 'validation_failed', 'name');
      expectError(await admin.post('/environments', { name: 42 }), 400, 'validation_failed', 'name');
      expectError(await admin.post('/environments', {}), 400, 'validation_failed', 'name');
      expectError(await admin.post('/environments', ['Staging']), 400, 'validation_failed', 'body');
    });

    it('gets and renames an environment; unknown ids are 404', async () => {
      const renamed = await admin.patch(`/environments/${t.envId}`, { name: 'Dev' });
      expect(renamed.status).toBe(200);
      expect(renamed.body.environment).toMatchObject({ id: t.envId, name: 'Dev' });
      expect((await admin.get(`/environments/${t.envId}`)).body.environment.name).toBe('Dev');
      expectError(await admin.patch(`/environments/${t.envId}`, { name: ' ' }), 400, 'validation_failed', 'name');
      expectError(await admin.patch(`/environments/${t.envId}`, { name: 'x', id: 'y' }), 400, 'validation_failed', '"id"');
      expectError(await admin.get('/environments/env_missing'), 404, 'environment_not_found');
      expectError(await admin.patch('/environments/env_missing', { name: 'x' }), 404, 'environment_not_found');
      expectError(await admin.get('/environments/env_missing/keys'), 404, 'environment_not_found');
      expectError(await admin.get('/environments/env_missing/config'), 404, 'environment_not_found');
      expectError(await admin.get('/environments/env_missing/analytics'), 404, 'environment_not_found');
      expectError(await admin.get('/environments/env_missing/audit'), 404, 'environment_not_found');
      expectError(await admin.post('/environments/env_missing/keys/rotate'), 404, 'environment_not_found');
      expectError(await admin.patch('/environments/env_missing/config', { allowImages: false }), 404, 'environment_not_found');
    });

    it('returns the config with its defaults and the groups of the Configure modal', async () => {
      const res = await admin.get(`/environments/${t.envId}/config`);
      expect(res.status).toBe(200);
      expect(res.body.config).toEqual(DEFAULT_ENV_CONFIG);
      expect(res.body.defaults).toEqual(DEFAULT_ENV_CONFIG);
      expect(res.body.groups.map((g: any) => g.name)).toEqual(['Media', 'Features', 'Display', 'P2P', 'Email']);
      expect(res.body.groups).toEqual(JSON.parse(JSON.stringify(ENV_CONFIG_GROUPS)));
      // No PULSE_SMTP_URL here: the modal says no email is sent.
      expect(res.body.emailSending).toBe(false);
    });

    it('validates config updates, naming the field', async () => {
      const path = `/environments/${t.envId}/config`;
      expectError(await admin.patch(path, { maxFileSizeMb: 0 }), 400, 'validation_failed', 'maxFileSizeMb');
      expectError(await admin.patch(path, { maxFileSizeMb: 101 }), 400, 'validation_failed', 'maxFileSizeMb');
      expectError(await admin.patch(path, { maxFileSizeMb: 2.5 }), 400, 'validation_failed', 'maxFileSizeMb');
      expectError(await admin.patch(path, { allowImages: 'yes' }), 400, 'validation_failed', 'allowImages');
      expectError(await admin.patch(path, { p2pMeshLimit: 1 }), 400, 'validation_failed', 'p2pMeshLimit');
      expectError(await admin.patch(path, { allowTeleport: true }), 400, 'validation_failed', 'allowTeleport');
      expectError(await admin.patch(path, 'nope'), 400, 'validation_failed');
      expect((await admin.get(path)).body.config).toEqual(DEFAULT_ENV_CONFIG);
    });

    it('applies a config change at once: connected clients get config:updated', async () => {
      const client = await connectClient(t, 'cfg-user', 'cfg-room');
      try {
        const seen: any[] = [];
        client.state.on('config', (c) => seen.push(c));
        const res = await admin.patch(`/environments/${t.envId}/config`, { allowReactions: false, maxFileSizeMb: 25 });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.config).toEqual({ ...DEFAULT_ENV_CONFIG, allowReactions: false, maxFileSizeMb: 25 });
        const update = await waitFor(() => seen.find((c) => c.allowReactions === false), 3000, 'config:updated');
        expect(update.maxFileSizeMb).toBe(25);
        // The server enforces it too.
        const thread = await t.api('POST', '/api/v1/rooms/cfg-room/threads', { userId: 'alice', body: 'react to me' });
        const commentId = thread.body.thread.comments[0].id;
        const react = await t.api('POST', `/api/v1/comments/${commentId}/reactions`, { userId: 'alice', emoji: '👍' });
        expect(react.status).toBe(403);
      } finally {
        client.disconnect();
        await admin.patch(`/environments/${t.envId}/config`, DEFAULT_ENV_CONFIG);
      }
    });

    it('rotates keys: new pair once, old secret gets 401, sockets on the old keys close with 4403', async () => {
      const env = (await admin.post('/environments', { name: 'Rotation' })).body;
      const before = (await admin.get(`/environments/${env.environment.id}/keys`)).body.keys;
      const token = (await t.api('POST', '/auth/token', { userId: 'rot-user', name: 'Rot' }, env.secretKey)).body.token;
      const socket = new RawSocket(t.wsUrl);
      await socket.opened;
      socket.send({ type: 'auth', apiKey: env.publishableKey, token, room: 'rot-room' });
      await socket.next('auth:ok');

      const rotated = await admin.post(`/environments/${env.environment.id}/keys/rotate`);
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect(rotated.body.publishableKey).toMatch(/^pk_/);
      expect(rotated.body.secretKey).toMatch(/^sk_/);
      expect(rotated.body.revokedKeyIds.sort()).toEqual(before.map((k: any) => k.id).sort());

      expect((await socket.waitClosed()).code).toBe(4403);
      const old = await t.api('POST', '/auth/token', { userId: 'x', name: 'X' }, env.secretKey);
      expect(old.status).toBe(401);
      expect(old.body.error.code).toBe('key_revoked');
      expect((await t.api('GET', '/api/v1/rooms', undefined, env.secretKey)).status).toBe(401);
      expect((await t.api('GET', '/api/v1/rooms', undefined, rotated.body.secretKey)).status).toBe(200);

      const after = (await admin.get(`/environments/${env.environment.id}/keys`)).body.keys;
      expect(after).toHaveLength(4);
      expect(after.filter((k: any) => k.status === 'active').map((k: any) => k.prefix).sort()).toEqual(
        [rotated.body.publishableKey.slice(0, 11), rotated.body.secretKey.slice(0, 11)].sort(),
      );
    });

    it('revokes one key; it cannot be revoked twice or from another environment', async () => {
      const env = (await admin.post('/environments', { name: 'Revocation' })).body;
      const other = (await admin.post('/environments', { name: 'Other' })).body;
      const keys = (await admin.get(`/environments/${env.environment.id}/keys`)).body.keys;
      const secret = keys.find((k: any) => k.kind === 'secret');
      expectError(await admin.post(`/environments/${other.environment.id}/keys/${secret.id}/revoke`), 404, 'key_not_found');
      expectError(await admin.post(`/environments/${env.environment.id}/keys/key_missing/revoke`), 404, 'key_not_found');
      const res = await admin.post(`/environments/${env.environment.id}/keys/${secret.id}/revoke`);
      expect(res.status).toBe(200);
      expect(res.body.key).toMatchObject({ id: secret.id, status: 'revoked', revokedAt: expect.any(String) });
      expect((await t.api('GET', '/api/v1/rooms', undefined, env.secretKey)).status).toBe(401);
      expect((await t.api('GET', '/api/v1/rooms', undefined, other.secretKey)).status).toBe(200);
      expectError(await admin.post(`/environments/${env.environment.id}/keys/${secret.id}/revoke`), 400, 'validation_failed', 'already revoked');
    });

    it('reports analytics: counts and 30 days of comments and active users', async () => {
      const env = (await admin.post('/environments', { name: 'Analytics' })).body;
      const api = (m: string, p: string, b?: unknown) => t.api(m, p, b, env.secretKey);
      const dayBefore = new Date().toISOString().slice(0, 10);
      await api('PUT', '/api/v1/users/ann', { name: 'Ann' });
      await api('PUT', '/api/v1/users/ben', { name: 'Ben' });
      const thread = (await api('POST', '/api/v1/rooms/stats/threads', { userId: 'ann', body: 'one' })).body.thread;
      await api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: 'two' });
      const res = await admin.get(`/environments/${env.environment.id}/analytics`);
      expect(res.status).toBe(200);
      expect(res.body.counts).toEqual({ rooms: 1, threads: 1, users: 2, comments: 2 });
      expect(res.body.days).toHaveLength(30);
      const today = new Date().toISOString().slice(0, 10);
      expect(res.body.days[29]).toMatchObject({ day: today });
      // (Run across midnight UTC, the comments are yesterday's.)
      if (today === dayBefore) expect(res.body.days[29]).toEqual({ day: today, comments: 2, activeUsers: 2 });
      else expect(res.body.days[28].comments + res.body.days[29].comments).toBe(2);
      expect(res.body.days[0]).toEqual({ day: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), comments: 0, activeUsers: 0 });
      // Days are consecutive.
      const spans = res.body.days.slice(1).map((d: any, i: number) => Date.parse(d.day) - Date.parse(res.body.days[i].day));
      expect(new Set(spans)).toEqual(new Set([86_400_000]));
    });

    it('keeps an audit log of key and config operations: who, what, when', async () => {
      const env = (await admin.post('/environments', { name: 'Audited' })).body;
      const id = env.environment.id;
      await admin.patch(`/environments/${id}/config`, { allowDrawing: false, maxAttachmentsPerComment: 3 });
      await admin.patch(`/environments/${id}/config`, { allowDrawing: false }); // no change: no entry
      await admin.post(`/environments/${id}/keys/rotate`);
      const keys = (await admin.get(`/environments/${id}/keys`)).body.keys;
      const active = keys.find((k: any) => k.status === 'active' && k.kind === 'publishable');
      await admin.post(`/environments/${id}/keys/${active.id}/revoke`);
      await admin.patch(`/environments/${id}`, { name: 'Audited 2' });
      const res = await admin.get(`/environments/${id}/audit`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ page: 1, pageSize: 20, total: 5, totalPages: 1 });
      expect(res.body.items.map((e: any) => e.action)).toEqual(['environment.renamed', 'key.revoked', 'keys.rotated', 'config.updated', 'environment.created']);
      expect(res.body.items[3]).toMatchObject({
        actorEmail: 'admin@example.com',
        actorName: 'admin',
        environmentId: id,
        detail: 'maxAttachmentsPerComment 5 → 3, allowDrawing on → off',
        createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      });
      expect(res.body.items[1].detail).toBe(`publishable key ${active.prefix}…`);
      // Another environment's log is its own.
      expect((await admin.get(`/environments/${t.envId}/audit`)).body.items.every((e: any) => e.environmentId === t.envId)).toBe(true);
      expectError(await admin.get(`/environments/${id}/audit?page=0`), 400, 'validation_failed', 'page');
      expectError(await admin.get(`/environments/${id}/audit?page=abc`), 400, 'validation_failed', 'page');
      expectError(await admin.get(`/environments/${id}/audit?foo=1`), 400, 'validation_failed', '"foo"');
      expect((await admin.get(`/environments/${id}/audit?page=2`)).body).toMatchObject({ items: [], page: 2, total: 5 });
    });

    it('logs key and config changes made with the CLI too', async () => {
      const { spawnSync } = await import('node:child_process');
      const { fileURLToPath } = await import('node:url');
      const bin = fileURLToPath(new URL('../bin/pulse-dev.mjs', import.meta.url));
      const env = (await admin.post('/environments', { name: 'Via CLI' })).body.environment;
      const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--json'], { env: t.childEnv, encoding: 'utf8' });
      expect(run('env', 'config', env.id, 'allowImages=false').status).toBe(0);
      expect(run('env', 'rotate', env.id).status).toBe(0);
      const items = (await admin.get(`/environments/${env.id}/audit`)).body.items;
      expect(items.slice(0, 2)).toEqual([
        expect.objectContaining({ action: 'keys.rotated', actorId: null, actorEmail: null, actorName: expect.stringMatching(/^CLI \(.+\)$/) }),
        expect.objectContaining({ action: 'config.updated', detail: 'allowImages on → off', actorName: expect.stringMatching(/^CLI /) }),
      ]);
    });
  });
}
