/**
 * Fan-out between server processes. Payloads are serialised once by the publisher and handed
 * on as they are. The in-process bus serves one node; the Redis bus (cluster mode) serves many.
 */
export interface Bus {
  publish(channel: string, payload: string): void;
  /** Returns an unsubscribe function. A channel is subscribed once however many handlers it has. */
  subscribe(channel: string, handler: (payload: string) => void): () => void;
  close(): Promise<void>;
  /** 'ok', or what is wrong, for /healthz. */
  health(): string;
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

  async close(): Promise<void> {
    this.#handlers.clear();
  }

  health(): string {
    return 'ok';
  }
}

export const roomChannel = (envId: string, roomId: string) => `room:${envId}:${roomId}`;
export const userChannel = (envId: string, userId: string) => `user:${envId}:${userId}`;
