import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtError, verifyHs256 } from './jwt.ts';

const KEY = new TextEncoder().encode('k'.repeat(32));
const CHECK = { issuer: 'pulse', clockTolerance: 30, requiredClaims: ['sub', 'exp'] };
const NOW = 1_800_000_000;

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A token with any header and payload, signed with HMAC-SHA256 over what is given. */
function forge(header: unknown, payload: unknown, key: Uint8Array = KEY): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}
const claims = (extra: Record<string, unknown> = {}) => ({ iss: 'pulse', sub: 'ada', exp: NOW + 60, ...extra });
const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof JwtError) return err.reason;
    throw err;
  }
  return 'accepted';
};

describe('verifyHs256', () => {
  it('accepts a token signed by jose with the same key and returns its claims', async () => {
    const token = await new SignJWT({ name: 'Ada' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer('pulse').setSubject('ada').setExpirationTime(NOW + 60).sign(KEY);
    expect(verifyHs256(token, KEY, { ...CHECK, now: NOW })).toMatchObject({ sub: 'ada', name: 'Ada', iss: 'pulse' });
  });

  it('refuses every algorithm but HS256, alg none and crit headers', () => {
    expect(reason(() => verifyHs256(forge({ alg: 'HS512' }, claims()), KEY, { ...CHECK, now: NOW }))).toBe('malformed');
    expect(reason(() => verifyHs256(`${b64({ alg: 'none' })}.${b64(claims())}.`, KEY, { ...CHECK, now: NOW }))).toBe('malformed');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256', crit: ['exp'] }, claims()), KEY, { ...CHECK, now: NOW }))).toBe('malformed');
    expect(reason(() => verifyHs256(forge({ typ: 'JWT' }, claims()), KEY, { ...CHECK, now: NOW }))).toBe('malformed');
  });

  it('refuses another key, a changed payload and a truncated or padded signature', () => {
    const good = forge({ alg: 'HS256' }, claims());
    expect(reason(() => verifyHs256(good, KEY, { ...CHECK, now: NOW }))).toBe('accepted');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims(), new Uint8Array(32)), KEY, { ...CHECK, now: NOW }))).toBe('signature');
    const [h, , s] = good.split('.');
    expect(reason(() => verifyHs256(`${h}.${b64(claims({ sub: 'root' }))}.${s}`, KEY, { ...CHECK, now: NOW }))).toBe('signature');
    expect(reason(() => verifyHs256(good.slice(0, -2), KEY, { ...CHECK, now: NOW }))).toBe('signature');
    expect(reason(() => verifyHs256(`${good}AA`, KEY, { ...CHECK, now: NOW }))).toBe('signature');
    expect(reason(() => verifyHs256(`${good}=`, KEY, { ...CHECK, now: NOW }))).toBe('malformed');
  });

  it('refuses malformed tokens: parts, base64url, JSON, non-objects', () => {
    for (const token of ['', 'a', 'a.b', 'a.b.c.d', '.b.c', 'a..c', 'a.b.', '!!.b.c']) {
      expect(reason(() => verifyHs256(token, KEY, { ...CHECK, now: NOW })), token).toBe('malformed');
    }
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, '[1,2]'), KEY, { ...CHECK, now: NOW }))).toBe('malformed');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, 'not json'), KEY, { ...CHECK, now: NOW }))).toBe('malformed');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, 'null'), KEY, { ...CHECK, now: NOW }))).toBe('malformed');
  });

  it('checks the issuer, the required claims and the types of exp, nbf and iat', () => {
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ iss: 'other' })), KEY, { ...CHECK, now: NOW }))).toBe('claims');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ sub: undefined })), KEY, { ...CHECK, now: NOW }))).toBe('claims');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ exp: String(NOW + 60) })), KEY, { ...CHECK, now: NOW }))).toBe('claims');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ iat: 'yesterday' })), KEY, { ...CHECK, now: NOW }))).toBe('claims');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ nbf: NOW + 31 })), KEY, { ...CHECK, now: NOW }))).toBe('claims');
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ nbf: NOW + 29 })), KEY, { ...CHECK, now: NOW }))).toBe('accepted');
  });

  it('expires at exp plus the clock tolerance', () => {
    const token = forge({ alg: 'HS256' }, claims({ exp: NOW }));
    expect(reason(() => verifyHs256(token, KEY, { ...CHECK, now: NOW + 29 }))).toBe('accepted');
    expect(reason(() => verifyHs256(token, KEY, { ...CHECK, now: NOW + 30 }))).toBe('expired');
    // A forged token never reaches the expiry check: its signature fails first.
    expect(reason(() => verifyHs256(forge({ alg: 'HS256' }, claims({ exp: NOW }), new Uint8Array(32)), KEY, { ...CHECK, now: NOW + 99 }))).toBe('signature');
  });
});
