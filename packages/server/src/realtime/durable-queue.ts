import { LIMITS, type ClientMessage } from '@pulse/protocol';
import { READING_PAUSED, type Connection } from './connection.ts';

/** Runs one request to its end; it answers the client itself and never throws. */
export type RunRequest = (conn: Connection, message: ClientMessage) => Promise<void>;

export interface QueueBounds {
  perConnection: number;
  perProcess: number;
}

/** A user's requests waiting, from all their sockets, in the order they were read. */
type Lane = { conn: Connection; message: ClientMessage }[];

/**
 * Durable requests, applied strictly one after another in arrival order per user, across all
 * their sockets: a reply may depend on the thread created one frame earlier, and requests read
 * from a socket that has since closed (a network drop) run before those the client resends on
 * its new socket, so an older edit never lands after a newer one. Users' requests run side by
 * side. Bounded twice: past `perConnection` waiting requests on one socket the server stops
 * reading from it (TCP backpressure reaches the client) until its share has drained to half;
 * past `perProcess` in the whole process (or when `elsewhere` says the writes that bypass this
 * queue fill it), new requests are refused (the caller answers `service_unavailable`) rather
 * than left to wait for seconds. Rate limits were charged on arrival.
 *
 * A socket paused that way, or by the message limit (`holdingFrames`), may hold requests not read
 * yet (its user's old socket, dropped with its last requests in the TCP buffer). Until it is read
 * again, requests from the user's other sockets wait aside, those sockets paused too, so that they
 * land after what it had delivered; but never longer than BEHIND_MAX_MS, so that a tab of the
 * user's that keeps sending past the message rate cannot hold the others up.
 */
export class DurableQueue {
  readonly #run: RunRequest;
  readonly #bounds: QueueBounds;
  readonly #elsewhere: () => boolean;
  readonly #lanes = new Map<string, Lane>();
  readonly #paused = new Set<Connection>();
  /** Sockets whose frames wait for the message limit (see Gateway), in the order they came. */
  readonly #holding = new Set<Connection>();
  /** Requests of sockets waiting behind a sibling's unread ones, in arrival order per socket; `waitedEnough` after BEHIND_MAX_MS. */
  readonly #behind = new Map<Connection, { messages: ClientMessage[]; waitedEnough: boolean; timer: NodeJS.Timeout }>();
  #releaseScheduled = false;
  #queued = 0;
  #closed = false;

  constructor(
    run: RunRequest,
    bounds: QueueBounds = { perConnection: LIMITS.durableQueuePerConnection, perProcess: LIMITS.durableQueuePerProcess },
    elsewhere: () => boolean = () => false,
  ) {
    this.#run = run;
    this.#bounds = bounds;
    this.#elsewhere = elsewhere;
  }

  /** True when the process has as much durable work as it accepts: new work should wait. */
  get saturated(): boolean {
    return this.#queued >= this.#bounds.perProcess || this.#elsewhere();
  }

  /** Queues a request of an authenticated socket; false when the process is saturated (refuse it) or shutting down. */
  enqueue(conn: Connection, message: ClientMessage): boolean {
    if (this.saturated || this.#closed) return false;
    const key = (conn.laneKey ??= laneKey(conn));
    const behind = this.#behind.get(conn);
    if (behind || this.#siblingUnread(key, conn)) {
      if (behind) behind.messages.push(message);
      else {
        const entry = {
          messages: [message],
          waitedEnough: false,
          timer: setTimeout(() => {
            entry.waitedEnough = true;
            this.#scheduleRelease();
          }, BEHIND_MAX_MS).unref(),
        };
        this.#behind.set(conn, entry);
        conn.pauseReading(READING_PAUSED.laneOrder);
      }
      this.#queued++;
      conn.durableWaiting++;
      return true;
    }
    this.#push(key, conn, message);
    return true;
  }

  #push(key: string, conn: Connection, message: ClientMessage): void {
    let lane = this.#lanes.get(key);
    const idle = !lane;
    if (!lane) this.#lanes.set(key, (lane = []));
    lane.push({ conn, message });
    this.#queued++;
    if (++conn.durableWaiting >= this.#bounds.perConnection) this.#pause(conn);
    if (idle) void this.#drain(key, lane);
  }

  /** A socket's frames wait for the message limit (true), or went on (false). */
  holdingFrames(conn: Connection, holding: boolean): void {
    conn.laneKey ??= laneKey(conn);
    if (holding) this.#holding.add(conn);
    else if (this.#holding.delete(conn)) this.#scheduleRelease();
  }

  /** Another socket of the user is paused by its full share or the message limit: it may hold requests not read yet. */
  #siblingUnread(key: string, conn: Connection): boolean {
    for (const set of [this.#paused, this.#holding]) {
      for (const other of set) if (other !== conn && other.laneKey === key) return true;
    }
    return false;
  }

  /**
   * Once a socket is read again, what was in its buffer is read in the event loop's next poll:
   * the requests waiting behind it go into their lanes after that (two turns of setImmediate:
   * one poll phase at least between), unless it was paused again meanwhile.
   */
  #scheduleRelease(): void {
    if (this.#behind.size === 0 || this.#releaseScheduled) return;
    this.#releaseScheduled = true;
    setImmediate(() =>
      setImmediate(() => {
        this.#releaseScheduled = false;
        if (this.#closed) return;
        for (const [conn, { messages, waitedEnough, timer }] of this.#behind) {
          const key = conn.laneKey!;
          if (this.#siblingUnread(key, conn) && !waitedEnough) continue;
          clearTimeout(timer);
          this.#behind.delete(conn);
          this.#queued -= messages.length;
          conn.durableWaiting -= messages.length;
          for (const message of messages) this.#push(key, conn, message);
          conn.resumeReading(READING_PAUSED.laneOrder);
        }
      }),
    );
  }

  async #drain(key: string, lane: Lane): Promise<void> {
    while (lane.length > 0 && !this.#closed) {
      const { conn, message } = lane[0]!;
      await this.#run(conn, message);
      lane.shift();
      this.#queued--;
      conn.durableWaiting--;
      this.#resumeIfDrained();
    }
    if (this.#lanes.get(key) === lane) this.#lanes.delete(key);
  }

  #pause(conn: Connection): void {
    if (this.#paused.has(conn) || !conn.open) return;
    this.#paused.add(conn);
    conn.pauseReading(READING_PAUSED.durableQueue);
  }

  #resumeIfDrained(): void {
    if (this.#paused.size === 0) return;
    for (const conn of this.#paused) {
      if (conn.durableWaiting > this.#bounds.perConnection / 2) continue;
      this.#paused.delete(conn);
      conn.resumeReading(READING_PAUSED.durableQueue);
      this.#scheduleRelease();
    }
  }

  /** Shutting down: requests still waiting are not run (their clients resend them on reconnect). */
  close(): void {
    this.#closed = true;
    this.#paused.clear();
    this.#holding.clear();
    for (const { timer } of this.#behind.values()) clearTimeout(timer);
    this.#behind.clear();
  }

  /** A closed socket: it is no longer paused. Its requests already read still run (their retries are idempotent). */
  forget(conn: Connection): void {
    if (this.#paused.delete(conn)) this.#scheduleRelease();
  }
}

/** Longest a socket's requests wait behind a sibling's unread ones (see DurableQueue). */
const BEHIND_MAX_MS = 1000;

/** One lane per user of an environment (requests are queued only once a socket has authenticated). */
function laneKey(conn: Connection): string {
  const { envId, user } = conn.identity!;
  return `${envId}\u0000${user.id}`;
}
