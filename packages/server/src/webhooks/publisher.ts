import type { WebhookActor, WebhookEventType } from '@pulse/protocol';
import type { Actor } from '../domain/actor.ts';
import type { FileLinks } from '../files/links.ts';
import { nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { WebhookIntent } from '../store/types.ts';
import { newWebhookEventId } from '../ids.ts';

/** How long a node trusts its copy of an environment's subscriptions (changes also arrive through the control log). */
const SUBSCRIPTIONS_TTL_MS = 5_000;

export interface WebhookEventSpec {
  type: WebhookEventType;
  subject?: WebhookIntent['subject'];
  /** Fields known before the change; a function is called only when someone subscribes. */
  data?: Record<string, unknown> | (() => Promise<Record<string, unknown>>);
}

export const webhookActor = (actor: Actor): WebhookActor =>
  actor.kind === 'user' ? { type: 'user', userId: actor.externalId } : actor.kind === 'admin' ? { type: 'admin', adminId: actor.adminId } : { type: 'backend' };

/**
 * Decides which webhook events a change records. An environment without an endpoint that wants an
 * event type costs nothing: the answer comes from memory, and no intent is made. Disabled
 * endpoints count: what happens while one is off stays in the outbox, to be recovered.
 */
export class WebhookPublisher {
  readonly #store: Store;
  readonly #links: FileLinks;
  readonly #subscriptions = new Map<string, { loadedAt: number; wants: Promise<(type: string) => boolean> }>();
  #onRecorded: () => void = () => {};

  constructor(store: Store, links: FileLinks) {
    this.#store = store;
    this.#links = links;
  }

  /** Called when events were written (the dispatcher looks at once). */
  onRecorded(listener: () => void): void {
    this.#onRecorded = listener;
  }

  /** Endpoints of the environment (null: of every environment) changed. */
  invalidate(envId: string | null): void {
    if (envId === null) this.#subscriptions.clear();
    else this.#subscriptions.delete(envId);
  }

  #wants(envId: string): Promise<(type: string) => boolean> {
    const hit = this.#subscriptions.get(envId);
    if (hit && Date.now() - hit.loadedAt < SUBSCRIPTIONS_TTL_MS) return hit.wants;
    const wants = this.#store.listWebhookEndpoints(envId).then((endpoints) => {
      if (endpoints.length === 0) return () => false;
      if (endpoints.some((e) => e.events.length === 0)) return () => true;
      const types = new Set(endpoints.flatMap((e) => e.events as string[]));
      return (type: string) => types.has(type);
    });
    this.#subscriptions.set(envId, { loadedAt: Date.now(), wants });
    wants.catch(() => this.#subscriptions.delete(envId));
    return wants;
  }

  /** Whether some endpoint of the environment (enabled or not) subscribes to the event type. */
  async wants(envId: string, type: WebhookEventType): Promise<boolean> {
    return (await this.#wants(envId))(type);
  }

  /** The intents for the events some endpoint of the environment subscribes to. */
  async intents(envId: string, actor: Actor, specs: WebhookEventSpec[]): Promise<WebhookIntent[]> {
    if (specs.length === 0) return [];
    const wants = await this.#wants(envId);
    const out: WebhookIntent[] = [];
    for (const spec of specs) {
      if (!wants(spec.type)) continue;
      const data = typeof spec.data === 'function' ? await spec.data() : (spec.data ?? {});
      out.push({
        id: newWebhookEventId(),
        type: spec.type,
        actor: webhookActor(actor),
        occurredAt: nowIso(),
        ...(spec.subject ? { subject: spec.subject } : {}),
        data,
        links: this.#links,
      });
    }
    return out;
  }

  /**
   * Events were written: by a change, once it committed (the change knows whether its intents
   * were recorded), or outside one (`notification.unread`). Wakes the dispatcher.
   */
  recorded(): void {
    this.#onRecorded();
  }
}
