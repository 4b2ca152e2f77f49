import { CLOSE_CODES, ERROR_CATALOGUE } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { RoomRegistry } from './registry.ts';

/**
 * Closes the sockets a key change takes away: those whose publishable key was revoked or rotated
 * (4403, nothing a retry fixes) and those whose token's minting secret key was (4401, a fresh
 * token fixes it). Runs on every node, from the control log.
 */
export async function closeRevokedSockets(store: Store, registry: RoomRegistry, envId: string): Promise<void> {
  const conns = registry.connectionsOf(envId);
  if (!conns || conns.size === 0) return;
  const keys = await store.listKeys(envId);
  const revoked = new Set(keys.filter((k) => k.revokedAt).map((k) => k.id));
  for (const conn of conns) {
    const id = conn.identity!;
    if (revoked.has(id.publishableKeyId)) {
      conn.sendNow({ type: 'error', code: 'key_revoked', message: ERROR_CATALOGUE.key_revoked.message });
      conn.close(CLOSE_CODES.FORBIDDEN, 'key_revoked');
    } else if (revoked.has(id.secretKeyId)) {
      conn.sendNow({ type: 'error', code: 'token_revoked', message: ERROR_CATALOGUE.token_revoked.message });
      conn.close(CLOSE_CODES.UNAUTHORIZED, 'token_revoked');
    }
  }
}
