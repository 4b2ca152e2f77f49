import { P2P_LIMITS, PulseError, type EnvConfig } from '@pulse/protocol';
import * as Y from 'yjs';
import { isUnavailable } from '../store/errors.ts';
import { sharedStateStamp, type SharedStateRecord, type Store } from '../store/types.ts';

const NO_CLIENTS: ReadonlySet<number> = new Set();
/** The Yjs clients of a stored state, read once per state. */
const storedClients = new WeakMap<Uint8Array, Set<number>>();
const clientsOf = (state: Uint8Array): ReadonlySet<number> => {
  let ids = storedClients.get(state);
  if (!ids) storedClients.set(state, (ids = new Set(Y.parseUpdateMeta(state).from.keys())));
  return ids;
};

const tooManyClients = () =>
  new PulseError(
    'p2p_state_too_large',
    `The room's shared state would hold more than ${P2P_LIMITS.clientsPerRoom} writers (Yjs client ids, one per document session that edited it); it was not stored. Clear the room's shared data to start afresh.`,
  );

/** A client's Yjs update (base64), decoded, with the Yjs clients whose structs it carries. */
export interface CheckedUpdate {
  update: string;
  clients: number[];
}

/**
 * A Yjs update from a client, decoded before it is relayed or kept: one that does not decode
 * would fail every later merge of the room's state (no join, no write, for everyone).
 */
export function checkedUpdate(update: string): CheckedUpdate {
  const bytes = fromBase64(update);
  // An update starts with how many clients' structs it carries: too many are refused before
  // decoding them. Each takes 3 bytes at least: more than the update could hold, and it is none.
  const clients = leadingVarUint(bytes);
  if (clients * MIN_CLIENT_BYTES > bytes.length) throw notAnUpdate();
  if (clients > P2P_LIMITS.clientsPerRoom) throw tooManyClients();
  let structs: { id: { client: number } }[];
  try {
    ({ structs } = Y.decodeUpdate(bytes));
  } catch {
    throw notAnUpdate();
  }
  return { update, clients: [...new Set(structs.map((s) => s.id.client))] };
}

/** A client's part of an update: how many structs, the client id and the first clock, a byte each at least. */
const MIN_CLIENT_BYTES = 3;
const notAnUpdate = () => new PulseError('invalid_message', '`update` is not a Yjs update (base64 of Y.encodeStateAsUpdate or of an update event).');

/** The unsigned LEB128 number an update starts with (lib0's varUint); -1 when there is none. */
function leadingVarUint(bytes: Uint8Array): number {
  let value = 0;
  for (let i = 0, shift = 0; i < bytes.length && i < 8; i++, shift += 7) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if (bytes[i]! < 0x80) return value;
  }
  return -1;
}

const storedOf = (rec: SharedStateRecord) => ({ state: rec.state, version: rec.version, stamp: sharedStateStamp(rec.version, rec.updatedAt) });

/** A Yjs update that changes nothing (the state of an empty document). */
export const EMPTY_UPDATE = Y.encodeStateAsUpdate(new Y.Doc());
const DAY_MS = 86_400_000;
/** Pending updates of a room merged into one once this many have arrived (bounds the merge at write time). */
const COMPACT_AFTER = 256;
/** The updates waiting to be merged into a room's stored state may hold this many times p2pMaxStateBytes (see add). */
const PENDING_STATE_FACTOR = 2;
/**
 * A refused write's changes are kept (see RoomBuffer.held) up to this many times p2pMaxStateBytes:
 * the stored state and twice the limit waiting, and more. Past it they are let go (the peers still hold them).
 */
const HELD_STATE_FACTOR = 4;
/** Writers racing on one room (cluster nodes) retry the read-merge-write this many times. */
const CAS_ATTEMPTS = 5;

/**
 * The state an update describes, without the content of deleted items: `Y.mergeUpdates` keeps it,
 * so a state would never shrink when data is removed; a document drops it.
 */
function withoutDeleted(update: Uint8Array): Uint8Array {
  const doc = new Y.Doc();
  try {
    Y.applyUpdate(doc, update);
    return Y.encodeStateAsUpdate(doc);
  } finally {
    doc.destroy();
  }
}

/**
 * Of a write's updates, in order, those to store. Each client refuses to create more shared
 * objects than allowed, but peers creating their last ones at the same moment can overshoot
 * together: a room keeps those, up to twice the limit (refusing would refuse every later write of
 * the room, whose peers all hold them). Past that, or new objects once the stored state is at the
 * limit, come from a client that skipped the check: its updates are left out, and only those.
 */
function withinObjectLimit(base: Uint8Array, updates: Uint8Array[], maxObjects: number): { kept: Uint8Array[]; refused: number } {
  const names = rootNames(base);
  const cap = names.size >= maxObjects ? names.size : 2 * maxObjects;
  const kept: Uint8Array[] = [];
  let refused = 0;
  for (const update of updates) {
    const fresh = [...rootNames(update)].filter((name) => !names.has(name));
    if (names.size + fresh.length > cap) {
      refused++;
      continue;
    }
    for (const name of fresh) names.add(name);
    kept.push(update);
  }
  return { kept, refused };
}

/** Names of the root types (shared objects) an update holds items of. */
export function rootNames(update: Uint8Array): Set<string> {
  const names = new Set<string>();
  for (const struct of Y.decodeUpdate(update).structs) {
    const parent = (struct as { parent?: unknown }).parent;
    if (typeof parent === 'string') names.add(parent);
  }
  return names;
}

export const fromBase64 = (b64: string): Uint8Array => {
  const buf = Buffer.from(b64, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
};
export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

export interface PersistenceHooks {
  /** The environment's current config (interval, size limit, TTL). */
  config(envId: string): EnvConfig | undefined;
  /** The room's state was stored. */
  saved(envId: string, roomId: string, state: Uint8Array, at: string): void;
  /** Storing was refused (too large, too many objects): every peer of the room holds that state, so every peer is told. */
  refused(envId: string, roomId: string, error: PulseError): void;
  log(message: string, err?: unknown): void;
}

/** What one room on this node has received and not yet stored. */
interface RoomBuffer {
  envId: string;
  roomId: string;
  /** Base64 updates in arrival order, decoded only when merged. */
  pending: string[];
  /** Their size in bytes, decoded (an upper bound of what they add to the stored state). */
  pendingBytes: number;
  /** Past the bound even merged (see add): refused until the next write. */
  pendingFull?: boolean;
  /**
   * The changes of a write refused as too large, which the peers still hold: merged into the next
   * write, which only a new update brings (it may remove data), and not counted in the bound on
   * `pending` (or the update that removes data would be refused too).
   */
  held?: Uint8Array;
  /** The stored state as this node last read or wrote it. */
  stored: { state: Uint8Array; version: number; stamp: string } | null | undefined;
  /** Counts the changes to `pending`. */
  revision: number;
  /** Yjs clients of the updates added since `of` was read or written, not in it (see #countClients). */
  added?: { of: RoomBuffer['stored']; ids: Set<number> };
  /** The last merge of `stored` and `pending` (current() returns it again while neither changed). */
  merged?: { stored: RoomBuffer['stored']; revision: number; state: Uint8Array };
  lastWriteAt: number;
  timer: NodeJS.Timeout | undefined;
  flushing: Promise<void> | undefined;
}

/**
 * Persistence of P2P shared data: every update that reaches this node (relayed, or sent in
 * answer to a persist request) is kept in memory and merged into the stored state with
 * `Y.mergeUpdates`, at most once per `p2pPersistIntervalMs` per room, and at once when the room's
 * last peer on this node leaves. Writes are compare-and-set, so cluster nodes merge, never
 * overwrite. A state over `p2pMaxStateBytes` is not written; the stored one stays as it was.
 */
export class SharedStatePersistence {
  readonly #store: Store;
  readonly #hooks: PersistenceHooks;
  readonly #rooms = new Map<string, RoomBuffer>();
  /** Store writes made (for tests and the benchmark). */
  writes = 0;

  constructor(store: Store, hooks: PersistenceHooks) {
    this.#store = store;
    this.#hooks = hooks;
  }

  #room(envId: string, roomId: string): RoomBuffer {
    const key = `${envId}\u0000${roomId}`;
    let room = this.#rooms.get(key);
    if (!room) {
      room = { envId, roomId, pending: [], pendingBytes: 0, revision: 0, stored: undefined, lastWriteAt: 0, timer: undefined, flushing: undefined };
      this.#rooms.set(key, room);
    }
    return room;
  }

  /**
   * An update for the room (base64); stored within one interval. Refused (`p2p_state_too_large`)
   * when it would take the room's state past P2P_LIMITS.clientsPerRoom writers, or while the
   * updates waiting, merged, are past twice p2pMaxStateBytes: what waits is held in memory and
   * merged, so a flood of updates between two writes must not grow it without bound. (Twice:
   * updates often overwrite each other, and a state over the limit is refused when it is written,
   * with every peer told. The stored state does not count: a room stored over a limit lowered
   * since must still take the edits that bring it under.)
   */
  add(envId: string, roomId: string, { update, clients }: CheckedUpdate): void {
    const room = this.#room(envId, roomId);
    const bytes = Buffer.byteLength(update, 'base64');
    const bound = PENDING_STATE_FACTOR * (this.#hooks.config(envId)?.p2pMaxStateBytes ?? Infinity);
    if (room.pendingBytes > bound && !room.pendingFull) {
      // Sync steps repeat one another (each joiner is sent the state): merged, they may fit. Tried
      // once until the next write, so a flood does not buy a merge per update.
      this.#compact(room);
      room.pendingFull = room.pendingBytes > bound;
    }
    if (room.pendingBytes > bound) {
      throw new PulseError(
        'p2p_state_too_large',
        `The room's changes waiting to be stored (${room.pendingBytes} bytes) are past twice p2pMaxStateBytes (${bound / PENDING_STATE_FACTOR}); this update was not relayed nor stored. Send it again after the next write.`,
      );
    }
    this.#countClients(room, clients);
    room.pending.push(update);
    room.pendingBytes += bytes;
    room.revision++;
    if (room.pending.length >= COMPACT_AFTER) this.#compact(room);
    this.#schedule(room);
  }

  /** Merges the room's pending updates into one. */
  #compact(room: RoomBuffer): void {
    if (room.pending.length < 2) return;
    const merged = Y.mergeUpdates(room.pending.map(fromBase64));
    room.pending = [toBase64(merged)];
    room.pendingBytes = merged.byteLength;
  }

  /**
   * Counts the update's clients in with the stored state's and those of the updates added since
   * it was read or written (an estimate when a write or another node's changes it under pending
   * updates: those are counted again or not at all, within twice the limit).
   */
  #countClients(room: RoomBuffer, clients: number[]): void {
    const stored = room.stored ? clientsOf(room.stored.state) : NO_CLIENTS;
    if (!room.added || room.added.of !== room.stored) room.added = { of: room.stored, ids: new Set() };
    const added = room.added.ids;
    const fresh = clients.filter((id) => !stored.has(id) && !added.has(id));
    if (fresh.length === 0) return;
    if (stored.size + added.size + fresh.length > P2P_LIMITS.clientsPerRoom) throw tooManyClients();
    for (const id of fresh) added.add(id);
  }

  #schedule(room: RoomBuffer): void {
    if (room.timer || room.flushing) return;
    const interval = this.#hooks.config(room.envId)?.p2pPersistIntervalMs ?? 5000;
    const wait = Math.max(0, room.lastWriteAt + interval - Date.now());
    room.timer = setTimeout(() => {
      room.timer = undefined;
      void this.flush(room.envId, room.roomId);
    }, wait);
    room.timer.unref();
  }

  /**
   * The room's state as this node knows it: stored (read again when `fresh`, for joiners in a
   * cluster where other nodes write too) merged with what is pending here.
   */
  async current(envId: string, roomId: string, fresh: boolean): Promise<Uint8Array> {
    const room = this.#room(envId, roomId);
    // Fresh: the stored state's stamp is read first, the state (up to p2pMaxStateBytes) only when it changed.
    if (room.stored === undefined || (fresh && (await this.#store.sharedStateStamp(envId, roomId)) !== (room.stored?.stamp ?? undefined))) {
      const rec = await this.#store.getSharedState(envId, roomId);
      room.stored = rec ? storedOf(rec) : null;
    }
    const m = room.merged;
    if (m && m.stored === room.stored && m.revision === room.revision) return m.state;
    const parts = [room.stored?.state ?? EMPTY_UPDATE, ...(room.held ? [room.held] : []), ...room.pending.map(fromBase64)];
    const state = parts.length === 1 ? parts[0]! : Y.mergeUpdates(parts);
    room.merged = { stored: room.stored, revision: room.revision, state };
    return state;
  }

  /** Whether this node keeps anything for the room (it serves or served it since its last release). */
  holds(envId: string, roomId: string): boolean {
    return this.#rooms.has(`${envId}\u0000${roomId}`);
  }

  /** Writes what is pending now (waits for a write under way first). Never rejects. */
  async flush(envId: string, roomId: string): Promise<void> {
    const room = this.#room(envId, roomId);
    clearTimeout(room.timer);
    room.timer = undefined;
    while (room.flushing) await room.flushing;
    if (room.pending.length === 0) return;
    room.flushing = this.#write(room).finally(() => {
      room.flushing = undefined;
      if (room.pending.length > 0) this.#schedule(room);
    });
    await room.flushing;
  }

  async #write(room: RoomBuffer): Promise<void> {
    const batch = room.pending.splice(0);
    const batchBytes = room.pendingBytes;
    room.pendingBytes = 0;
    room.pendingFull = false;
    room.revision++;
    const config = this.#hooks.config(room.envId);
    try {
      const updates = [...(room.held ? [room.held] : []), ...batch.map(fromBase64)];
      let toldObjects = false;
      for (let attempt = 1; ; attempt++) {
        const rec = await this.#store.getSharedState(room.envId, room.roomId);
        const base = rec?.state ?? EMPTY_UPDATE;
        const maxObjects = config?.maxSharedObjects ?? Infinity;
        const { kept, refused } = withinObjectLimit(base, updates, maxObjects);
        if (refused > 0 && !toldObjects) {
          toldObjects = true;
          this.#hooks.refused(
            room.envId,
            room.roomId,
            new PulseError(
              'too_many_shared_objects',
              `${refused} update(s) would take the room's state past the shared objects this environment allows (maxSharedObjects ${maxObjects}); they were not stored, the other changes were.`,
            ),
          );
        }
        if (kept.length === 0) {
          room.stored = rec ? storedOf(rec) : null;
          return;
        }
        let merged = Y.mergeUpdates([base, ...kept]);
        const max = config?.p2pMaxStateBytes ?? Infinity;
        if (merged.byteLength > max) merged = withoutDeleted(merged);
        if (merged.byteLength > max) {
          room.stored = rec ? storedOf(rec) : null;
          this.#hold(room, merged, max);
          const err = new PulseError(
            'p2p_state_too_large',
            `The room's shared state would be ${merged.byteLength} bytes; this environment stores at most ${max} (p2pMaxStateBytes). ` +
              'The last stored state is kept; remove data to bring it under the limit.',
          );
          this.#hooks.refused(room.envId, room.roomId, err);
          return;
        }
        if (rec && Buffer.compare(merged, rec.state) === 0) {
          room.stored = storedOf(rec);
          this.#hold(room, undefined);
          return;
        }
        const now = new Date();
        const at = now.toISOString();
        const ttlDays = config?.p2pStateTTLDays ?? 30;
        const version = await this.#store.putSharedState(room.envId, room.roomId, {
          state: merged,
          expectedVersion: rec?.version ?? null,
          at,
          expiresAt: new Date(now.getTime() + ttlDays * DAY_MS).toISOString(),
        });
        if (version !== undefined) {
          this.writes++;
          room.lastWriteAt = Date.now();
          room.stored = { state: merged, version, stamp: sharedStateStamp(version, at) };
          this.#hold(room, undefined);
          this.#hooks.saved(room.envId, room.roomId, merged, at);
          return;
        }
        if (attempt >= CAS_ATTEMPTS) throw new Error(`the room's state kept changing under ${CAS_ATTEMPTS} attempts`);
      }
    } catch (err) {
      // Nothing is dropped: the batch goes back in front of what arrived meanwhile.
      room.pending.unshift(...batch);
      room.pendingBytes += batchBytes;
      room.revision++;
      room.lastWriteAt = Date.now();
      this.#hooks.log(`storing P2P state of room ${room.roomId} failed${isUnavailable(err) ? ' (store unavailable)' : ''}; retrying`, err);
    }
  }

  /** Keeps a refused write's state for the next write (bounded), or lets go of it once stored. */
  #hold(room: RoomBuffer, state: Uint8Array | undefined, max = Infinity): void {
    const held = state && state.byteLength <= HELD_STATE_FACTOR * max ? state : undefined;
    if (state && !held) this.#hooks.log(`the refused P2P state of room ${room.roomId} (${state.byteLength} bytes) is past what is kept for a later write; its peers still hold it`);
    if (held === room.held) return;
    room.held = held;
    room.revision++;
  }

  /** Forgets a room this node no longer serves, after writing what it holds. */
  async release(envId: string, roomId: string): Promise<void> {
    await this.flush(envId, roomId);
    const key = `${envId}\u0000${roomId}`;
    const room = this.#rooms.get(key);
    if (room && room.pending.length === 0 && !room.flushing) {
      clearTimeout(room.timer);
      this.#rooms.delete(key);
    }
  }

  /** Drops what this node holds for a room (its state was deleted). */
  discard(envId: string, roomId: string): void {
    const key = `${envId}\u0000${roomId}`;
    const room = this.#rooms.get(key);
    if (!room) return;
    room.pending = [];
    room.pendingBytes = 0;
    room.pendingFull = false;
    room.held = undefined;
    room.revision++;
    room.stored = undefined;
  }

  /** Writes everything pending (server shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#rooms.values()].map((r) => this.flush(r.envId, r.roomId)));
    for (const room of this.#rooms.values()) clearTimeout(room.timer);
  }
}
