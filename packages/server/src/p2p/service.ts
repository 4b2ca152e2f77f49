import {
  base64Chars,
  P2P_LIMITS,
  P2P_SWEEP_INTERVAL_MS,
  PulseError,
  type ClientMessageOf,
  type EnvConfig,
  type P2PPeer,
  type P2PServerMessage,
} from '@pulse/protocol';
import * as Y from 'yjs';
import type { Bus } from '../realtime/bus.ts';
import type { Connection } from '../realtime/connection.ts';
import type { Store } from '../store/types.ts';
import { ChunkAssembler, JOIN_CHUNK_CHARS } from './chunks.ts';
import { checkedUpdate, EMPTY_UPDATE, fromBase64, SharedStatePersistence, toBase64 } from './persistence.ts';
import { P2PRoomSession, publishReset, type Route } from './session.ts';
import { sharedObjects, type SharedObjectView } from './view.ts';

export interface P2PServiceDeps {
  store: Store;
  bus: Bus;
  /** The environment's config as this node's sockets last received it. */
  configFor(envId: string): EnvConfig | undefined;
  /** The environment's config, read if needed. */
  configOf(envId: string): Promise<EnvConfig>;
  log?(message: string, err?: unknown): void;
}

type Msg<T extends P2PServerMessage['type']> = Extract<P2PServerMessage, { type: T }>;
const key = (envId: string, roomId: string) => `${envId}\u0000${roomId}`;
/** Cluster mode: how often the nodes of remote peers are checked for a heartbeat. */
const NODE_CHECK_MS = 5_000;
const frame = (message: P2PServerMessage) => JSON.stringify(message);

/** The encoded state of a room, once per state (joins of a room in a row share it). */
const encoded = new WeakMap<Uint8Array, { update: string; stateVector: string }>();

/** States past this are sent whole to every joiner: diffing them costs more than sending them. */
const DIFF_MAX_BYTES = 256 * 1024;

/**
 * What a joiner is sent: the state as a diff against its state vector, or whole (an empty
 * document, or a large state: a Yjs document applies what it already has as a no-op).
 */
function joinPayload(state: Uint8Array, sv: Uint8Array): { update: string; stateVector: string } {
  let whole = encoded.get(state);
  if (!whole) encoded.set(state, (whole = { update: toBase64(state), stateVector: toBase64(Y.encodeStateVectorFromUpdate(state)) }));
  if (sv.byteLength <= 1 || state.byteLength > DIFF_MAX_BYTES) return whole;
  return { update: toBase64(Y.diffUpdate(state, sv)), stateVector: whole.stateVector };
}

/**
 * The server side of P2P shared data: who is in each room's P2P session, the relay (signals,
 * sync steps, CRDT updates and raw messages, forwarded to the room or the named peer and never
 * looked into), persistence of the room's document, and the sweeper of expired state.
 */
export class P2PService {
  readonly persistence: SharedStatePersistence;
  /** Pieces of `p2p:chunk` frames, until their last one arrives. */
  readonly chunks = new ChunkAssembler();
  readonly #deps: P2PServiceDeps;
  readonly #sessions = new Map<string, P2PRoomSession>();
  /** When each connection last joined (performance.now()), and the join each is waiting to make (see #joinTurn). */
  readonly #joinedAt = new WeakMap<Connection, number>();
  readonly #waitingToJoin = new WeakMap<Connection, object>();
  readonly #sweeper: NodeJS.Timeout;
  #nodeCheck: NodeJS.Timeout | undefined;
  readonly #misses = new Map<string, number>();
  /** Relayed CRDT updates (for tests and the benchmark). */
  relayedUpdates = 0;

  constructor(deps: P2PServiceDeps) {
    this.#deps = deps;
    const log = deps.log ?? ((m: string, err?: unknown) => console.warn(`[pulse] ${m}`, err ?? ''));
    this.persistence = new SharedStatePersistence(deps.store, {
      config: (envId) => deps.configFor(envId),
      saved: (envId, roomId, state, at) => {
        const session = this.#sessions.get(key(envId, roomId));
        session?.relay({}, frame({ type: 'p2p:saved', stateVector: toBase64(Y.encodeStateVectorFromUpdate(state)), bytes: state.byteLength, at }));
      },
      refused: (envId, roomId, err) => {
        this.#sessions.get(key(envId, roomId))?.relay({}, frame({ type: 'p2p:error', code: err.code, message: err.message }));
      },
      log,
    });
    this.#sweeper = setInterval(() => void this.sweep(), P2P_SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
    void this.sweep();
    if (deps.bus.cluster) {
      this.#nodeCheck = setInterval(() => void this.#checkNodes(), NODE_CHECK_MS);
      this.#nodeCheck.unref();
    }
  }

  /**
   * Cluster mode: a node that died never announces its peers leaving. Its heartbeat key (written
   * by the cluster presence, `<prefix>node:<nodeId>`) expires; after two checks without it, its
   * peers are dropped from every session here.
   */
  async #checkNodes(): Promise<void> {
    const link = this.#deps.bus.cluster;
    if (!link?.ready()) return;
    const nodes = new Set<string>();
    for (const session of this.#sessions.values()) for (const peer of session.remote.values()) nodes.add(peer.node);
    for (const node of this.#misses.keys()) if (!nodes.has(node)) this.#misses.delete(node);
    if (nodes.size === 0) return;
    const ids = [...nodes];
    let alive: (string | null)[];
    try {
      alive = await link.redis.mget(...ids.map((n) => `${link.prefix}node:${n}`));
    } catch {
      return;
    }
    ids.forEach((node, i) => {
      if (alive[i] !== null) return this.#misses.delete(node);
      const misses = (this.#misses.get(node) ?? 0) + 1;
      this.#misses.set(node, misses);
      if (misses < 2) return;
      this.#misses.delete(node);
      for (const session of this.#sessions.values()) session.forgetNode(node);
    });
  }

  /** Deletes state past its TTL; returns how many rooms'. */
  async sweep(): Promise<number> {
    try {
      return await this.#deps.store.deleteExpiredSharedState(new Date().toISOString());
    } catch (err) {
      this.#deps.log?.('sweeping expired P2P state failed', err);
      return 0;
    }
  }

  session(envId: string, roomId: string): P2PRoomSession | undefined {
    return this.#sessions.get(key(envId, roomId));
  }

  /**
   * What a connection may have under way in `p2p:chunk` frames (their pieces wait in memory): a
   * peer of the session, frames up to the room's state size; before joining, one frame of up to
   * JOIN_CHUNK_CHARS (a large state vector), which must turn out to be its p2p:join.
   */
  chunkAllowance(conn: Connection): { maxChars: number; maxOpen: number; joinOnly: boolean } {
    const { envId, roomId } = conn.identity!;
    const config = this.#deps.configFor(envId);
    if (config && !config.allowP2P) throw new PulseError('p2p_disabled');
    if (!config || !this.#sessions.get(key(envId, roomId))?.local.has(conn.id)) return { maxChars: JOIN_CHUNK_CHARS, maxOpen: 1, joinOnly: true };
    return { maxChars: base64Chars(config.p2pMaxStateBytes) + 64 * 1024, maxOpen: P2P_LIMITS.openChunkedFrames, joinOnly: false };
  }

  /** The connection's session and config; refused when P2P is off or the connection has not joined. */
  joinedPeer(conn: Connection): { session: P2PRoomSession; config: EnvConfig } {
    const { envId, roomId } = conn.identity!;
    const config = this.#deps.configFor(envId);
    if (config && !config.allowP2P) throw new PulseError('p2p_disabled');
    const session = this.#sessions.get(key(envId, roomId));
    if (!session?.local.has(conn.id)) throw new PulseError('p2p_not_joined');
    return { session, config: config! };
  }

  // ------------------------------------------------------------------ requests

  /**
   * A join sends the room's whole state (up to p2pMaxStateBytes): a connection joins once per
   * P2P_LIMITS.joinIntervalMs. A join sooner waits for its turn (a client re-joining after
   * allowP2P came back on); one more while it waits is refused, and a leave meanwhile cancels it
   * (false: do not join).
   */
  async #joinTurn(conn: Connection): Promise<boolean> {
    const wait = (this.#joinedAt.get(conn) ?? -Infinity) + P2P_LIMITS.joinIntervalMs - performance.now();
    if (wait > 0) {
      if (this.#waitingToJoin.has(conn)) {
        throw new PulseError('rate_limited', `p2p:join is answered once per ${P2P_LIMITS.joinIntervalMs / 1000} s per connection, and one is already waiting.`);
      }
      const turn = {};
      this.#waitingToJoin.set(conn, turn);
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
      if (this.#waitingToJoin.get(conn) !== turn) return false;
      this.#waitingToJoin.delete(conn);
    }
    this.#joinedAt.set(conn, performance.now());
    return conn.open;
  }

  async join(conn: Connection, m: ClientMessageOf<'p2p:join'>): Promise<void> {
    const { envId, roomId, user } = conn.identity!;
    const config = await this.#deps.configOf(envId);
    if (!config.allowP2P) throw new PulseError('p2p_disabled');
    const sv = checkedStateVector(m.stateVector);
    if (!(await this.#joinTurn(conn))) return;
    // Turned off while the join waited its turn.
    if (!(await this.#deps.configOf(envId)).allowP2P) throw new PulseError('p2p_disabled');
    let session = this.#sessions.get(key(envId, roomId));
    if (!session) {
      session = new P2PRoomSession(this.#deps.bus, envId, roomId);
      this.#sessions.set(key(envId, roomId), session);
      const s = session;
      s.onReset = () => {
        for (const id of [...s.local.keys()]) s.remove(id);
        s.close();
        if (this.#sessions.get(key(envId, roomId)) === s) this.#sessions.delete(key(envId, roomId));
        this.persistence.discard(envId, roomId);
      };
      this.#startPersistRequests(session, config);
    }
    await session.ready;
    const state = await this.persistence.current(envId, roomId, true);
    if (!conn.open || conn.room?.connections.has(conn) === false) return;
    // A second join (after allowP2P was turned off and on again) starts afresh.
    if (session.local.has(conn.id)) session.remove(conn.id);
    const mesh = m.webrtc && session.meshCount < config.p2pMeshLimit;
    const self: P2PPeer = { userId: user.id, connectionId: conn.id, webrtc: m.webrtc, mesh };
    const peers = session.peers();
    session.add(conn, self);
    conn.send({
      type: 'p2p:joined',
      ...(m.ref ? { ref: m.ref } : {}),
      self,
      peers,
      ...joinPayload(state, sv),
    });
  }

  async leave(conn: Connection, m: ClientMessageOf<'p2p:leave'>): Promise<void> {
    const { envId, roomId } = conn.identity!;
    try {
      if (m.update && this.#sessions.get(key(envId, roomId))?.local.has(conn.id)) this.persistence.add(envId, roomId, checkedUpdate(m.update));
    } finally {
      // Leaves even when its last update is refused: never a peer listed that is gone.
      await this.detach(conn);
    }
  }

  /** A connection left the session or closed. The room's last peer on this node has its state written. */
  async detach(conn: Connection): Promise<void> {
    const identity = conn.identity;
    this.chunks.release(conn);
    // A join waiting for its turn is cancelled: the peer has left.
    this.#waitingToJoin.delete(conn);
    if (!identity) return;
    const k = key(identity.envId, identity.roomId);
    const session = this.#sessions.get(k);
    const removed = session?.remove(conn.id);
    if (!session || !removed) return;
    if (session.local.size > 0) {
      if (removed.peer.mesh) session.promote(this.#deps.configFor(identity.envId)?.p2pMeshLimit ?? 0);
      return;
    }
    session.close();
    this.#sessions.delete(k);
    await this.persistence.release(identity.envId, identity.roomId);
  }

  update(conn: Connection, m: ClientMessageOf<'p2p:update'>): void {
    const { session } = this.joinedPeer(conn);
    const { envId, roomId, user } = conn.identity!;
    this.persistence.add(envId, roomId, checkedUpdate(m.update));
    this.relayedUpdates++;
    session.relay(
      { from: conn.id, ...(m.except?.length ? { except: m.except } : {}) },
      frame({ type: 'p2p:update', from: conn.id, userId: user.id, update: m.update }),
    );
  }

  /** The session of a peer addressing another one (`to`), which must be in it and not itself. */
  #addressing(conn: Connection, to: string): P2PRoomSession {
    const { session } = this.joinedPeer(conn);
    if (!session.has(to) || to === conn.id) throw new PulseError('peer_not_found', `No peer ${to} in this room's P2P session (but yourself).`);
    return session;
  }

  sync(conn: Connection, m: ClientMessageOf<'p2p:sync'>): void {
    const session = this.#addressing(conn, m.to);
    // A request costs its receiver an answer of up to the room's whole state: one per peer at a time.
    if (m.stateVector !== undefined && m.update === undefined) this.#paceSyncRequest(conn, m.to);
    const message: Msg<'p2p:sync'> = { type: 'p2p:sync', from: conn.id, userId: conn.identity!.user.id };
    if (m.stateVector !== undefined) message.stateVector = toBase64(checkedStateVector(m.stateVector));
    if (m.update !== undefined) {
      message.update = m.update;
      // What a peer sends another in a sync step may be news to the server too.
      this.persistence.add(conn.identity!.envId, conn.identity!.roomId, checkedUpdate(m.update));
    }
    session.relay({ to: m.to }, frame(message));
  }

  /** When each connection last asked each peer for what it lacks. */
  readonly #syncAsked = new WeakMap<Connection, Map<string, number>>();

  #paceSyncRequest(conn: Connection, to: string): void {
    let asked = this.#syncAsked.get(conn);
    if (!asked) this.#syncAsked.set(conn, (asked = new Map()));
    const now = Date.now();
    const last = asked.get(to);
    if (last !== undefined && now - last < P2P_LIMITS.syncIntervalMs / 2) {
      throw new PulseError('rate_limited', `One p2p:sync request to a peer per ${P2P_LIMITS.syncIntervalMs / 1000} s (each costs it an answer of up to the room's whole state); this one was not relayed.`);
    }
    // Peers come and go: forget those not asked lately rather than keep one entry per peer ever met.
    if (asked.size >= 64) for (const [id, at] of asked) if (now - at >= P2P_LIMITS.syncIntervalMs) asked.delete(id);
    asked.set(to, now);
  }

  signal(conn: Connection, m: ClientMessageOf<'p2p:signal'>): void {
    const session = this.#addressing(conn, m.to);
    session.relay({ to: m.to }, frame({ type: 'p2p:signal', from: conn.id, userId: conn.identity!.user.id, signal: m.signal }));
  }

  message(conn: Connection, m: ClientMessageOf<'p2p:message'>): void {
    const { session, config } = this.joinedPeer(conn);
    if (m.encoding === 'binary' && !config.allowP2PBinary) throw new PulseError('p2p_binary_disabled');
    if (m.to !== undefined && !session.hasUser(m.to)) throw new PulseError('peer_not_found', `User ${JSON.stringify(m.to)} is not in this room's P2P session.`);
    const route: Route = { from: conn.id, ...(m.to !== undefined ? { toUser: m.to } : {}), ...(m.except?.length ? { except: m.except } : {}), droppable: true };
    const json = frame({ type: 'p2p:message', from: conn.id, fromUserId: conn.identity!.user.id, data: m.data, encoding: m.encoding });
    // A relay sends a message once per receiver: one user's share of that is bounded.
    if (!session.chargeRelay(conn.identity!.user.id, json.length * session.receivers(route), P2P_LIMITS.relayBytesPerSecond)) {
      throw new PulseError(
        'rate_limited',
        `Raw messages of one user may make the server send ${P2P_LIMITS.relayBytesPerSecond / 1024 / 1024} MiB a second in a room (their size times their receivers); this one was not relayed. Send again shortly.`,
      );
    }
    session.relay(route, json);
  }

  persist(conn: Connection, m: ClientMessageOf<'p2p:persist'>): void {
    this.joinedPeer(conn);
    this.persistence.add(conn.identity!.envId, conn.identity!.roomId, checkedUpdate(m.update));
  }

  // ------------------------------------------------------------------ persistence of mesh edits

  /**
   * Edits that travel only over data channels never pass the server: once per interval one
   * mesh peer of the room on this node (the longest present) is asked for what the server lacks.
   */
  #startPersistRequests(session: P2PRoomSession, config: EnvConfig): void {
    const tick = async () => {
      const current = this.#deps.configFor(session.envId);
      if (current && !current.allowP2P) return this.#shutDown(session);
      let persister: Connection | undefined;
      for (const { conn, peer } of session.local.values()) {
        if (peer.mesh) {
          persister = conn;
          break;
        }
      }
      if (!persister) return;
      try {
        const state = await this.persistence.current(session.envId, session.roomId, false);
        persister.send({ type: 'p2p:persist-request', stateVector: toBase64(Y.encodeStateVectorFromUpdate(state)) });
      } catch (err) {
        this.#deps.log?.('preparing a P2P persist request failed', err);
      }
    };
    // The interval follows config changes: the timer is re-armed when it differs.
    let every = config.p2pPersistIntervalMs;
    const arm = () => {
      clearInterval(session.persistTimer);
      session.persistTimer = setInterval(() => {
        const wanted = this.#deps.configFor(session.envId)?.p2pPersistIntervalMs ?? every;
        if (wanted !== every) {
          every = wanted;
          arm();
        }
        void tick();
      }, every);
      session.persistTimer.unref();
    };
    arm();
  }

  /** allowP2P was turned off: the room's session ends (clients tear theirs down on config:updated). */
  async #shutDown(session: P2PRoomSession): Promise<void> {
    for (const { conn } of [...session.local.values()]) await this.detach(conn);
  }

  /**
   * The room's shared state as JSON (stored, merged with what this node has not stored yet), or
   * undefined when there is none.
   */
  async view(
    envId: string,
    roomId: string,
  ): Promise<{ roomId: string; bytes: number; version: number | null; updatedAt: string | null; expiresAt: string | null; objects: SharedObjectView[] } | undefined> {
    const rec = await this.#deps.store.getSharedState(envId, roomId);
    // Merged with what this node holds for the room; a room it does not serve is only read.
    const state = this.persistence.holds(envId, roomId) ? await this.persistence.current(envId, roomId, true) : (rec?.state ?? EMPTY_UPDATE);
    const objects = sharedObjects(state);
    if (!rec && objects.length === 0) return undefined;
    return { roomId, bytes: state.byteLength, version: rec?.version ?? null, updatedAt: rec?.updatedAt ?? null, expiresAt: rec?.expiresAt ?? null, objects };
  }

  /**
   * Deletes the room's shared state (REST, panel): stored and pending, on every node. Connected
   * peers get `p2p:reset` and start over with an empty document. Returns whether anything was stored.
   */
  async reset(envId: string, roomId: string): Promise<boolean> {
    this.persistence.discard(envId, roomId);
    publishReset(this.#deps.bus, envId, roomId);
    const deleted = await this.#deps.store.deleteSharedState(envId, roomId);
    this.persistence.discard(envId, roomId);
    return deleted;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    clearInterval(this.#nodeCheck);
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
    await this.persistence.close();
  }
}

function checkedStateVector(stateVector: string): Uint8Array {
  const bytes = fromBase64(stateVector);
  try {
    Y.decodeStateVector(bytes);
  } catch {
    throw new PulseError('invalid_message', '`stateVector` is not a Yjs state vector (base64 of Y.encodeStateVector).');
  }
  return bytes;
}
