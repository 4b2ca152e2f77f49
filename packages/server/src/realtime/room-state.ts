import { LIMITS, type EnvConfig, type PresenceMember } from '@pulse/protocol';
import type { Store } from '../store/index.ts';

/** The durable part of a room's state at one sequence number, serialised and encoded once. */
interface Snapshot {
  seq: number;
  /** `"threads":[…],"activity":[…],"drawing":[…]`: the middle of a RoomState object, as UTF-8. */
  json: Promise<Buffer>;
  /** Its length once loaded (0 before). */
  bytes: number;
}

/**
 * A room's full state as JSON in three pieces, so that a frame carrying it copies the cached
 * durable part (tens of KB) instead of encoding it again: `before` + `durable` + `}` is a
 * RoomState object.
 */
export interface RoomStateJson {
  /** `{"id":…,"seq":…,"presence":[…],` */
  before: string;
  durable: Buffer;
}

/** `before` + the RoomState + `after`: the pieces of one frame (the cached part is not copied). */
export function frameWithState(before: string, state: RoomStateJson, after: string): Buffer[] {
  return [Buffer.from(before + state.before), state.durable, Buffer.from('}' + after)];
}

/**
 * Members serialised once per version: a member object is replaced, never changed, when the user's
 * presence changes, and a burst of joins to a room would serialise every member for each joiner.
 */
const memberJsonCache = new WeakMap<PresenceMember, string>();

function memberJson(member: PresenceMember): string {
  let json = memberJsonCache.get(member);
  if (json === undefined) memberJsonCache.set(member, (json = JSON.stringify(member)));
  return json;
}

/** What the snapshots need from this node's rooms (the room registry). */
export interface LiveRooms {
  presence(envId: string, roomId: string): Promise<PresenceMember[]>;
  /** The room if it is open on this node (see LocalRoom.seq). */
  open(envId: string, roomId: string): SeqKeeper | undefined;
}

export interface SeqKeeper {
  /** The room's sequence number, when this node knows it without reading the database. */
  readonly seq: number | undefined;
  /** Tells it a sequence number read from the database while the room was open here. */
  seqRead(seq: number): void;
}

/** Rooms whose snapshot is kept, and their bytes; the least recently loaded beyond either are forgotten. */
const CACHE_BOUNDS = { rooms: 1000, bytes: 256 * 1024 * 1024 };

/**
 * Room snapshots for auth:ok, room:state and recovery. The durable part (threads with comments,
 * activity, drawing) is cached per room and sequence number: a burst of joins or resyncs of one
 * room reads the database once and serialises once. Presence is live and added per request.
 *
 * The sequence number is read first: an event committed meanwhile is then both in the snapshot
 * and delivered after it, and clients apply events idempotently. A room open on a single node
 * knows its number without a read (every event reaches it): a reconnect wave joining a room
 * reads nothing once its snapshot is cached.
 */
export class RoomSnapshots {
  readonly #store: Store;
  readonly #rooms: LiveRooms;
  readonly #cache = new Map<string, Snapshot>();
  readonly #bounds: typeof CACHE_BOUNDS;
  #cachedBytes = 0;

  constructor(store: Store, rooms: LiveRooms, bounds = CACHE_BOUNDS) {
    this.#store = store;
    this.#rooms = rooms;
    this.#bounds = bounds;
  }

  /** The room's full state (a RoomState object), see RoomStateJson. */
  async json(envId: string, roomId: string, config: EnvConfig): Promise<RoomStateJson> {
    const room = this.#rooms.open(envId, roomId);
    const seq = room?.seq ?? (await this.#readSeq(envId, roomId, room));
    const [durable, presence] = await Promise.all([
      this.#durable(envId, roomId, seq),
      config.showPresence ? this.#rooms.presence(envId, roomId) : Promise.resolve([]),
    ]);
    return { before: `{"id":${JSON.stringify(roomId)},"seq":${seq},"presence":[${presence.map(memberJson).join(',')}],`, durable };
  }

  /** A `room:state` frame: the room's full state, for a resync or after an outage. */
  async stateFrame(envId: string, roomId: string, config: EnvConfig): Promise<Buffer> {
    return Buffer.concat(frameWithState('{"type":"room:state","room":', await this.json(envId, roomId, config), '}'));
  }

  async #readSeq(envId: string, roomId: string, room: SeqKeeper | undefined): Promise<number> {
    const seq = (await this.#store.roomSeq(envId, roomId)) ?? (await this.#create(envId, roomId));
    room?.seqRead(seq);
    return seq;
  }

  async #create(envId: string, roomId: string): Promise<number> {
    await this.#store.ensureRoom(envId, roomId, new Date().toISOString());
    return (await this.#store.roomSeq(envId, roomId)) ?? 0;
  }

  #durable(envId: string, roomId: string, seq: number): Promise<Buffer> {
    const key = `${envId}\u0000${roomId}`;
    const hit = this.#cache.get(key);
    if (hit && hit.seq === seq) return hit.json;
    const json = Promise.all([
      this.#store.listRoomThreadsWithComments(envId, roomId),
      this.#store.listActivity(envId, roomId, LIMITS.activityInState),
      this.#store.listStrokes(envId, roomId),
    ]).then(([threads, activity, drawing]) =>
      Buffer.from(`"threads":${JSON.stringify(threads)},"activity":${JSON.stringify(activity)},"drawing":${JSON.stringify(drawing)}`),
    );
    // Only a newer snapshot replaces an older one (two loads may finish out of order).
    if (!hit || hit.seq < seq) {
      this.#drop(key);
      if (this.#cache.size >= this.#bounds.rooms) this.#drop(this.#cache.keys().next().value!);
      const entry: Snapshot = { seq, json, bytes: 0 };
      this.#cache.set(key, entry);
      json.then(
        (buffer) => {
          if (this.#cache.get(key) !== entry) return;
          entry.bytes = buffer.length;
          this.#cachedBytes += entry.bytes;
          for (const oldest of this.#cache.keys()) {
            if (this.#cachedBytes <= this.#bounds.bytes || oldest === key) break;
            this.#drop(oldest);
          }
        },
        () => {
          if (this.#cache.get(key) === entry) this.#drop(key);
        },
      );
    }
    return json;
  }

  #drop(key: string): void {
    const entry = this.#cache.get(key);
    if (!entry) return;
    this.#cachedBytes -= entry.bytes;
    this.#cache.delete(key);
  }

  forget(envId: string, roomId: string): void {
    this.#drop(`${envId}\u0000${roomId}`);
  }
}
