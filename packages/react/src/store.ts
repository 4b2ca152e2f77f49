import type { ClientThread, PulseClient } from '@pulse/core';
import type { EnvConfig, Notification, PresenceMember, PulseUser } from '@pulse/protocol/lite';

/** The parts of the room state the hooks read, each kept as one immutable snapshot. */
export interface Snapshots {
  threads: ClientThread[];
  presence: PresenceMember[];
  /** Everyone in the room but the signed-in user. */
  others: PresenceMember[];
  notifications: Notification[];
  user: PulseUser | null;
  config: EnvConfig;
}

type Key = keyof Snapshots;

/**
 * A `useSyncExternalStore` source over `client.state`: `client.state.threads` builds a new array
 * on every read, so the hooks read snapshots kept here instead, replaced only when the state emits
 * a change. A component subscribed to one key re-renders only when that key's snapshot changes.
 */
export class PulseStore {
  readonly #client: PulseClient;
  readonly #snapshots: Snapshots;
  readonly #listeners = new Map<Key, Set<() => void>>();

  constructor(client: PulseClient) {
    this.#client = client;
    const s = client.state;
    this.#snapshots = {
      threads: s.threads,
      presence: s.presence,
      others: [],
      notifications: s.notifications,
      user: s.user,
      config: s.config,
    };
    this.#snapshots.others = this.#others();
    s.on('threads', (threads) => this.#set('threads', threads));
    s.on('presence', (presence) => {
      this.#set('presence', presence);
      this.#set('others', this.#others());
    });
    s.on('notifications', (notifications) => this.#set('notifications', notifications));
    s.on('config', (config) => this.#set('config', config));
    s.on('auth', (user) => {
      this.#set('user', user);
      this.#set('others', this.#others());
    });
  }

  get client(): PulseClient {
    return this.#client;
  }

  get<K extends Key>(key: K): Snapshots[K] {
    return this.#snapshots[key];
  }

  subscribe(key: Key, listener: () => void): () => void {
    let set = this.#listeners.get(key);
    if (!set) this.#listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  #set<K extends Key>(key: K, value: Snapshots[K]): void {
    this.#snapshots[key] = value;
    for (const listener of [...(this.#listeners.get(key) ?? [])]) listener();
  }

  #others(): PresenceMember[] {
    const me = this.#client.state.user?.id;
    return this.#client.state.presence.filter((m) => m.userId !== me);
  }
}
