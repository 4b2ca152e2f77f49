import type { ErrorCode } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { Connection } from './connection.ts';
import type { RoomRegistry } from './registry.ts';

/**
 * Closes the sockets a key change takes away: those whose publishable key was revoked or rotated
 * (`key_revoked`, 4403: nothing a retry fixes) and those whose token's minting secret key was
 * (`token_revoked`, 4401: a fresh token fixes it). Runs on every node, from the control log.
 */
export async function closeRevokedSockets(
  store: Store,
  registry: RoomRegistry,
  envId: string,
  expel: (conn: Connection, code: ErrorCode) => void,
): Promise<void> {
  const conns = registry.connectionsOf(envId);
  if (!conns || conns.size === 0) return;
  const keys = await store.listKeys(envId);
  const revoked = new Set(keys.filter((k) => k.revokedAt).map((k) => k.id));
  for (const conn of conns) {
    const id = conn.identity!;
    if (revoked.has(id.publishableKeyId)) expel(conn, 'key_revoked');
    else if (revoked.has(id.secretKeyId)) expel(conn, 'token_revoked');
  }
}
