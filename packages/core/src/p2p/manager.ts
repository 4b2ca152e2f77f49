import {
  P2P_CONNECT_TIMEOUT_MS,
  P2P_LIMITS,
  P2P_UPDATE_BATCH_MS,
  type ClientMessage,
  type EnvConfig,
  type ErrorCode,
  type P2PPeer,
  type P2PServerMessage,
} from '@pulse/protocol/lite';
import * as Y from 'yjs';
import { Emitter } from '../emitter.ts';
import { fromBase64, toBase64 } from './base64.ts';
import { P2PError } from './errors.ts';
import { splitForFrames, utf8Bytes } from './frame-pieces.ts';
import { userStates, transportOf } from './peers.ts';
import { decodeRaw, encodeRaw, type EncodedRaw } from './raw.ts';
import { Mesh } from './mesh.ts';
import { P2POutbound } from './outbound.ts';
import { SharedCounter } from './shared-counter.ts';
import { SharedList } from './shared-list.ts';
import { SharedMap } from './shared-map.ts';
import { SyncPacer } from './sync-pacer.ts';
import type { P2PEvents, P2PTransport, PeerState } from './types.ts';

/** Origins of changes that came from elsewhere (never sent on again). */
const FROM_SERVER = 'pulse:server';
const FROM_RELAY = 'pulse:relay';
const FROM_PEER = 'pulse:peer';

/** What the P2P manager needs from its PulseClient. */
export interface P2PHost {
  /** Sends a frame on the authenticated connection; false when there is none. */
  send(message: ClientMessage): boolean;
  /** The environment's config as last received. */
  config(): EnvConfig;
  /** The room the client is in now. */
  room(): string;
  /** Whether the client is connected and authenticated. */
  connected(): boolean;
  onAuthenticated(listener: () => void): () => void;
  /** `stopped`: the client will not reconnect by itself (disconnect(), or a refusal such as a bad token). */
  onDisconnected(listener: (stopped: boolean) => void): () => void;
  onConfig(listener: (config: EnvConfig) => void): () => void;
  /** Routes the server's `p2p:*` frames to the manager (undefined: stop). */
  receive(listener: ((message: P2PServerMessage) => void) | undefined): void;
  /** The manager is gone; `client.p2p` makes a new one. */
  released(): void;
}

type Kind = 'map' | 'list' | 'counter';
type SharedObject = SharedMap<any> | SharedList<any> | SharedCounter;

/**
 * The room's P2P shared data (`await client.p2p`): shared maps, lists and counters backed by
 * one Yjs document per room, raw messages between peers, and the connection state. Browsers
 * in the mesh (up to `p2pMeshLimit`) exchange changes over WebRTC data channels; everyone else
 * (peers past the limit, Node, peers whose WebRTC failed) goes through the server's relay. The
 * data and the API are the same either way.
 */
export class P2PManager {
  /** The room's Yjs document, for integrations that speak Yjs (editor bindings, …). */
  readonly doc = new Y.Doc();
  readonly #host: P2PHost;
  readonly #events = new Emitter<P2PEvents>();
  readonly #objects = new Map<string, SharedObject>();
  /** Every other connection of the session, by connection id. */
  readonly #peers = new Map<string, P2PPeer>();
  readonly #mesh: Mesh | undefined;
  readonly #unsubscribe: (() => void)[] = [];
  #self: P2PPeer | undefined;
  #joined = false;
  #joinRef = 0;
  #pendingJoin: { ref: string; resolve: () => void; reject: (err: P2PError) => void } | undefined;
  #transport: P2PTransport = 'websocket';
  #userStates = new Map<string, PeerState>();
  /** The server's state vector as last heard: what persisting must add to. */
  #serverVector: Uint8Array = new Uint8Array([0]);
  /** Changes the server may lack (local ones, or ones from data channels). */
  #unpersisted = false;
  /** Local changes made while out of the session (sent on rejoin). */
  #changedAway = false;
  /** Peers whose data channel opened: a link that drops may have lost what was in flight. */
  readonly #linked = new Set<string>();
  readonly #syncPacer: SyncPacer;
  #outbox: Uint8Array[] = [];
  #outboxTimer: ReturnType<typeof setTimeout> | undefined;
  #chunkSeq = 0;
  /** Chunk ids are unique per manager: the server remembers ids of frames it let go, per connection. */
  readonly #chunkPrefix = `c${Math.random().toString(36).slice(2, 8)}-`;
  readonly #outbound: P2POutbound;
  #destroyed = false;
  readonly #room: string;

  /** @internal Created by `client.p2p`. */
  constructor(host: P2PHost) {
    this.#host = host;
    this.#outbound = new P2POutbound((m) => host.send(m));
    this.#syncPacer = new SyncPacer(
      {
        ask: (to, sent) => void this.#send({ type: 'p2p:sync', to, stateVector: toBase64(Y.encodeStateVector(this.doc)) }, sent),
        answer: (to, vector) => void this.#send({ type: 'p2p:sync', to, update: toBase64(Y.encodeStateAsUpdate(this.doc, vector)) }),
        busy: () => this.#outbound.waiting > 0,
        present: (id) => this.#joined && this.#peers.has(id),
      },
      P2P_LIMITS.syncIntervalMs,
    );
    this.#room = host.room();
    this.#mesh = Mesh.available()
      ? new Mesh(
          {
            signal: (to, signal) => void this.#send({ type: 'p2p:signal', to, signal }),
            opened: (id) => this.#channelOpened(id),
            changed: (id) => this.#peerChanged(id),
            update: (_id, bytes) => this.#apply(bytes, FROM_PEER),
            syncRequest: (id, vector) => this.#mesh!.sendSyncReply(id, Y.encodeStateAsUpdate(this.doc, vector)),
            syncReply: (_id, bytes) => this.#apply(bytes, FROM_PEER),
            raw: (id, data) => this.#emitMessage(this.#peers.get(id)?.userId ?? '', data),
          },
          P2P_CONNECT_TIMEOUT_MS,
        )
      : undefined;
    this.doc.on('update', (update: Uint8Array, origin: unknown) => this.#onDocUpdate(update, origin));
    host.receive((m) => this.#receive(m));
    this.#unsubscribe.push(
      host.onAuthenticated(() => this.#join()),
      host.onDisconnected((stopped) => {
        this.#outbound.clear();
        this.#left();
        // A join that can no longer happen: `client.p2p` must not wait for ever.
        if (stopped && this.#pendingJoin) {
          const err = new P2PError('p2p_not_joined', 'The client is disconnected and not reconnecting (disconnect(), or the server refused its key or token); connect() again, then use client.p2p.');
          this.#teardown(err.message, false, err);
        }
      }),
      host.onConfig((config) => {
        if (!config.allowP2P) this.#teardown('P2P was turned off for this environment (allowP2P).', false);
      }),
    );
    // A closing tab hands the server what it has not stored yet (best effort: the socket is still open then).
    const w = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener; document?: unknown };
    if (typeof w.addEventListener === 'function' && w.document !== undefined) {
      const onHide = () => this.#persistNow();
      w.addEventListener('pagehide', onHide);
      this.#unsubscribe.push(() => w.removeEventListener!('pagehide', onHide));
    }
  }

  /** Sends the server what it lacks, if anything changed since it last asked. */
  #persistNow(): void {
    if (!this.#joined || !this.#unpersisted) return;
    this.#flushOutbox();
    this.#unpersisted = false;
    void this.#send({ type: 'p2p:persist', update: toBase64(Y.encodeStateAsUpdate(this.doc, this.#serverVector)) });
  }

  /** @internal Joins the session; resolves once the room's state is loaded. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pendingJoin = { ref: '', resolve, reject };
      if (this.#host.connected()) this.#join();
    });
  }

  // ------------------------------------------------------------------ shared objects

  /** The shared map `name` of this room (the same instance for the same name). */
  sharedMap<T = unknown>(name: string): SharedMap<T> {
    return this.#object('map', name, (key, done) => new SharedMap<T>(name, this.doc.getMap<T>(key), done)) as SharedMap<T>;
  }

  /** The shared list `name` of this room (the same instance for the same name). */
  sharedList<T = unknown>(name: string): SharedList<T> {
    return this.#object('list', name, (key, done) => new SharedList<T>(name, this.doc.getArray<T>(key), done)) as SharedList<T>;
  }

  /** The shared counter `name` of this room (the same instance for the same name). */
  sharedCounter(name: string): SharedCounter {
    return this.#object('counter', name, (key, done) => new SharedCounter(name, this.doc.getMap<number>(key), this.doc.clientID, done)) as SharedCounter;
  }

  #object(kind: Kind, name: string, make: (key: string, onDestroy: () => void) => SharedObject): SharedObject {
    this.#alive();
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) throw new TypeError('A shared object needs a name of 1 to 200 characters');
    const key = `${kind}:${name}`;
    const existing = this.#objects.get(key);
    if (existing) return existing;
    if (!this.doc.share.has(key)) {
      const max = this.#host.config().maxSharedObjects;
      if (this.doc.share.size + 1 > max) {
        throw new P2PError('too_many_shared_objects', `This room already has ${this.doc.share.size} shared objects; the environment allows ${max} (maxSharedObjects).`);
      }
    }
    const object = make(key, () => this.#objects.delete(key));
    this.#objects.set(key, object);
    return object;
  }

  // ------------------------------------------------------------------ raw messages

  /** Sends `data` to every peer: objects as JSON, strings as they are, bytes if allowP2PBinary. */
  send(data: unknown): void {
    this.#sendRaw(undefined, data);
  }

  /** Sends `data` to one user's connections in the room. */
  sendTo(userId: string, data: unknown): void {
    if (typeof userId !== 'string' || !userId) throw new TypeError('sendTo needs a userId');
    this.#sendRaw(userId, data);
  }

  #sendRaw(to: string | undefined, data: unknown): void {
    this.#alive();
    if (!this.#joined) throw new P2PError('p2p_not_joined', 'Not connected to the room: raw messages are not queued.');
    const { encoding, data: text } = encodeRaw(data, this.#host.config().allowP2PBinary);
    const targets = [...this.#peers.values()].filter((p) => to === undefined || p.userId === to);
    if (to !== undefined && targets.length === 0) throw new P2PError('peer_not_found', `User ${JSON.stringify(to)} is not in this room's P2P session.`);
    const reached: string[] = [];
    for (const peer of targets) {
      if (this.#mesh?.isOpen(peer.connectionId)) {
        this.#mesh.sendRaw(peer.connectionId, encoding, text);
        reached.push(peer.connectionId);
      }
    }
    if (reached.length === targets.length && targets.length > 0) return;
    void this.#send({ type: 'p2p:message', ...(to !== undefined ? { to } : {}), ...(reached.length ? { except: reached } : {}), data: text, encoding });
  }

  #emitMessage(fromUserId: string, raw: EncodedRaw): void {
    const decoded = decodeRaw(raw);
    if (decoded) this.#events.emit('message', { data: decoded.data, fromUserId });
  }

  // ------------------------------------------------------------------ connection info

  /** The other users of the room's P2P session and the state of the connection to each. */
  get peers(): Map<string, PeerState> {
    return new Map([...this.#userStates].map(([id, s]) => [id, { ...s }]));
  }

  /** 'p2p' while this client's changes flow over WebRTC data channels, 'websocket' on the relay. */
  get transport(): P2PTransport {
    return this.#transport;
  }

  /** Subscribes to an event (`message`, `peer:connect`, `peer:disconnect`, `peer:state`, `transport:change`, `error`, `destroyed`); returns the unsubscribe function. */
  on<K extends keyof P2PEvents & string>(event: K, listener: (payload: P2PEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * @internal The client moves to another room: this manager's document belongs to the one it
   * leaves (what it has not stored yet goes to the server first); `client.p2p` serves the new room.
   */
  roomChanged(newRoom: string): void {
    const reason = `The client moved to room "${newRoom}".`;
    this.#teardown(reason, true, new P2PError('p2p_not_joined', `${reason} Use client.p2p again for the new room.`));
  }

  /**
   * Leaves the room's P2P session: hands the server what it has not stored yet, closes the data
   * channels and stops every shared object. `client.p2p` starts a new session afterwards.
   */
  destroy(): void {
    this.#teardown('destroyed', true);
  }

  // ------------------------------------------------------------------ session

  #join(): void {
    if (this.#destroyed) return;
    // The document belongs to one room: after setRoom() a new manager serves the new room.
    if (this.#host.room() !== this.#room) return this.#teardown(`The client moved to room "${this.#host.room()}".`, false);
    const config = this.#host.config();
    if (!config.allowP2P) {
      const err = new P2PError('p2p_disabled', 'P2P shared data is turned off for this environment (allowP2P).');
      this.#teardown(err.message, false, err);
      return;
    }
    // Frames still waiting belong to the previous socket's session (a token refresh swaps
    // sockets without a disconnect): the join's sync resends whatever the server lacks.
    this.#outbound.clear();
    const ref = `p2p-join-${++this.#joinRef}`;
    if (this.#pendingJoin) this.#pendingJoin.ref = ref;
    void this.#send({ type: 'p2p:join', ref, stateVector: toBase64(Y.encodeStateVector(this.doc)), webrtc: this.#mesh !== undefined });
  }

  #onJoined(m: Extract<P2PServerMessage, { type: 'p2p:joined' }>): void {
    this.#self = m.self;
    this.#joined = true;
    this.#serverVector = fromBase64(m.stateVector);
    this.#apply(fromBase64(m.update), FROM_SERVER);
    this.#peers.clear();
    for (const peer of m.peers) this.#peers.set(peer.connectionId, peer);
    // What this client changed while away: to everyone (the server keeps it too).
    const news = Y.encodeStateAsUpdate(this.doc, this.#serverVector);
    if (this.#changedAway || Y.parseUpdateMeta(news).to.size > 0) {
      this.#changedAway = false;
      this.#outbox.push(news);
      this.#flushOutbox();
    }
    this.#unpersisted = true;
    // What live peers changed since the server last stored the room: ask the longest present.
    const responder = m.peers[0];
    if (responder) this.#syncPacer.ask(responder.connectionId);
    // The newcomer calls the mesh peers already there.
    if (this.#mesh && m.self.mesh) for (const peer of m.peers) if (peer.mesh) this.#mesh.connect(peer.connectionId, true);
    this.#refreshPeers();
    const pending = this.#pendingJoin;
    this.#pendingJoin = undefined;
    pending?.resolve();
  }

  /** The WebSocket is gone: the session with it (data channels are re-made on rejoin). */
  #left(): void {
    if (!this.#joined) return;
    this.#joined = false;
    this.#mesh?.closeAll();
    this.#linked.clear();
    this.#syncPacer.clear();
    this.#peers.clear();
    this.#refreshPeers();
  }

  #teardown(reason: string, graceful: boolean, error?: P2PError): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#outboxTimer);
    this.#syncPacer.clear();
    // What waits for the piece budget goes now (later frames go unpaced too, see #send): a new
    // manager may start on this connection at once, and its frames must not mix with these.
    if (graceful && this.#joined) this.#outbound.flushNow();
    else this.#outbound.clear();
    if (graceful && this.#joined) {
      if (this.#outbox.length) this.#flushOutbox();
      const update = this.#unpersisted ? toBase64(Y.encodeStateAsUpdate(this.doc, this.#serverVector)) : undefined;
      void this.#send({ type: 'p2p:leave', ...(update ? { update } : {}) });
    }
    this.#joined = false;
    this.#mesh?.closeAll();
    for (const object of [...this.#objects.values()]) object.destroy();
    for (const off of this.#unsubscribe) off();
    this.#host.receive(undefined);
    this.#host.released();
    this.#peers.clear();
    this.#refreshPeers();
    const pending = this.#pendingJoin;
    this.#pendingJoin = undefined;
    pending?.reject(error ?? new P2PError('p2p_disabled', reason));
    this.#events.emit('destroyed', { reason });
    this.doc.destroy();
  }

  #receive(m: P2PServerMessage): void {
    if (this.#destroyed) return;
    switch (m.type) {
      case 'p2p:joined':
        if (m.ref === this.#pendingJoin?.ref || this.#pendingJoin === undefined) this.#onJoined(m);
        return;
      case 'p2p:error': {
        const pending = this.#pendingJoin;
        if (pending && m.ref === pending.ref) {
          const err = new P2PError(m.code, m.message);
          if (m.code === 'p2p_disabled') return this.#teardown(m.message, false, err);
          this.#pendingJoin = undefined;
          pending.reject(err);
          return;
        }
        this.#events.emit('error', { code: m.code as ErrorCode, message: m.message });
        return;
      }
      case 'p2p:peer-joined':
        if (!this.#joined || m.peer.connectionId === this.#self?.connectionId) return;
        this.#peers.set(m.peer.connectionId, m.peer);
        this.#refreshPeers();
        return;
      case 'p2p:peer-updated':
        if (!this.#joined) return;
        if (m.peer.connectionId === this.#self?.connectionId) {
          const promoted = m.peer.mesh && !this.#self.mesh;
          this.#self = m.peer;
          // Given a place in the mesh: call the mesh peers, like a newcomer does.
          if (promoted && this.#mesh) for (const peer of this.#peers.values()) if (peer.mesh) this.#mesh.connect(peer.connectionId, true);
        } else if (this.#peers.has(m.peer.connectionId)) this.#peers.set(m.peer.connectionId, m.peer);
        this.#refreshPeers();
        return;
      case 'p2p:peer-left': {
        const gone = this.#peers.get(m.connectionId);
        this.#peers.delete(m.connectionId);
        this.#linked.delete(m.connectionId);
        this.#syncPacer.forget(m.connectionId);
        this.#mesh?.close(m.connectionId);
        this.#refreshPeers();
        if (gone?.mesh) this.#catchUp();
        return;
      }
      case 'p2p:update':
        return this.#apply(fromBase64(m.update), FROM_RELAY);
      case 'p2p:sync':
        if (m.update) this.#apply(fromBase64(m.update), FROM_RELAY);
        if (m.stateVector && !m.update) this.#syncPacer.answer(m.from, fromBase64(m.stateVector));
        return;
      case 'p2p:signal':
        if (this.#mesh && this.#self?.mesh) this.#mesh.signal(m.from, m.signal);
        return;
      case 'p2p:message':
        return this.#emitMessage(m.fromUserId, m);
      case 'p2p:persist-request':
        this.#serverVector = fromBase64(m.stateVector);
        return this.#persistNow();
      case 'p2p:reset':
        return this.#teardown("The room's shared state was cleared.", false);
      case 'p2p:saved':
        this.#serverVector = fromBase64(m.stateVector);
        return;
    }
  }

  // ------------------------------------------------------------------ document sync

  #apply(update: Uint8Array, origin: string): void {
    if (update.byteLength <= 2 && update[0] === 0 && update[1] === 0) return;
    Y.applyUpdate(this.doc, update, origin);
  }

  #onDocUpdate(update: Uint8Array, origin: unknown): void {
    if (origin === FROM_SERVER || origin === FROM_RELAY) return;
    this.#unpersisted = true;
    if (origin === FROM_PEER) return;
    if (!this.#joined) {
      this.#changedAway = true;
      return;
    }
    this.#outbox.push(update);
    this.#outboxTimer ??= setTimeout(() => this.#flushOutbox(), P2P_UPDATE_BATCH_MS);
  }

  /** Local changes of the last few milliseconds, as one update: over data channels, and through the server to everyone else. */
  #flushOutbox(): void {
    clearTimeout(this.#outboxTimer);
    this.#outboxTimer = undefined;
    if (this.#outbox.length === 0 || !this.#joined) return;
    const parts = this.#outbox;
    this.#outbox = []; // first: one update that fails to merge must not hold back every later one
    const update = parts.length === 1 ? parts[0]! : Y.mergeUpdates(parts);
    const reached: string[] = [];
    let others = 0;
    for (const peer of this.#peers.values()) {
      others++;
      if (this.#mesh?.isOpen(peer.connectionId)) {
        this.#mesh.sendUpdate(peer.connectionId, update);
        reached.push(peer.connectionId);
      }
    }
    // Everyone got it directly: the server is not involved (it asks for what it lacks).
    if (others > 0 && reached.length === others) return;
    void this.#send({ type: 'p2p:update', update: toBase64(update), ...(reached.length ? { except: reached } : {}) });
  }

  /**
   * Sends a P2P frame, in pieces when it is larger than one WebSocket frame; paced and in order
   * (see P2POutbound) while the session lasts.
   */
  #send(message: ClientMessage, onSent?: (sent: boolean) => void): boolean {
    const json = JSON.stringify(message);
    let frames: ClientMessage[] = [message];
    if (json.length > P2P_LIMITS.chunkChars || utf8Bytes(json) > P2P_LIMITS.chunkBytes) {
      const id = `${this.#chunkPrefix}${++this.#chunkSeq}`;
      const pieces = splitForFrames(json, P2P_LIMITS.chunkChars, P2P_LIMITS.chunkBytes);
      frames = pieces.map((data, index) => ({ type: 'p2p:chunk', id, index, count: pieces.length, data }));
    }
    if (!this.#destroyed) return this.#outbound.push(frames, onSent);
    const sent = frames.every((frame) => this.#host.send(frame));
    onSent?.(sent);
    return sent;
  }

  // ------------------------------------------------------------------ peers and transport

  #channelOpened(id: string): void {
    // Both sides exchange state vectors and send each other what is missing.
    this.#linked.add(id);
    this.#mesh?.sendSyncRequest(id, Y.encodeStateVector(this.doc));
    this.#peerChanged(id);
  }

  #peerChanged(id: string): void {
    if (this.#linked.has(id) && !this.#mesh?.isOpen(id)) {
      // The link dropped with the peer still here: what was in flight on it may be lost, and
      // later changes go through the relay. Ask the peer there for what this client lacks.
      this.#linked.delete(id);
      if (this.#joined && this.#peers.has(id)) this.#syncPacer.ask(id);
    }
    this.#refreshPeers();
  }

  /**
   * A mesh peer left: its last changes may have reached some peers over data channels and not
   * others, and no peer passes on what it received. So every survivor asks for what it lacks:
   * over each open link, and through the server each mesh peer it cannot reach plus one relay
   * peer (the server relays a frame to all of those or to none).
   */
  #catchUp(): void {
    if (!this.#joined) return;
    const vector = Y.encodeStateVector(this.doc);
    let relayAsked = false;
    for (const peer of this.#peers.values()) {
      if (this.#mesh?.isOpen(peer.connectionId)) this.#mesh.sendSyncRequest(peer.connectionId, vector);
      else if (peer.mesh || !relayAsked) {
        relayAsked ||= !peer.mesh;
        this.#syncPacer.ask(peer.connectionId);
      }
    }
  }

  /** Recomputes `peers` (per user) and `transport`, emitting what changed. */
  #refreshPeers(): void {
    const next = userStates(this.#peers.values(), this.#mesh);
    const before = this.#userStates;
    this.#userStates = next;
    for (const [userId, state] of next) {
      const old = before.get(userId);
      if (!old) this.#events.emit('peer:connect', { ...state });
      else if (old.state !== state.state || old.dataChannelOpen !== state.dataChannelOpen) this.#events.emit('peer:state', { ...state });
    }
    for (const userId of before.keys()) if (!next.has(userId)) this.#events.emit('peer:disconnect', { userId });
    const transport = transportOf(this.#self, this.#joined, this.#peers.values(), this.#mesh);
    if (transport !== this.#transport) {
      this.#transport = transport;
      this.#events.emit('transport:change', transport);
    }
  }

  #alive(): void {
    if (this.#destroyed) throw new P2PError('p2p_disabled', 'This P2P manager was torn down; get a new one from client.p2p.');
  }
}
