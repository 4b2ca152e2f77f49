import type { KeyRecord, KeyRepo } from './types.ts';

/** Keys kept at most; a deployment has a handful per environment. */
const MAX_KEYS = 10_000;

/**
 * Every REST request and socket authentication looks its key up; keys change rarely. Lookups are
 * answered from memory and forgotten whenever keys may have changed:
 * - a key write through this store (create, rotate, revoke) clears the cache at once;
 * - `externalChange()` reports a write by another process to the same database (SQLite's
 *   data_version, read once per event-loop turn: the CLI revoking a key is seen by the next
 *   request that arrives after it);
 * - `invalidate()` is called for key events from the control log (other cluster nodes).
 */
export function cachedKeys(repo: KeyRepo, externalChange: () => boolean = () => false): KeyRepo & { invalidateKeys(): void } {
  const byHash = new Map<string, KeyRecord>();
  const byId = new Map<string, KeyRecord>();
  const clear = () => {
    byHash.clear();
    byId.clear();
  };
  const remember = (key: KeyRecord | undefined, hash?: string) => {
    if (!key) return key;
    if (byId.size >= MAX_KEYS) clear();
    byId.set(key.id, key);
    if (hash) byHash.set(hash, key);
    return key;
  };
  const lookup = async (map: Map<string, KeyRecord>, k: string, load: () => Promise<KeyRecord | undefined>, hash?: string) => {
    if (externalChange()) clear();
    return map.get(k) ?? remember(await load(), hash);
  };
  return {
    listKeys: (envId) => repo.listKeys(envId),
    findKeyByHash: (keyHash) => lookup(byHash, keyHash, () => repo.findKeyByHash(keyHash), keyHash),
    findKey: (keyId) => lookup(byId, keyId, () => repo.findKey(keyId)),
    async revokeKey(envId, keyId, at) {
      try {
        return await repo.revokeKey(envId, keyId, at);
      } finally {
        clear();
      }
    },
    async rotateKeys(envId, newKeys, at) {
      try {
        return await repo.rotateKeys(envId, newKeys, at);
      } finally {
        clear();
      }
    },
    invalidateKeys: clear,
  };
}
