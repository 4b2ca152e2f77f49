import { PulseError } from '@pulse/protocol';
import { hashKey } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { KeyRecord } from '../store/types.ts';

/**
 * Hashes of publishable keys seen (every join presents one; they are public, unlike secret keys,
 * which are hashed each time rather than kept in memory).
 */
const publishableHashes = new Map<string, string>();

function hashOf(presented: string, kind: KeyRecord['kind']): string {
  if (kind !== 'publishable') return hashKey(presented);
  let hash = publishableHashes.get(presented);
  if (hash === undefined) {
    if (publishableHashes.size >= 1000) publishableHashes.clear();
    publishableHashes.set(presented, (hash = hashKey(presented)));
  }
  return hash;
}

/** Resolves a presented key to its active record, or throws the right 401. */
async function activeKey(store: Store, presented: string, kind: KeyRecord['kind']): Promise<KeyRecord> {
  const key = await store.findKeyByHash(hashOf(presented, kind));
  if (!key || key.kind !== kind) throw new PulseError('invalid_api_key');
  if (key.revokedAt) throw new PulseError('key_revoked');
  return key;
}

/** `Authorization: Bearer sk_…` → the secret key, for REST and POST /auth/token. */
export async function authenticateSecretKey(store: Store, authorization: string | undefined): Promise<KeyRecord> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) throw new PulseError('unauthorized', 'Send your secret key as "Authorization: Bearer sk_…".');
  const presented = match[1]!;
  if (presented.startsWith('pk_')) throw new PulseError('publishable_key_not_allowed');
  if (presented.startsWith('eyJ') && presented.split('.').length === 3) {
    throw new PulseError('invalid_api_key', 'This is a user token (from POST /auth/token, for the WebSocket and uploads); the REST API takes your secret key: "Authorization: Bearer sk_…".');
  }
  if (!presented.startsWith('sk_')) throw new PulseError('invalid_api_key');
  return activeKey(store, presented, 'secret');
}

/** A publishable key presented by a client (WebSocket `auth`, uploads). */
export async function authenticatePublishableKey(store: Store, presented: string | undefined): Promise<KeyRecord> {
  if (!presented) throw new PulseError('unauthorized', 'A publishable key (pk_…) is required.');
  if (presented.startsWith('sk_')) throw new PulseError('secret_key_not_allowed');
  if (!presented.startsWith('pk_')) throw new PulseError('invalid_api_key');
  return activeKey(store, presented, 'publishable');
}
