import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Bus, ClusterLink } from './bus.ts';

export interface RedisBusOptions {
  url: string;
  /** Prefix of every key and channel, so several deployments (or test runs) can share one Redis. */
  prefix: string;
  /** How long start-up waits for Redis before going on degraded (it keeps retrying). */
  connectWaitMs?: number;
  /**
   * Deliver this node's own publishes to its own sockets at once and ignore their echo from Redis
   * (the default). Off, every delivery makes the round trip through Redis (for measurements).
   */
  localShortcut?: boolean;
  log?: (message: string) => void;
}

/** Length of a node id: every payload on Redis starts with its publisher's id. */
export const NODE_ID_LENGTH = 12;
/** Payloads kept (not ephemeral ones) while Redis is unreachable, sent when it is back. */
const MAX_QUEUED = 10_000;
/** Channels per SUBSCRIBE command when resubscribing after a reconnect. */
const SUBSCRIBE_CHUNK = 500;
/** How long a room waits for its SUBSCRIBE to be confirmed before going on without it. */
const SUBSCRIBE_WAIT_MS = 2_000;

/** Reconnect backoff: 100 ms doubling to 2 s, with jitter so nodes do not retry in step. */
export function redisRetryDelay(attempt: number): number {
  const base = Math.min(2_000, 100 * 2 ** Math.min(attempt - 1, 5));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/**
 * The cluster bus: pub/sub on Redis with one command/publish connection and one subscriber
 * connection per node, whatever the number of rooms. A channel is subscribed on Redis while
 * this node has a handler for it. A publish reaches this node's handlers at once and every other
 * node once through Redis; this node ignores its own echo (payloads carry the node id).
 */
export class RedisBus implements Bus, ClusterLink {
  readonly nodeId = randomBytes(NODE_ID_LENGTH / 2).toString('hex');
  readonly prefix: string;
  readonly redis: Redis;
  readonly #sub: Redis;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  readonly #subscribing = new Map<string, Promise<void>>();
  readonly #queued: { channel: string; payload: string }[] = [];
  readonly #recovered = new Set<() => void>();
  readonly #localShortcut: boolean;
  readonly #log: (message: string) => void;
  #dropped = 0;
  #down = false;
  /** Until connect() has decided how the node starts: what goes wrong meanwhile, connect() reports. */
  #starting = true;
  #recovering = false;
  #lastError = '';
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.prefix = options.prefix;
    this.#localShortcut = options.localShortcut ?? true;
    this.#log = options.log ?? ((m) => console.warn(`[pulse] ${m}`));
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
      retryStrategy: redisRetryDelay,
    };
    // Named after the deployment's prefix, so that CLIENT LIST tells deployments sharing a Redis
    // apart (a name may not hold spaces or control characters).
    const name = (role: string) => `${this.prefix}${this.nodeId}:${role}`.replace(/[^\x21-\x7e]/g, '_');
    this.redis = new Redis(options.url, { ...common, connectionName: name('cmd') });
    this.#sub = new Redis(options.url, { ...common, connectionName: name('sub'), autoResubscribe: false });
    for (const conn of [this.redis, this.#sub]) {
      conn.on('error', (err: Error) => this.#lost(err.message));
      conn.on('close', () => this.#lost(this.#lastError || 'connection closed'));
      conn.on('ready', () => this.#ready(conn));
    }
    this.#sub.on('message', (channel: string, message: string) => this.#received(channel, message));
  }

  /** Connects both connections, waiting up to connectWaitMs; past that the node starts degraded. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options);
    const wait = options.connectWaitMs ?? 5_000;
    const connected = Promise.all([bus.redis.connect(), bus.#sub.connect()]).then(
      () => true,
      () => false,
    );
    const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), wait).unref());
    if (!(await Promise.race([connected, timeout]))) {
      bus.#starting = false;
      bus.#down = true;
      bus.#log(`redis: not reachable at start-up (${bus.#lastError || 'timed out'}); starting degraded and retrying`);
      if (bus.ready()) void bus.#recover();
      return bus;
    }
    // ioredis goes on in database 0 when the URL's cannot be selected: a misconfiguration that
    // would mix this deployment's keys with others', so the start fails instead.
    const db = bus.redis.options.db ?? 0;
    const selected = await bus.redis.select(db).then(
      () => undefined,
      (err: Error) => err,
    );
    if (selected) {
      await bus.close();
      throw new Error(`REDIS_URL selects database ${db}, which Redis refused (${selected.message}); a Redis server has as many as its "databases" setting, 16 by default`);
    }
    bus.#starting = false;
    if (bus.ready()) {
      bus.#down = false;
      bus.#lastError = '';
    }
    return bus;
  }

  publish(channel: string, payload: string, delivery?: 'ephemeral'): void {
    if (this.redis.status === 'ready') this.redis.publish(this.prefix + channel, this.nodeId + payload).catch(this.#publishFailed);
    else if (delivery !== 'ephemeral') this.#queue(channel, payload);
    else this.#dropped++;
    if (!this.#localShortcut) return;
    const handlers = this.#handlers.get(channel);
    if (handlers) for (const handler of handlers) handler(payload);
  }

  readonly #publishFailed = (err: Error) => this.#lost(err.message);

  #queue(channel: string, payload: string): void {
    if (this.#queued.length >= MAX_QUEUED) {
      this.#queued.shift();
      if (this.#dropped++ === 0) this.#log(`redis: more than ${MAX_QUEUED} events waiting for Redis; dropping the oldest (clients resync on recovery)`);
    }
    this.#queued.push({ channel, payload });
  }

  subscribe(channel: string, handler: (payload: string) => void): () => void {
    let handlers = this.#handlers.get(channel);
    if (!handlers) {
      this.#handlers.set(channel, (handlers = new Set()));
      if (this.#sub.status === 'ready') {
        const done = this.#sub.subscribe(this.prefix + channel).then(
          () => undefined,
          () => undefined, // resubscribed with every channel when the connection is back
        );
        this.#subscribing.set(channel, done);
        void done.then(() => {
          if (this.#subscribing.get(channel) === done) this.#subscribing.delete(channel);
        });
      }
    }
    handlers.add(handler);
    return () => {
      if (!handlers.delete(handler) || handlers.size > 0 || this.#handlers.get(channel) !== handlers) return;
      this.#handlers.delete(channel);
      this.#subscribing.delete(channel);
      if (this.#sub.status === 'ready') this.#sub.unsubscribe(this.prefix + channel).catch(() => undefined);
    };
  }

  subscribed(channel: string): Promise<void> {
    const pending = this.#subscribing.get(channel);
    if (!pending) return Promise.resolve();
    return Promise.race([pending, new Promise<void>((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())]);
  }

  #received(channel: string, message: string): void {
    if (this.#localShortcut && message.startsWith(this.nodeId)) return;
    const handlers = this.#handlers.get(channel.slice(this.prefix.length));
    if (!handlers) return;
    const payload = message.slice(NODE_ID_LENGTH);
    for (const handler of handlers) handler(payload);
  }

  #lost(reason: string): void {
    if (this.#closed) return;
    this.#lastError = reason;
    if (this.#down) return;
    this.#down = true;
    if (!this.#starting) this.#log(`redis: ${reason}; keeping sockets open and retrying`);
  }

  #ready(conn: Redis): void {
    if (this.#closed) return;
    if (conn === this.#sub && this.#handlers.size > 0) {
      const channels = [...this.#handlers.keys()].map((c) => this.prefix + c);
      for (let i = 0; i < channels.length; i += SUBSCRIBE_CHUNK) {
        this.#sub.subscribe(...channels.slice(i, i + SUBSCRIBE_CHUNK)).catch((err: Error) => this.#lost(err.message));
      }
    }
    if (conn === this.redis) this.#flush();
    if (this.#down && this.ready() && !this.#recovering && !this.#starting) void this.#recover();
  }

  async #recover(): Promise<void> {
    this.#recovering = true;
    try {
      // The resubscribe above is queued before this PING on the same connection: once PING answers, it is in effect.
      await this.#sub.ping().catch(() => undefined);
      if (!this.ready()) return;
      this.#down = false;
      this.#lastError = '';
      this.#log('redis: connection restored; resubscribed and resynchronising rooms');
      for (const listener of this.#recovered) {
        try {
          listener();
        } catch (err) {
          this.#log(`redis: recovery step failed: ${(err as Error).message}`);
        }
      }
    } finally {
      this.#recovering = false;
    }
  }

  #flush(): void {
    const queued = this.#queued.splice(0);
    for (const { channel, payload } of queued) this.redis.publish(this.prefix + channel, this.nodeId + payload).catch(this.#publishFailed);
  }

  ready(): boolean {
    return this.redis.status === 'ready' && this.#sub.status === 'ready';
  }

  onRecovered(listener: () => void): void {
    this.#recovered.add(listener);
  }

  get cluster(): ClusterLink {
    return this;
  }

  health(): string {
    if (this.ready()) return 'ok';
    const status = this.redis.status === 'ready' ? this.#sub.status : this.redis.status;
    return `error: redis unavailable (${status}${this.#lastError ? `: ${this.#lastError}` : ''})`;
  }

  /** Local channel subscriptions (for tests and the cluster check). */
  get channelCount(): number {
    return this.#handlers.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    this.#recovered.clear();
    await Promise.all(
      [this.redis, this.#sub].map(async (conn) => {
        if (conn.status === 'ready') await Promise.race([conn.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
        conn.disconnect();
      }),
    );
  }
}
