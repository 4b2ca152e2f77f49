import type { Store } from '../store/index.ts';

interface View {
  roomId: string;
  seq: number;
  /** `{"thread":…,"comments":[…]}`, or undefined when the thread was gone. */
  json: Promise<string | undefined>;
}

/** Threads whose view is kept; the least recently loaded beyond this are forgotten. */
const MAX_CACHED_THREADS = 2000;

/**
 * `GET /threads/{id}` as JSON, cached per thread and room sequence number. Every change to a
 * thread, its comments, reactions or attachments bumps its room's `seq` in the same transaction,
 * on whichever node or process made it, so one indexed read of that number tells whether the
 * cached view is current; only then are the thread's rows read and serialised again.
 *
 * The sequence number is read before the rows: a change committed in between makes the view newer
 * than its `seq`, never older, and the next read reloads it.
 */
export class ThreadViews {
  readonly #store: Store;
  readonly #threadRoom: (envId: string, threadId: string) => Promise<string | undefined>;
  readonly #cache = new Map<string, View>();

  constructor(store: Store, threadRoom: (envId: string, threadId: string) => Promise<string | undefined>) {
    this.#store = store;
    this.#threadRoom = threadRoom;
  }

  /** The thread with its comments as JSON, or undefined when there is no such thread. */
  async json(envId: string, threadId: string): Promise<string | undefined> {
    const key = `${envId}\u0000${threadId}`;
    const hit = this.#cache.get(key);
    const roomId = hit?.roomId ?? (await this.#threadRoom(envId, threadId));
    if (roomId === undefined) return undefined;
    const seq = await this.#store.roomSeq(envId, roomId);
    if (seq === undefined) return undefined;
    if (hit && hit.seq === seq) return hit.json;

    const json = this.#store
      .getThreadWithComments(envId, threadId)
      .then((full) => {
        if (!full) return undefined;
        const { comments, ...thread } = full;
        return `{"thread":${JSON.stringify(thread)},"comments":${JSON.stringify(comments)}}`;
      });
    // Only a newer view replaces an older one (two loads may finish out of order).
    if (!hit || hit.seq < seq) {
      this.#cache.delete(key);
      if (this.#cache.size >= MAX_CACHED_THREADS) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, { roomId, seq, json });
      const drop = () => {
        if (this.#cache.get(key)?.json === json) this.#cache.delete(key);
      };
      void json.then((text) => text === undefined && drop(), drop);
    }
    return json;
  }
}
