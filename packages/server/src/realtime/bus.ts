import type { Redis } from 'ioredis';

/**
 * Fan-out between server processes. Payloads are serialised once by the publisher and handed
 * on as they are. The in-process bus serves one node; the Redis bus (cluster mode) serves many.
 */
export interface Bus {
  /**
   * Delivers to this node's handlers of the channel at once, and (cluster mode) to every other
   * node's. An 'ephemeral' payload may be dropped while the bus is degraded; others are kept
   * (bounded) and sent when it recovers.
   */
  publish(channel: string, payload: string, delivery?: 'ephemeral'): void;
  /** Returns an unsubscribe function. A channel is subscribed once however many handlers it has. */
  subscribe(channel: string, handler: (payload: string) => void): () => void;
  /** Resolves once other nodes' publishes on the channel reach this node (at once in process). */
  subscribed(channel: string): Promise<void>;
  close(): Promise<void>;
  /** 'ok', or what is wrong, for /healthz. */
  health(): string;
  /** Cluster mode only: what the cluster-wide presence needs from the Redis bus. */
  readonly cluster?: ClusterLink;
}

/** The Redis side of a cluster bus, for the state kept in Redis beside the pub/sub (presence). */
export interface ClusterLink {
  /** This process's id in the cluster (fixed length, random per start). */
  readonly nodeId: string;
  /** Prefix of every Redis key and channel of this deployment. */
  readonly prefix: string;
  /** The command connection (never in subscriber mode). */
  readonly redis: Redis;
  /** Whether both connections are up. */
  ready(): boolean;
  /** Called after an outage, once both connections are back and every channel is subscribed again. */
  onRecovered(listener: () => void): void;
}

export class MemoryBus implements Bus {
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();

  publish(channel: string, payload: string): void {
    const handlers = this.#handlers.get(channel);
    if (!handlers) return;
    for (const handler of handlers) handler(payload);
  }

  subscribe(channel: string, handler: (payload: string) => void): () => void {
    let handlers = this.#handlers.get(channel);
    if (!handlers) this.#handlers.set(channel, (handlers = new Set()));
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0) this.#handlers.delete(channel);
    };
  }

  subscribed(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.#handlers.clear();
  }

  health(): string {
    return 'ok';
  }
}

export const roomChannel = (envId: string, roomId: string) => `room:${envId}:${roomId}`;
export const userChannel = (envId: string, userId: string) => `user:${envId}:${userId}`;
