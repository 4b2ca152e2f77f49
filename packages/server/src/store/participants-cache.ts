/** Threads kept at most (their participant lists are a few user ids each). */
const MAX_THREADS = 10_000;

/**
 * Who took part in a thread, asked on every reply (its notifications) and answered from memory
 * where this process writes every comment (SQLite): the database is read once per thread, then
 * each comment written through the store adds its author. Forgotten when a comment or thread is
 * deleted (a participant may be gone), and all of it when `externalChange()` reports a write by
 * another process (SQLite's data_version: the CLI).
 *
 * A read from the database that a change to the same thread overtakes is not kept: it may
 * predate the change.
 */
export class ParticipantsCache {
  readonly #threads = new Map<string, string[]>();
  /** Reads under way, by thread: a change to the thread takes its entry away, and the read is then not kept. */
  readonly #loading = new Map<string, object>();
  readonly #externalChange: () => boolean;

  constructor(externalChange: () => boolean = () => false) {
    this.#externalChange = externalChange;
  }

  async get(envId: string, threadId: string, load: () => Promise<string[]>): Promise<string[]> {
    if (this.#externalChange()) this.clear();
    const key = keyOf(envId, threadId);
    const known = this.#threads.get(key);
    if (known) {
      // Most recently used last: the oldest is dropped first.
      this.#threads.delete(key);
      this.#threads.set(key, known);
      return [...known];
    }
    const token = {};
    this.#loading.set(key, token);
    const users = await load();
    if (this.#loading.get(key) === token) {
      this.#loading.delete(key);
      if (this.#threads.size >= MAX_THREADS) this.#threads.delete(this.#threads.keys().next().value!);
      this.#threads.set(key, [...users]);
    }
    return users;
  }

  /** A comment by `userId` was committed in the thread. */
  added(envId: string, threadId: string, userId: string): void {
    const key = keyOf(envId, threadId);
    this.#loading.delete(key);
    const users = this.#threads.get(key);
    // In the database's order (by user id), so answers do not depend on where they came from.
    if (users && !users.includes(userId)) users.splice(sortedIndex(users, userId), 0, userId);
  }

  /** A comment or the thread was deleted: read the thread again next time. */
  forget(envId: string, threadId: string): void {
    const key = keyOf(envId, threadId);
    this.#loading.delete(key);
    this.#threads.delete(key);
  }

  clear(): void {
    this.#loading.clear();
    this.#threads.clear();
  }
}

const keyOf = (envId: string, threadId: string) => `${envId.length}:${envId}:${threadId}`;

function sortedIndex(sorted: string[], value: string): number {
  let i = 0;
  while (i < sorted.length && sorted[i]! < value) i++;
  return i;
}
