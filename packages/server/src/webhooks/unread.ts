import type { ConfigCache } from '../domain/config-cache.ts';
import { PeriodicPass } from '../periodic-pass.ts';
import { UNREAD_MAX_AGE_MS } from '../store/email-types.ts';
import type { Store } from '../store/index.ts';
import type { DispatcherLog } from './dispatcher.ts';
import type { WebhookPublisher } from './publisher.ts';

/** A pass starts this far before where the last one got to: another node's clock may run a little behind. */
const OVERLAP_MS = 60_000;
/** Notifications claimed per environment per statement; a pass repeats while it gets that many. */
const BATCH = 200;

/**
 * `notification.unread`: a notification still unread `emailDelaySeconds` after it was made, for
 * receivers that reach people through their own channels (Liveblocks' delayed `notification`
 * event). The store claims each notification once, on any node, and writes the event to the
 * outbox in the same transaction; the dispatcher delivers it like every other event.
 */
export class UnreadNotificationEvents {
  readonly #store: Store;
  readonly #configs: ConfigCache;
  readonly #webhooks: WebhookPublisher;
  /** Per environment: up to when every due notification has been claimed (scans start a little before it). */
  readonly #watermarks = new Map<string, string>();
  readonly #passes: PeriodicPass;

  constructor(store: Store, configs: ConfigCache, webhooks: WebhookPublisher, pollMs: number, log: DispatcherLog) {
    this.#store = store;
    this.#configs = configs;
    this.#webhooks = webhooks;
    this.#passes = new PeriodicPass(() => this.tick(), pollMs, (err) => log.warn({ err }, 'notification.unread: a pass failed; retrying'));
  }

  start(): void {
    this.#passes.start();
  }

  /** One pass over the environments with an endpoint that wants `notification.unread`. */
  async tick(): Promise<void> {
    const now = Date.now();
    let recorded = 0;
    for (const env of await this.#store.listEnvironments()) {
      if (this.#passes.closed) break;
      if (!(await this.#webhooks.wants(env.id, 'notification.unread'))) continue;
      const config = await this.#configs.get(env.id);
      if (!config) continue;
      const dueBefore = new Date(now - config.emailDelaySeconds * 1000).toISOString();
      const oldest = new Date(now - UNREAD_MAX_AGE_MS).toISOString();
      for (;;) {
        const mark = this.#watermarks.get(env.id);
        const since = mark && mark > oldest ? new Date(Date.parse(mark) - OVERLAP_MS).toISOString() : oldest;
        const claimed = await this.#store.recordUnreadNotifications(env.id, since, dueBefore, new Date().toISOString(), BATCH);
        recorded += claimed.length;
        // A short batch took every due one: the next pass starts from the due time itself.
        const reached = claimed.length < BATCH ? dueBefore : claimed.reduce((a, b) => (b > a ? b : a));
        if (!mark || reached > mark) this.#watermarks.set(env.id, reached);
        if (claimed.length < BATCH) break;
      }
    }
    if (recorded > 0) this.#webhooks.recorded();
  }

  close(): Promise<void> {
    return this.#passes.close();
  }
}
