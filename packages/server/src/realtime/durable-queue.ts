import { LIMITS, type ClientMessage } from '@pulse/protocol';
import { READING_PAUSED, type Connection } from './connection.ts';

/** Runs one request to its end; it answers the client itself and never throws. */
export type RunRequest = (conn: Connection, message: ClientMessage) => Promise<void>;

export interface QueueBounds {
  perConnection: number;
  perProcess: number;
}

/**
 * A connection's durable requests, applied strictly one after another in arrival order (a reply
 * may depend on the thread created one frame earlier). Bounded twice: past `perConnection`
 * waiting requests on one socket the server stops reading from it (TCP backpressure reaches the
 * client) until its queue has drained to half; past `perProcess` in the whole process, new
 * requests are refused (the caller answers `service_unavailable`) rather than left to wait for
 * seconds. Rate limits were charged on arrival.
 */
export class DurableQueue {
  readonly #run: RunRequest;
  readonly #bounds: QueueBounds;
  readonly #paused = new Set<Connection>();
  #queued = 0;
  #closed = false;

  constructor(run: RunRequest, bounds: QueueBounds = { perConnection: LIMITS.durableQueuePerConnection, perProcess: LIMITS.durableQueuePerProcess }) {
    this.#run = run;
    this.#bounds = bounds;
  }

  /** True when the process has as much durable work as it accepts: new work should wait. */
  get saturated(): boolean {
    return this.#queued >= this.#bounds.perProcess;
  }

  /** Queues a request; false when the process is saturated (refuse it) or shutting down. */
  enqueue(conn: Connection, message: ClientMessage): boolean {
    if (this.saturated || this.#closed) return false;
    const queue = (conn.durableQueue ??= []);
    queue.push(message);
    this.#queued++;
    if (queue.length >= this.#bounds.perConnection) this.#pause(conn);
    if (queue.length === 1) void this.#drain(conn, queue);
    return true;
  }

  async #drain(conn: Connection, queue: ClientMessage[]): Promise<void> {
    while (queue.length > 0 && !this.#closed) {
      await this.#run(conn, queue[0]!);
      queue.shift();
      this.#queued--;
      this.#resumeIfDrained();
    }
    if (conn.durableQueue === queue) conn.durableQueue = undefined;
  }

  #pause(conn: Connection): void {
    if (this.#paused.has(conn) || !conn.open) return;
    this.#paused.add(conn);
    conn.pauseReading(READING_PAUSED.durableQueue);
  }

  #resumeIfDrained(): void {
    if (this.#paused.size === 0) return;
    for (const conn of this.#paused) {
      if ((conn.durableQueue?.length ?? 0) > this.#bounds.perConnection / 2) continue;
      this.#paused.delete(conn);
      conn.resumeReading(READING_PAUSED.durableQueue);
    }
  }

  /** Shutting down: requests still waiting are not run (their clients resend them on reconnect). */
  close(): void {
    this.#closed = true;
    this.#paused.clear();
  }

  /** A closed socket: it is no longer paused. Its requests already read still run (their retries are idempotent). */
  forget(conn: Connection): void {
    this.#paused.delete(conn);
  }
}
