import {
  DEFAULT_ENV_CONFIG,
  PulseError,
  type EnvConfig,
  type EnvConfigPatch,
  type EnvironmentInfo,
} from '@pulse/protocol';
import { hashKey, keyPrefix, newEnvironmentId, newKeyId, newPublishableKey, newSecretKey, nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { KeyRecord, NewKey } from '../store/types.ts';

export interface KeyPair {
  publishableKey: string;
  secretKey: string;
}

/** What changed, so running servers can drop caches and close sockets that depend on it. */
export type ControlKind = 'environment.created' | 'environment.renamed' | 'keys.rotated' | 'key.revoked' | 'config.updated';

export interface ControlListener {
  (change: { environmentId: string; kind: ControlKind; revokedKeyIds?: string[] }): void;
}

function newPair(): { pair: KeyPair; rows: NewKey[] } {
  const publishableKey = newPublishableKey();
  const secretKey = newSecretKey();
  return {
    pair: { publishableKey, secretKey },
    rows: [
      { id: newKeyId(), kind: 'publishable', keyHash: hashKey(publishableKey), prefix: keyPrefix(publishableKey), value: publishableKey },
      { id: newKeyId(), kind: 'secret', keyHash: hashKey(secretKey), prefix: keyPrefix(secretKey), value: null },
    ],
  };
}

/**
 * Environments, their keys and their config. Shared by the CLI, the admin API and the server.
 * Every change is also appended to the control log, which running servers poll.
 */
export class EnvironmentService {
  readonly #store: Store;
  readonly #listeners = new Set<ControlListener>();
  readonly #own = new Set<number>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** True for a control-log event this instance wrote (and so already announced to its listeners). */
  wroteEvent(id: number): boolean {
    return this.#own.delete(id);
  }

  /** Local, synchronous notification of changes made through this instance. */
  onChange(listener: ControlListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #changed(environmentId: string, kind: ControlKind, revokedKeyIds?: string[]) {
    const id = await this.#store.appendControlEvent(environmentId, kind, nowIso());
    // Listeners here have applied it already; the control-log poller of this process skips it.
    this.#own.add(id);
    if (this.#own.size > 1000) this.#own.delete(this.#own.values().next().value!);
    for (const listener of this.#listeners) listener({ environmentId, kind, ...(revokedKeyIds ? { revokedKeyIds } : {}) });
  }

  async create(name: string): Promise<{ id: string; name: string; createdAt: string } & KeyPair> {
    const trimmed = name.trim();
    if (!trimmed) throw new PulseError('validation_failed', 'name: must not be empty');
    if (trimmed.length > 80) throw new PulseError('validation_failed', 'name: must be at most 80 characters');
    const id = newEnvironmentId();
    const createdAt = nowIso();
    const { pair, rows } = newPair();
    await this.#store.createEnvironment({ id, name: trimmed, createdAt, config: { ...DEFAULT_ENV_CONFIG } }, rows);
    await this.#changed(id, 'environment.created');
    return { id, name: trimmed, createdAt, ...pair };
  }

  async list(): Promise<EnvironmentInfo[]> {
    const envs = await this.#store.listEnvironments();
    return Promise.all(envs.map(async (e) => ({ ...e, counts: await this.#store.countEnvironment(e.id) })));
  }

  async get(envId: string): Promise<EnvironmentInfo> {
    const env = await this.#store.getEnvironment(envId);
    if (!env) throw new PulseError('environment_not_found');
    return { ...env, counts: await this.#store.countEnvironment(envId) };
  }

  async rename(envId: string, name: string): Promise<EnvironmentInfo> {
    const trimmed = name.trim();
    if (!trimmed) throw new PulseError('validation_failed', 'name: must not be empty');
    if (trimmed.length > 80) throw new PulseError('validation_failed', 'name: must be at most 80 characters');
    const env = await this.#store.renameEnvironment(envId, trimmed);
    if (!env) throw new PulseError('environment_not_found');
    await this.#changed(envId, 'environment.renamed');
    return this.get(envId);
  }

  async keys(envId: string): Promise<KeyRecord[]> {
    await this.get(envId);
    return this.#store.listKeys(envId);
  }

  /** Replaces the active pair: the old keys, and every token they minted, stop working at once. */
  async rotate(envId: string): Promise<KeyPair & { revokedKeyIds: string[] }> {
    await this.get(envId);
    const { pair, rows } = newPair();
    const revoked = await this.#store.rotateKeys(envId, rows, nowIso());
    const revokedKeyIds = revoked.map((k) => k.id);
    await this.#changed(envId, 'keys.rotated', revokedKeyIds);
    return { ...pair, revokedKeyIds };
  }

  /** Revokes one key, named by its id or by its prefix (as shown in key lists). */
  async revoke(envId: string, keyIdOrPrefix: string): Promise<KeyRecord> {
    const keys = await this.keys(envId);
    const matches = keys.filter((k) => k.id === keyIdOrPrefix || k.prefix === keyIdOrPrefix || k.value === keyIdOrPrefix);
    if (matches.length === 0) throw new PulseError('key_not_found', `No key "${keyIdOrPrefix}" in environment ${envId}.`);
    const active = matches.filter((k) => !k.revokedAt);
    if (active.length > 1) throw new PulseError('validation_failed', `"${keyIdOrPrefix}" matches several keys; use the key id.`);
    const target = active[0] ?? matches[0]!;
    const revoked = await this.#store.revokeKey(envId, target.id, nowIso());
    if (!revoked) throw new PulseError('key_not_found');
    await this.#changed(envId, 'key.revoked', [revoked.id]);
    return revoked;
  }

  async config(envId: string): Promise<EnvConfig> {
    const config = await this.#store.getConfig(envId);
    if (!config) throw new PulseError('environment_not_found');
    return config;
  }

  async updateConfig(envId: string, patch: EnvConfigPatch): Promise<EnvConfig> {
    const config = await this.#store.updateConfig(envId, patch);
    if (!config) throw new PulseError('environment_not_found');
    await this.#changed(envId, 'config.updated');
    return config;
  }
}
