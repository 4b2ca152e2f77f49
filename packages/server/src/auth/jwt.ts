import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a token was refused: `expired` only for a token that is otherwise valid. */
export class JwtError extends Error {
  constructor(readonly reason: 'malformed' | 'signature' | 'claims' | 'expired') {
    super(`token ${reason}`);
  }
}

export interface Hs256Check {
  issuer: string;
  /** Seconds of clock skew allowed on `exp` and `nbf`. */
  clockTolerance: number;
  requiredClaims: string[];
  /** Seconds since the epoch; defaults to now. */
  now?: number;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function jsonPart(part: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) throw new JwtError('malformed');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtError('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwtError('malformed');
  return value as Record<string, unknown>;
}

/**
 * Verifies a compact JWS signed with HMAC-SHA256 and returns its claims. Synchronous and
 * allocation-light: a join verifies one token, and WebCrypto's async import-then-verify cost
 * more than the HMAC itself. Only `alg: HS256` is accepted (no `none`, no other algorithm, no
 * `crit` extensions); the signature is compared in constant time before any claim is trusted.
 */
export function verifyHs256(token: string, key: Uint8Array, check: Hs256Check): Record<string, unknown> {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || second === token.length - 1 || token.indexOf('.', second + 1) !== -1) {
    throw new JwtError('malformed');
  }
  const header = jsonPart(token.slice(0, first));
  if (header.alg !== 'HS256' || header.crit !== undefined) throw new JwtError('malformed');
  const signature = token.slice(second + 1);
  if (!BASE64URL.test(signature)) throw new JwtError('malformed');
  const expected = createHmac('sha256', key).update(token.slice(0, second)).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new JwtError('signature');

  const claims = jsonPart(token.slice(first + 1, second));
  for (const name of check.requiredClaims) if (claims[name] === undefined) throw new JwtError('claims');
  if (claims.iss !== check.issuer) throw new JwtError('claims');
  const now = check.now ?? Math.floor(Date.now() / 1000);
  for (const name of ['exp', 'nbf', 'iat']) {
    if (claims[name] !== undefined && (typeof claims[name] !== 'number' || !Number.isFinite(claims[name]))) throw new JwtError('claims');
  }
  if (typeof claims.nbf === 'number' && claims.nbf > now + check.clockTolerance) throw new JwtError('claims');
  if (typeof claims.exp === 'number' && claims.exp <= now - check.clockTolerance) throw new JwtError('expired');
  return claims;
}
