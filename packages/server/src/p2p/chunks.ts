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

/**
 * Joins `p2p:chunk` frames back into the P2P frame they carry (a sync step or a persisted
 * state larger than one WebSocket frame). Bounded three ways, since pieces wait in memory until
 * the last one arrives: per connection (a few frames at once, together no larger than the
 * environment's state limit allows), per process, and in time (released when the connection
 * leaves the P2P session).
 */
export class ChunkAssembler {
  readonly #open = new Map<Connection, Map<string, Partial>>();
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
    let open = this.#open.get(conn);
    if (!open) this.#open.set(conn, (open = new Map()));
    let partial = open.get(m.id);
    if (!partial) {
      if (open.size >= maxOpen) throw new PulseError('rate_limited', `At most ${maxOpen} chunked frame${maxOpen === 1 ? '' : 's'} may be under way at once.`);
      partial = { count: m.count, parts: new Array<string | undefined>(m.count), received: 0, chars: 0 };
      open.set(m.id, partial);
    }
    const drop = () => {
      this.#held -= partial.chars;
      open.delete(m.id);
    };
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
    drop();
    return partial.parts.join('');
  }

  /** Forgets one unfinished frame, which can no longer be completed (a piece of it was dropped). */
  discard(conn: Connection, id: string): void {
    const open = this.#open.get(conn);
    const partial = open?.get(id);
    if (!open || !partial) return;
    this.#held -= partial.chars;
    open.delete(id);
  }

  /** Forgets a connection's unfinished frames (it left the session or closed). */
  release(conn: Connection): void {
    const open = this.#open.get(conn);
    if (!open) return;
    for (const p of open.values()) this.#held -= p.chars;
    this.#open.delete(conn);
  }
}
