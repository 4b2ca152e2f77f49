import { LIMITS, type PulseUser } from '@pulse/protocol/lite';

export interface DirectoryTarget {
  baseUrl: string;
  apiKey: string;
  token: () => Promise<string> | string;
}

/**
 * Names and colours of the environment's users, for comment authors who are not online and
 * for @mention suggestions. Fetched in batches from the server and cached.
 */
export class UserDirectory {
  readonly #users = new Map<string, PulseUser>();
  readonly #wanted = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #target: DirectoryTarget | undefined;
  onChange: () => void = () => {};

  setTarget(target: DirectoryTarget): void {
    this.#target = target;
  }

  get(id: string): PulseUser | undefined {
    const user = this.#users.get(id);
    if (!user && !this.#wanted.has(id)) {
      this.#wanted.add(id);
      this.#timer ??= setTimeout(() => void this.#fetchWanted(), 30);
    }
    return user;
  }

  add(users: Iterable<PulseUser>): void {
    let changed = false;
    for (const u of users) {
      const before = this.#users.get(u.id);
      if (!before || before.name !== u.name || before.avatar !== u.avatar || before.color !== u.color) {
        this.#users.set(u.id, u);
        changed = true;
      }
    }
    if (changed) this.onChange();
  }

  known(): PulseUser[] {
    return [...this.#users.values()];
  }

  async #request(params: URLSearchParams): Promise<PulseUser[]> {
    const target = this.#target;
    if (!target) return [];
    const res = await fetch(`${target.baseUrl}/api/v1/directory/users?${params}`, {
      headers: { 'X-Pulse-Key': target.apiKey, 'X-Pulse-Token': await target.token() },
    });
    if (!res.ok) return [];
    return ((await res.json()) as { items: PulseUser[] }).items;
  }

  async #fetchWanted(): Promise<void> {
    this.#timer = undefined;
    const ids = [...this.#wanted].filter((id) => !this.#users.has(id)).slice(0, LIMITS.directoryIds);
    if (ids.length === 0) return;
    try {
      this.add(await this.#request(new URLSearchParams({ ids: ids.join(',') })));
    } catch {
      // offline: names fall back to ids until the next attempt
      for (const id of ids) this.#wanted.delete(id);
    }
  }

  /** Users whose name or id matches, for @mention suggestions. */
  async search(query: string): Promise<PulseUser[]> {
    try {
      const found = await this.#request(new URLSearchParams({ q: query }));
      this.add(found);
      return found;
    } catch {
      return [];
    }
  }
}
