import { P2P_LIMITS, PulseError, type ClientMessageOf } from '@pulse/protocol';
import type { Connection } from '../realtime/connection.ts';

interface Partial {
  count: number;
  parts: (string | undefined)[];
  received: number;
  chars: number;
}

/**
 * Joins `p2p:chunk` frames back into the P2P frame they carry (a sync step or a persisted
 * state larger than one WebSocket frame). Bounded per connection: a few frames at once, each no
 * larger than the environment's state limit allows.
 */
export class ChunkAssembler {
  readonly #open = new WeakMap<Connection, Map<string, Partial>>();

  /** Returns the whole frame's text once its last piece arrived, else undefined. */
  add(conn: Connection, m: ClientMessageOf<'p2p:chunk'>, maxChars: number): string | undefined {
    let open = this.#open.get(conn);
    if (!open) this.#open.set(conn, (open = new Map()));
    let partial = open.get(m.id);
    if (!partial) {
      if (open.size >= P2P_LIMITS.openChunkedFrames) throw new PulseError('rate_limited', `At most ${P2P_LIMITS.openChunkedFrames} chunked frames may be under way at once.`);
      partial = { count: m.count, parts: new Array<string | undefined>(m.count), received: 0, chars: 0 };
      open.set(m.id, partial);
    }
    const fail = (message: string) => {
      open.delete(m.id);
      return new PulseError('invalid_message', `p2p:chunk ${m.id}: ${message}`);
    };
    if (m.count !== partial.count || m.index >= partial.count) throw fail('index or count does not match the first piece');
    if (partial.parts[m.index] !== undefined) throw fail(`piece ${m.index} arrived twice`);
    partial.chars += m.data.length;
    if (partial.chars > maxChars) {
      open.delete(m.id);
      throw new PulseError('p2p_state_too_large', `The frame is larger than this environment's P2P state limit allows (${maxChars} characters).`);
    }
    partial.parts[m.index] = m.data;
    if (++partial.received < partial.count) return undefined;
    open.delete(m.id);
    return partial.parts.join('');
  }
}
