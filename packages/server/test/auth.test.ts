import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { colorForUser, TOKEN_CLOCK_TOLERANCE_S, TOKEN_DEFAULT_LIFETIME_S, TOKEN_MAX_LIFETIME_S, TOKEN_MIN_LIFETIME_S } from '@pulse/protocol';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startPulseServer } from '../src/server.ts';
import type { KeyRecord } from '../src/store/types.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';

/** User tokens: POST /auth/token, and their verification with a publishable key. */

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const parts = (token: string) => token.split('.') as [string, string, string];
/** Replaces one character in the middle of a base64url segment (never the last, whose low bits may be unused). */
const flipChar = (segment: string, at = Math.floor(segment.length / 2)) =>
  segment.slice(0, at) + (segment[at] === 'A' ? 'B' : 'A') + segment.slice(at + 1);

for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`user tokens (${driver})`, () => {
    let t: TestServer;
    let envB: { id: string; publishableKey: string; secretKey: string };

    const mint = async (body: Record<string, unknown>, key = t.secretKey) => t.api('POST', '/auth/token', body, key);
    const verify = (pk: string | undefined, token: string | undefined) => t.server.ctx.tokens.verify(pk, token);
    const activeKey = async (envId: string, kind: KeyRecord['kind']) =>
      (await t.server.ctx.environments.keys(envId)).find((k) => k.kind === kind && !k.revokedAt)!;
    /** A fresh environment, for tests that revoke or rotate keys. */
    const freshEnv = (name: string) => t.server.ctx.environments.create(`${name} ${Math.random().toString(36).slice(2, 8)}`);

    beforeAll(async () => {
      t = await startTestServer(driver);
      envB = await t.server.ctx.environments.create('Environment B');
    });
    afterAll(async () => {
      await t?.close();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    describe('POST /auth/token', () => {
      it('returns { token, expiresAt, user } valid for about an hour by default', async () => {
        const before = Date.now();
        const res = await mint({ userId: 'user-1', name: 'Alice Chen', avatar: 'https://example.com/alice.jpg' });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'token', 'user']);
        expect(res.body.user).toEqual({
          id: `${t.envId}:user-1`,
          externalId: 'user-1',
          name: 'Alice Chen',
          avatar: 'https://example.com/alice.jpg',
          color: colorForUser('user-1'),
        });
        expect(res.body.expiresAt).toMatch(ISO_MS);
        const lifetimeS = (Date.parse(res.body.expiresAt) - before) / 1000;
        expect(TOKEN_DEFAULT_LIFETIME_S).toBe(3600);
        expect(lifetimeS).toBeGreaterThan(TOKEN_DEFAULT_LIFETIME_S - 10);
        expect(lifetimeS).toBeLessThanOrEqual(TOKEN_DEFAULT_LIFETIME_S + 1);

        // A JWT whose claims agree with the response.
        expect(parts(res.body.token)).toHaveLength(3);
        const claims = decodeJwt(res.body.token);
        expect(claims.sub).toBe('user-1');
        expect(claims.exp! * 1000).toBe(Date.parse(res.body.expiresAt));
        expect(claims.env).toBe(t.envId);
      });

      it('honours expiresIn between 60 s and 7 days and rejects values outside', async () => {
        expect(TOKEN_MIN_LIFETIME_S).toBe(60);
        expect(TOKEN_MAX_LIFETIME_S).toBe(7 * 24 * 3600);
        for (const expiresIn of [60, 7 * 24 * 3600]) {
          const before = Date.now();
          const res = await mint({ userId: 'user-life', name: 'Life', expiresIn });
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          const lifetimeS = (Date.parse(res.body.expiresAt) - before) / 1000;
          expect(lifetimeS).toBeGreaterThan(expiresIn - 2);
          expect(lifetimeS).toBeLessThanOrEqual(expiresIn + 1);
        }
        for (const expiresIn of [59, 0, -1, 7 * 24 * 3600 + 1, 1.5, '3600', null]) {
          const res = await mint({ userId: 'user-life', name: 'Life', expiresIn });
          expect(res.status, `expiresIn=${JSON.stringify(expiresIn)}`).toBe(400);
          expect(res.body.error.code).toBe('validation_failed');
          expect(res.body.error.message).toContain('expiresIn');
        }
      });

      it('requires the secret key', async () => {
        const cases: [string, string][] = [
          ['', 'unauthorized'],
          [t.publishableKey, 'publishable_key_not_allowed'],
          [`sk_${'f'.repeat(48)}`, 'invalid_api_key'],
        ];
        for (const [key, code] of cases) {
          const res = await mint({ userId: 'u', name: 'U' }, key);
          expect(res.status).toBe(401);
          expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
        }
      });
    });

    describe('verification with a publishable key', () => {
      it('accepts a good token with the right environment and user', async () => {
        const res = await mint({ userId: 'user-ok', name: 'Okay', avatar: 'https://example.com/ok.png', color: '#10b981' });
        const verified = await verify(t.publishableKey, res.body.token);
        const sk = await activeKey(t.envId, 'secret');
        const pk = await activeKey(t.envId, 'publishable');
        expect(verified).toEqual({
          environmentId: t.envId,
          publishableKeyId: pk.id,
          secretKeyId: sk.id,
          user: { externalId: 'user-ok', name: 'Okay', avatar: 'https://example.com/ok.png', color: '#10b981' },
          expiresAt: new Date(res.body.expiresAt),
        });
        // Environment B's own tokens verify with B's publishable key.
        const inB = await mint({ userId: 'user-ok', name: 'Okay in B' }, envB.secretKey);
        const verifiedB = await verify(envB.publishableKey, inB.body.token);
        expect(verifiedB.environmentId).toBe(envB.id);
        expect(verifiedB.user).toEqual({ externalId: 'user-ok', name: 'Okay in B', avatar: null });
      });

      it('rejects a tampered token with invalid_token', async () => {
        const { token } = (await mint({ userId: 'user-tamper', name: 'Tamper' })).body;
        const [header, payload, signature] = parts(token);
        // A changed signature.
        await expect(verify(t.publishableKey, `${header}.${payload}.${flipChar(signature)}`)).rejects.toMatchObject({
          code: 'invalid_token',
          status: 401,
        });
        // A changed payload under the original signature (claim another user).
        const claims = decodeJwt(token);
        const forged = b64({ ...claims, sub: 'admin', name: 'Admin' });
        await expect(verify(t.publishableKey, `${header}.${forged}.${signature}`)).rejects.toMatchObject({ code: 'invalid_token' });
        // A later expiry under the original signature.
        const extended = b64({ ...claims, exp: claims.exp! + 86_400 });
        await expect(verify(t.publishableKey, `${header}.${extended}.${signature}`)).rejects.toMatchObject({ code: 'invalid_token' });
        // No signature, and alg "none".
        await expect(verify(t.publishableKey, `${header}.${payload}.`)).rejects.toMatchObject({ code: 'invalid_token' });
        const none = b64({ alg: 'none', typ: 'JWT' });
        await expect(verify(t.publishableKey, `${none}.${payload}.`)).rejects.toMatchObject({ code: 'invalid_token' });
        // Well-formed claims signed with a key that is not the server's.
        const foreign = await new SignJWT({ env: t.envId, key: (await activeKey(t.envId, 'secret')).id, name: 'Mallory' })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuer('pulse')
          .setSubject('mallory')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode('x'.repeat(32)));
        await expect(verify(t.publishableKey, foreign)).rejects.toMatchObject({ code: 'invalid_token' });
        // Garbage and missing tokens.
        await expect(verify(t.publishableKey, 'not-a-jwt')).rejects.toMatchObject({ code: 'invalid_token' });
        await expect(verify(t.publishableKey, '')).rejects.toMatchObject({ code: 'invalid_token' });
        await expect(verify(t.publishableKey, undefined)).rejects.toMatchObject({ code: 'invalid_token' });
      });

      it("rejects environment B's token with environment A's publishable key: environment_mismatch", async () => {
        const { token } = (await mint({ userId: 'user-b', name: 'From B' }, envB.secretKey)).body;
        await expect(verify(t.publishableKey, token)).rejects.toMatchObject({ code: 'environment_mismatch', status: 401 });
        // Relabelling B's token as A's breaks its signature: the signing key is per environment.
        const [header, , signature] = parts(token);
        const relabelled = b64({ ...decodeJwt(token), env: t.envId });
        await expect(verify(t.publishableKey, `${header}.${relabelled}.${signature}`)).rejects.toMatchObject({ code: 'invalid_token' });
        // And A's token is no good with B's publishable key.
        const { token: tokenA } = (await mint({ userId: 'user-a', name: 'From A' })).body;
        await expect(verify(envB.publishableKey, tokenA)).rejects.toMatchObject({ code: 'environment_mismatch' });
      });

      it('rejects an expired token with token_expired', async () => {
        const sk = await activeKey(t.envId, 'secret');
        const { token, expiresAt } = await t.server.ctx.tokens.mint(sk, { externalId: 'user-exp', name: 'Expiring', avatar: null }, 60);
        expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
        await expect(verify(t.publishableKey, token)).resolves.toMatchObject({ user: { externalId: 'user-exp' } });

        vi.useFakeTimers({ toFake: ['Date'] });
        // Within the clock tolerance it still passes…
        vi.setSystemTime(expiresAt.getTime() + (TOKEN_CLOCK_TOLERANCE_S - 2) * 1000);
        await expect(verify(t.publishableKey, token)).resolves.toMatchObject({ environmentId: t.envId });
        // …past it, it is expired.
        vi.setSystemTime(expiresAt.getTime() + (TOKEN_CLOCK_TOLERANCE_S + 1) * 1000);
        await expect(verify(t.publishableKey, token)).rejects.toMatchObject({ code: 'token_expired', status: 401 });
        vi.setSystemTime(expiresAt.getTime() + 7 * 24 * 3600 * 1000);
        await expect(verify(t.publishableKey, token)).rejects.toMatchObject({ code: 'token_expired' });
        vi.useRealTimers();

        // A token minted through POST /auth/token with the shortest lifetime expires the same way.
        const res = await mint({ userId: 'user-exp', name: 'Expiring', expiresIn: 60 });
        vi.useFakeTimers({ toFake: ['Date'] });
        vi.setSystemTime(Date.parse(res.body.expiresAt) + (TOKEN_CLOCK_TOLERANCE_S + 1) * 1000);
        await expect(verify(t.publishableKey, res.body.token)).rejects.toMatchObject({ code: 'token_expired' });
      });

      it('rejects a token whose minting secret key was revoked: token_revoked', async () => {
        const env = await freshEnv('revoke-sk');
        const { token } = (await mint({ userId: 'user-r', name: 'R' }, env.secretKey)).body;
        await expect(verify(env.publishableKey, token)).resolves.toMatchObject({ environmentId: env.id });
        const sk = await activeKey(env.id, 'secret');
        await t.server.ctx.environments.revoke(env.id, sk.id);
        await expect(verify(env.publishableKey, token)).rejects.toMatchObject({ code: 'token_revoked', status: 401 });
        // The publishable key itself is still active.
        expect((await activeKey(env.id, 'publishable'))?.value).toBe(env.publishableKey);
      });

      it('rejects a token minted by a rotated-away key: token_revoked with the new pk, key_revoked with the old one', async () => {
        const env = await freshEnv('rotate');
        const { token } = (await mint({ userId: 'user-rot', name: 'Rot' }, env.secretKey)).body;
        await expect(verify(env.publishableKey, token)).resolves.toMatchObject({ environmentId: env.id });
        const rotated = await t.server.ctx.environments.rotate(env.id);
        await expect(verify(rotated.publishableKey, token)).rejects.toMatchObject({ code: 'token_revoked' });
        await expect(verify(env.publishableKey, token)).rejects.toMatchObject({ code: 'key_revoked' });
        // Tokens from the new secret key work with the new publishable key.
        const fresh = await mint({ userId: 'user-rot', name: 'Rot' }, rotated.secretKey);
        expect(fresh.status).toBe(200);
        await expect(verify(rotated.publishableKey, fresh.body.token)).resolves.toMatchObject({ environmentId: env.id });
        await expect(verify(env.publishableKey, fresh.body.token)).rejects.toMatchObject({ code: 'key_revoked' });
      });

      it('rejects a revoked publishable key: key_revoked', async () => {
        const env = await freshEnv('revoke-pk');
        const { token } = (await mint({ userId: 'user-pk', name: 'PK' }, env.secretKey)).body;
        const pk = await activeKey(env.id, 'publishable');
        await t.server.ctx.environments.revoke(env.id, pk.id);
        await expect(verify(env.publishableKey, token)).rejects.toMatchObject({ code: 'key_revoked', status: 401 });
        // The secret key still mints; only the pk is gone.
        expect((await mint({ userId: 'user-pk', name: 'PK' }, env.secretKey)).status).toBe(200);
      });

      it('rejects a secret key presented as the publishable key: secret_key_not_allowed', async () => {
        const { token } = (await mint({ userId: 'user-sk', name: 'SK' })).body;
        await expect(verify(t.secretKey, token)).rejects.toMatchObject({ code: 'secret_key_not_allowed', status: 401 });
        await expect(verify(`sk_${'0'.repeat(48)}`, token)).rejects.toMatchObject({ code: 'secret_key_not_allowed' });
      });

      it('rejects a missing or unknown publishable key', async () => {
        const { token } = (await mint({ userId: 'user-pk2', name: 'PK2' })).body;
        await expect(verify(undefined, token)).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
        await expect(verify('', token)).rejects.toMatchObject({ code: 'unauthorized' });
        await expect(verify(`pk_${'0'.repeat(48)}`, token)).rejects.toMatchObject({ code: 'invalid_api_key', status: 401 });
        await expect(verify('not-a-key', token)).rejects.toMatchObject({ code: 'invalid_api_key' });
      });
    });

    describe('server secret', () => {
      it('is generated into the data dir with mode 0600', () => {
        const file = join(t.options.dataDir, 'secret.key');
        const stat = statSync(file);
        expect(stat.isFile()).toBe(true);
        expect(stat.mode & 0o777).toBe(0o600);
      });

      it('is reused by a server started on the same storage (tokens stay valid) and its mode repaired', async () => {
        const file = join(t.options.dataDir, 'secret.key');
        const { token } = (await mint({ userId: 'user-restart', name: 'Restart' })).body;
        chmodSync(file, 0o644);
        const second = await startPulseServer({ ...t.options, port: 0 });
        try {
          expect(second.firstRun).toBeUndefined();
          expect(statSync(file).mode & 0o777).toBe(0o600);
          await expect(second.ctx.tokens.verify(t.publishableKey, token)).resolves.toMatchObject({
            environmentId: t.envId,
            user: { externalId: 'user-restart' },
          });
        } finally {
          await second.close();
        }
      });
    });
  });
}
