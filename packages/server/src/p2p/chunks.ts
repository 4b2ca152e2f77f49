import { P2P_LIMITS, PulseError, type ClientMessageOf } from '@pulse/protocol';
import type { Connection } from '../realtime/connection.ts';

interface Partial {
  count: number;
  parts: (string | undefined)[];
  received: number;
  chars: number;
  /** Whose it is: the user (environment and user id) and the environment, for their shares. */
  user: string;
  env: string;
  /** When its last piece arrived (performance.now()). */
  touchedAt: number;
}

/** A chunked frame from a connection that has not joined the session yet: only its p2p:join (a large state vector). */
export const JOIN_CHUNK_CHARS = 1024 * 1024;

/** What all connections' unfinished chunked frames may hold at once, in characters. */
export const CHUNKS_PROCESS_BUDGET_CHARS = 256 * 1024 * 1024;

/** What one user's unfinished frames may hold, all their connections together, in connection allowances. */
export const CHUNKS_USER_ALLOWANCES = 2;
/** The share of the process budget one environment's unfinished frames may hold. */
export const CHUNKS_ENV_SHARE = 0.25;
/** An unfinished frame without a new piece for this long is let go when memory runs short. */
export const CHUNK_IDLE_MS = 30_000;

/** Idle frames are looked for at most this often (only when memory runs short). */
const CHUNK_SWEEP_MS = 1000;

/** Ids of frames let go unfinished that a connection's later pieces are recognised by. */
const LET_GO_REMEMBERED = 32;

interface ConnectionChunks {
  open: Map<string, Partial>;
  /** Frames let go unfinished (a piece refused): their later pieces are ignored. */
  letGo: Set<string>;
}

/**
 * Joins `p2p:chunk` frames back into the P2P frame they carry (a sync step or a persisted
 * state larger than one WebSocket frame). Bounded, since pieces wait in memory until the last one
 * arrives: per connection (a few frames at once, together no larger than the environment's state
 * limit allows), per user (all their connections: a few connections' worth), per environment (a
 * share of the process's budget, so one tenant cannot hold all of it), per process, and in time
 * (released when the connection leaves the P2P session; when memory runs short, frames that got
 * no piece for CHUNK_IDLE_MS are let go first). Once a frame is let go unfinished, its remaining
 * pieces (the client sends them all at once) are ignored rather than starting a frame that can
 * never complete.
 */
export class ChunkAssembler {
  readonly #connections = new Map<Connection, ConnectionChunks>();
  readonly #budget: number;
  readonly #envShare: number;
  #held = 0;
  /** Characters held per user and per environment (keys of Partial.user and Partial.env). */
  readonly #heldBy = new Map<string, number>();
  /** When idle frames were last looked for (at most once per CHUNK_SWEEP_MS: it scans them all). */
  #sweptAt = -Infinity;

  constructor(budgetChars = CHUNKS_PROCESS_BUDGET_CHARS, envShare = CHUNKS_ENV_SHARE) {
    this.#budget = budgetChars;
    this.#envShare = envShare;
  }

  /** Characters held in unfinished frames, all connections together. */
  get held(): number {
    return this.#held;
  }

  /** Returns the whole frame's text once its last piece arrived, else undefined. */
  add(conn: Connection, m: ClientMessageOf<'p2p:chunk'>, maxChars: number, maxOpen: number = P2P_LIMITS.openChunkedFrames): string | undefined {
    const state = this.#stateOf(conn);
    if (state.letGo.has(m.id)) return undefined;
    const { open } = state;
    let partial = open.get(m.id);
    if (!partial) {
      if (open.size >= maxOpen) {
        this.#letGo(state, m.id, m.count > 1); // its other pieces could never make it whole
        throw new PulseError('rate_limited', `At most ${maxOpen} chunked frame${maxOpen === 1 ? '' : 's'} may be under way at once.`);
      }
      const identity = conn.identity;
      partial = {
        count: m.count,
        parts: new Array<string | undefined>(m.count),
        received: 0,
        chars: 0,
        user: identity ? `u\u0000${identity.envId}\u0000${identity.user.id}` : 'u',
        env: identity ? `e\u0000${identity.envId}` : 'e',
        touchedAt: performance.now(),
      };
      open.set(m.id, partial);
    }
    const drop = () => this.#letGo(state, m.id, partial.count > 1);
    const fail = (message: string) => {
      drop();
      return new PulseError('invalid_message', `p2p:chunk ${m.id}: ${message}`);
    };
    if (m.count !== partial.count || m.index >= partial.count) throw fail('index or count does not match the first piece');
    if (partial.parts[m.index] !== undefined) throw fail(`piece ${m.index} arrived twice`);
    const size = m.data.length;
    let connectionChars = size;
    for (const p of open.values()) connectionChars += p.chars;
    if (connectionChars > maxChars) {
      drop();
      throw new PulseError('p2p_state_too_large', `Chunked frames under way on this connection would hold more than this environment's P2P state limit allows (${maxChars} characters).`);
    }
    const userMax = CHUNKS_USER_ALLOWANCES * maxChars;
    // At least one whole frame of the environment's size (a state limit set high).
    const envMax = Math.max(this.#envShare * this.#budget, maxChars);
    const overUser = () => this.#heldOf(partial.user) + size > userMax;
    const overShared = () => this.#heldOf(partial.env) + size > envMax || this.#held + size > this.#budget;
    if (overUser() || overShared()) this.#letGoIdle(partial);
    if (overUser()) {
      drop();
      throw new PulseError('rate_limited', `Your chunked frames under way, on all your connections together, would hold more than ${userMax} characters; send this frame again once others are done.`);
    }
    if (overShared()) {
      drop();
      throw new PulseError('service_unavailable', 'The server holds as many unfinished chunked frames as it can; send the frame again shortly.');
    }
    this.#hold(partial, size);
    partial.touchedAt = performance.now();
    partial.parts[m.index] = m.data;
    if (++partial.received < partial.count) return undefined;
    this.#letGo(state, m.id, false);
    return partial.parts.join('');
  }

  /** Forgets a connection's unfinished frames (it left the session or closed). */
  release(conn: Connection): void {
    const state = this.#connections.get(conn);
    if (!state) return;
    for (const p of state.open.values()) this.#hold(p, -p.chars);
    this.#connections.delete(conn);
  }

  #heldOf(key: string): number {
    return this.#heldBy.get(key) ?? 0;
  }

  #hold(partial: Partial, chars: number): void {
    partial.chars += chars;
    this.#held += chars;
    for (const key of [partial.user, partial.env]) {
      const held = this.#heldOf(key) + chars;
      if (held > 0) this.#heldBy.set(key, held);
      else this.#heldBy.delete(key);
    }
  }

  /** Lets go of every unfinished frame that got no piece for CHUNK_IDLE_MS (but `keep`). */
  #letGoIdle(keep: Partial): void {
    const now = performance.now();
    if (now - this.#sweptAt < CHUNK_SWEEP_MS) return;
    this.#sweptAt = now;
    const before = now - CHUNK_IDLE_MS;
    for (const state of this.#connections.values()) {
      for (const [id, p] of state.open) if (p !== keep && p.touchedAt < before) this.#letGo(state, id, true);
    }
  }

  #stateOf(conn: Connection): ConnectionChunks {
    let state = this.#connections.get(conn);
    if (!state) this.#connections.set(conn, (state = { open: new Map(), letGo: new Set() }));
    return state;
  }

  #letGo(state: ConnectionChunks, id: string, unfinished: boolean): void {
    const partial = state.open.get(id);
    if (partial) {
      this.#hold(partial, -partial.chars);
      state.open.delete(id);
    }
    if (!unfinished) return;
    state.letGo.add(id);
    if (state.letGo.size > LET_GO_REMEMBERED) state.letGo.delete(state.letGo.values().next().value!);
  }
}
