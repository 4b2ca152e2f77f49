import type { ClientMessage } from '@pulse/protocol/lite';
import { p2pPieceBudget, type SendBudget } from '../send-budget.ts';

/**
 * A P2P session's frames to the server, in order. The pieces of a chunked frame spend from a
 * budget kept under the server's message limit (a frame of more pieces than the server's burst
 * would otherwise lose pieces to it, and with them the whole frame), so a large frame is paced
 * and the frames sent meanwhile wait behind it.
 */
export class P2POutbound {
  readonly #send: (message: ClientMessage) => boolean;
  readonly #budget: SendBudget;
  #queue: ClientMessage[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(send: (message: ClientMessage) => boolean, budget: SendBudget = p2pPieceBudget()) {
    this.#send = send;
    this.#budget = budget;
  }

  /** Frames waiting for the budget. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Sends `frames` after those waiting, pieces as the budget allows; false when the connection is gone. */
  push(frames: ClientMessage[]): boolean {
    this.#queue.push(...frames);
    return this.#drain();
  }

  /** Sends everything waiting at once, budget or not (the session ends: nothing may stay behind). */
  flushNow(): boolean {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const frames = this.#queue;
    this.#queue = [];
    return frames.every((frame) => this.#send(frame));
  }

  /** Forgets what waits: the connection is gone, and its session with it (a rejoin resends what matters). */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#budget.reset();
  }

  #drain(): boolean {
    if (this.#timer !== undefined) return true; // a paced send is under way; these wait their turn
    let sent = 0;
    while (sent < this.#queue.length) {
      const frame = this.#queue[sent]!;
      if (frame.type === 'p2p:chunk') {
        const wait = this.#budget.take();
        if (wait > 0) {
          this.#queue = this.#queue.slice(sent);
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#drain();
          }, wait);
          return true;
        }
      }
      sent++;
      if (!this.#send(frame)) {
        this.clear();
        return false;
      }
    }
    this.#queue = [];
    return true;
  }
}
