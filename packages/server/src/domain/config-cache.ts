import { PulseError, type EnvConfig } from '@pulse/protocol';
import type { Store } from '../store/index.ts';

/**
 * Environment configs, read once and kept until the environment changes (the control
 * poller and local writes call `invalidate`). Keeps config reads off the database on hot paths.
 */
export class ConfigCache {
  readonly #store: Store;
  readonly #configs = new Map<string, Promise<EnvConfig | undefined>>();

  constructor(store: Store) {
    this.#store = store;
  }

  get(envId: string): Promise<EnvConfig | undefined> {
    let entry = this.#configs.get(envId);
    if (!entry) {
      entry = this.#store.getConfig(envId);
      this.#configs.set(envId, entry);
      entry.catch(() => this.#configs.delete(envId));
    }
    return entry;
  }

  async require(envId: string): Promise<EnvConfig> {
    const config = await this.get(envId);
    if (!config) throw new PulseError('environment_not_found');
    return config;
  }

  invalidate(envId: string | null): void {
    if (envId === null) this.#configs.clear();
    else this.#configs.delete(envId);
  }
}
