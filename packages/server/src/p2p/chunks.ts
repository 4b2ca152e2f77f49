import { P2P_LIMITS, PulseError, type ClientMessageOf } from '@pulse/protocol';
import type { Connection } from '../realtime/connection.ts';

interface Partial {
  count: number;
  parts: (string | undefined)[];
  received: number;
  chars: number;
}

/** A chunked frame from a connection that has not joined the session yet: only its p2p:join (a large state vector). */
export const JOIN_CHUNK_CHARS = 1024 * 1024;

/** What all connections' unfinished chunked frames may hold at once, in characters. */
export const CHUNKS_PROCESS_BUDGET_CHARS = 256 * 1024 * 1024;

/** Ids of frames let go unfinished that a connection's later pieces are recognised by. */
const LET_GO_REMEMBERED = 32;

interface ConnectionChunks {
  open: Map<string, Partial>;
  /** Frames let go unfinished (a piece refused): their later pieces are ignored. */
  letGo: Set<string>;
}

/**
 * Joins `p2p:chunk` frames back into the P2P frame they carry (a sync step or a persisted
 * state larger than one WebSocket frame). Bounded three ways, since pieces wait in memory until
 * the last one arrives: per connection (a few frames at once, together no larger than the
 * environment's state limit allows), per process, and in time (released when the connection
 * leaves the P2P session). Once a frame is let go unfinished, its remaining pieces (the client
 * sends them all at once) are ignored rather than starting a frame that can never complete.
 */
export class ChunkAssembler {
  readonly #connections = new Map<Connection, ConnectionChunks>();
  readonly #budget: number;
  #held = 0;

  constructor(budgetChars = CHUNKS_PROCESS_BUDGET_CHARS) {
    this.#budget = budgetChars;
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
      partial = { count: m.count, parts: new Array<string | undefined>(m.count), received: 0, chars: 0 };
      open.set(m.id, partial);
    }
    const drop = () => this.#letGo(state, m.id, partial.count > 1);
    const fail = (message: string) => {
      drop();
      return new PulseError('invalid_message', `p2p:chunk ${m.id}: ${message}`);
    };
    if (m.count !== partial.count || m.index >= partial.count) throw fail('index or count does not match the first piece');
    if (partial.parts[m.index] !== undefined) throw fail(`piece ${m.index} arrived twice`);
    let connectionChars = m.data.length;
    for (const p of open.values()) connectionChars += p.chars;
    if (connectionChars > maxChars) {
      drop();
      throw new PulseError('p2p_state_too_large', `Chunked frames under way on this connection would hold more than this environment's P2P state limit allows (${maxChars} characters).`);
    }
    if (this.#held + m.data.length > this.#budget) {
      drop();
      throw new PulseError('service_unavailable', 'The server holds as many unfinished chunked frames as it can; send the frame again shortly.');
    }
    partial.chars += m.data.length;
    this.#held += m.data.length;
    partial.parts[m.index] = m.data;
    if (++partial.received < partial.count) return undefined;
    this.#letGo(state, m.id, false);
    return partial.parts.join('');
  }

  /** Forgets a connection's unfinished frames (it left the session or closed). */
  release(conn: Connection): void {
    const state = this.#connections.get(conn);
    if (!state) return;
    for (const p of state.open.values()) this.#held -= p.chars;
    this.#connections.delete(conn);
  }

  #stateOf(conn: Connection): ConnectionChunks {
    let state = this.#connections.get(conn);
    if (!state) this.#connections.set(conn, (state = { open: new Map(), letGo: new Set() }));
    return state;
  }

  #letGo(state: ConnectionChunks, id: string, unfinished: boolean): void {
    const partial = state.open.get(id);
    if (partial) {
      this.#held -= partial.chars;
      state.open.delete(id);
    }
    if (!unfinished) return;
    state.letGo.add(id);
    if (state.letGo.size > LET_GO_REMEMBERED) state.letGo.delete(state.letGo.values().next().value!);
  }
}
