import { createHmac, randomUUID } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import {
  PulseError,
  TOKEN_CLOCK_TOLERANCE_S,
  TOKEN_DEFAULT_LIFETIME_S,
  type User,
} from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { KeyRecord } from '../store/types.ts';
import { JwtError, verifyHs256 } from './jwt.ts';
import { authenticatePublishableKey } from './keys.ts';

const ISSUER = 'pulse';
const ALG = 'HS256';

/** Claims of a Pulse user token, beside the registered ones (`sub` = external user id). */
interface PulseClaims {
  /** Environment id. */
  env: string;
  /** Id of the secret key that minted the token. */
  key: string;
  name: string;
  avatar?: string | null;
  color?: string;
}

export interface TokenSubject {
  externalId: string;
  name: string;
  avatar: string | null;
  color?: string;
}

export interface VerifiedToken {
  environmentId: string;
  /** The publishable key the client presented. */
  publishableKeyId: string;
  /** The secret key that minted the token. */
  secretKeyId: string;
  user: TokenSubject;
  expiresAt: Date;
}

/**
 * Mints and verifies user tokens. The HMAC key of each environment is derived from the server
 * secret, so a token signed for one environment never verifies in another.
 */
export class TokenService {
  readonly #secret: Buffer;
  readonly #store: Store;
  /** Derived signing keys by environment id (the derivation is fixed; environments are few). */
  readonly #keys = new Map<string, Uint8Array>();

  constructor(secret: Buffer, store: Store) {
    this.#secret = secret;
    this.#store = store;
  }

  #keyFor(envId: string): Uint8Array {
    let key = this.#keys.get(envId);
    if (!key) {
      key = createHmac('sha256', this.#secret).update(`pulse/user-token/v1/${envId}`).digest();
      if (this.#keys.size >= 10_000) this.#keys.clear();
      this.#keys.set(envId, key);
    }
    return key;
  }

  /** The claims of a token that did not verify; undefined when they cannot be read. */
  #unverifiedClaims(token: string): ReturnType<typeof decodeJwt> | undefined {
    try {
      return decodeJwt(token);
    } catch {
      return undefined;
    }
  }

  async mint(secretKey: KeyRecord, user: TokenSubject, lifetimeS = TOKEN_DEFAULT_LIFETIME_S): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + lifetimeS;
    const claims: PulseClaims = { env: secretKey.environmentId, key: secretKey.id, name: user.name };
    if (user.avatar) claims.avatar = user.avatar;
    if (user.color) claims.color = user.color;
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(user.externalId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.#keyFor(secretKey.environmentId));
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies a user token presented with a publishable key. Rejects: an unknown or revoked
   * `pk_`, a malformed token or bad signature, an expired token, a token of another
   * environment than the `pk_`, and a token whose minting secret key was revoked or rotated.
   */
  async verify(publishableKey: string | undefined, token: string | undefined): Promise<VerifiedToken> {
    const pk = await authenticatePublishableKey(this.#store, publishableKey);
    if (!token) throw new PulseError('invalid_token', 'A user token is required.');

    let claims: PulseClaims & { sub?: string; exp?: number };
    try {
      claims = verifyHs256(token, this.#keyFor(pk.environmentId), {
        issuer: ISSUER,
        clockTolerance: TOKEN_CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp', 'env', 'key', 'name'],
      }) as unknown as PulseClaims & { sub?: string; exp?: number };
    } catch (err) {
      // Each environment signs with its own key: another environment's token fails the
      // signature, and its claims, read unverified only now, say why.
      const unverified = this.#unverifiedClaims(token);
      if (!unverified) throw new PulseError('invalid_token');
      if (unverified.env !== pk.environmentId) throw new PulseError('environment_mismatch');
      if (err instanceof JwtError && err.reason === 'expired') throw new PulseError('token_expired');
      throw new PulseError('invalid_token');
    }
    if (claims.env !== pk.environmentId) throw new PulseError('environment_mismatch');
    if (typeof claims.sub !== 'string' || typeof claims.name !== 'string' || typeof claims.key !== 'string') {
      throw new PulseError('invalid_token');
    }

    const minter = await this.#store.findKey(claims.key);
    if (!minter || minter.kind !== 'secret' || minter.environmentId !== pk.environmentId || minter.revokedAt) {
      throw new PulseError('token_revoked');
    }
    return {
      environmentId: pk.environmentId,
      publishableKeyId: pk.id,
      secretKeyId: minter.id,
      user: {
        externalId: claims.sub,
        name: claims.name,
        avatar: typeof claims.avatar === 'string' ? claims.avatar : null,
        ...(typeof claims.color === 'string' ? { color: claims.color } : {}),
      },
      expiresAt: new Date((claims.exp ?? 0) * 1000),
    };
  }
}

export type { User };
