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
  /** Told once the frame has gone (true), or was dropped unsent (false): see push. */
  readonly #onSent = new Map<ClientMessage, (sent: boolean) => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(send: (message: ClientMessage) => boolean, budget: SendBudget = p2pPieceBudget()) {
    this.#send = send;
    this.#budget = budget;
  }

  /** Frames waiting for the budget. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Sends `frames` after those waiting, pieces as the budget allows; false when the connection is
   * gone. `onSent(true)` is called when the last of them has been handed to the socket,
   * `onSent(false)` if it is dropped unsent (clear).
   */
  push(frames: ClientMessage[], onSent?: (sent: boolean) => void): boolean {
    if (onSent && frames.length > 0) this.#onSent.set(frames[frames.length - 1]!, onSent);
    this.#queue.push(...frames);
    return this.#drain();
  }

  /** Sends everything waiting at once, budget or not (the session ends: nothing may stay behind). */
  flushNow(): boolean {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const frames = this.#queue;
    this.#queue = [];
    return frames.every((frame) => this.#sendOne(frame));
  }

  /** Forgets what waits: the connection is gone, and its session with it (a rejoin resends what matters). */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    const dropped = [...this.#onSent.values()];
    this.#onSent.clear();
    for (const onSent of dropped) onSent(false);
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
      if (!this.#sendOne(frame)) {
        this.clear();
        return false;
      }
    }
    this.#queue = [];
    return true;
  }

  #sendOne(frame: ClientMessage): boolean {
    if (!this.#send(frame)) return false;
    const onSent = this.#onSent.get(frame);
    if (onSent) {
      this.#onSent.delete(frame);
      onSent(true);
    }
    return true;
  }
}
