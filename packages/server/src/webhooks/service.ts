import {
  createWebhookBody,
  patchWebhookBody,
  PulseError,
  recoverWebhookBody,
  rotateWebhookSecretBody,
  sendTestWebhookBody,
  WEBHOOK_LIMITS,
  WEBHOOK_POLICY,
  WEBHOOK_TEST_EVENT,
  type WebhookDeliveryInfo,
  type WebhookEndpointInfo,
  webhookExampleData,
} from '@pulse/protocol';
import { parseInput } from '../rest/validation.ts';
import type { Store } from '../store/index.ts';
import type { WebhookEndpointRecord } from '../store/types.ts';
import { newWebhookEndpointId, newWebhookEventId, nowIso } from '../ids.ts';
import { newWebhookSecret, ownWebhookSecret } from './secret.ts';
import { ALLOW_PRIVATE_HINT, blockedAddressReason, blockedNameReason, systemResolver, type NameResolver } from './ssrf.ts';

/** Deliveries a listing shows at most. */
export const DELIVERIES_SHOWN = 50;

/** An endpoint without its secret: what lists and audit show (a previous secret's overlap only while it lasts). */
export const endpointView = ({ secret: _secret, ...info }: WebhookEndpointRecord): WebhookEndpointInfo => ({
  ...info,
  previousSecretExpiresAt: info.previousSecretExpiresAt && Date.parse(info.previousSecretExpiresAt) > Date.now() ? info.previousSecretExpiresAt : null,
});

/**
 * Managing webhook endpoints (the panel and the CLI both go through here). Every change is
 * announced on the control log, so every node's subscription cache follows it at once.
 */
export class WebhookService {
  readonly #store: Store;
  readonly #allowPrivate: boolean;
  readonly #retryWindowMs: number;
  readonly #onChanged: (envId: string) => void;
  readonly #resolve: NameResolver;

  /** `onChanged`: this node's own subscription cache, told at once (other nodes follow the control log). */
  constructor(store: Store, settings: { allowPrivate: boolean; retryWindowMs: number; onChanged?: (envId: string) => void; resolve?: NameResolver }) {
    this.#store = store;
    this.#resolve = settings.resolve ?? systemResolver;
    this.#allowPrivate = settings.allowPrivate;
    this.#retryWindowMs = settings.retryWindowMs;
    this.#onChanged = settings.onChanged ?? (() => {});
  }

  /**
   * Refuses at once what cannot be delivered: a loopback, private or metadata IP, or a name that
   * resolves to one now (every send checks the name's addresses again).
   */
  async #checkUrl(url: string): Promise<void> {
    if (this.#allowPrivate) return;
    // A name's trailing dot (`localhost.`) is the same name.
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
    let reason = host === 'localhost' || host.endsWith('.localhost') ? `${host} is a loopback address` : blockedAddressReason(host);
    if (reason === 'not an IP address') reason = await blockedNameReason(host, this.#resolve);
    if (reason) {
      throw new PulseError('validation_failed', `url: refused: ${reason}; webhooks go to public addresses (${ALLOW_PRIVATE_HINT})`);
    }
  }

  async #changed(envId: string): Promise<void> {
    this.#onChanged(envId);
    await this.#store.appendControlEvent(envId, 'webhooks.changed', nowIso());
  }

  async #require(envId: string, endpointId: string): Promise<WebhookEndpointRecord> {
    const found = await this.#store.getWebhookEndpoint(envId, endpointId);
    if (found) return found;
    await this.#requireEnvironment(envId);
    throw new PulseError('not_found', `No webhook endpoint "${endpointId}" in this environment.`);
  }

  async #requireEnvironment(envId: string): Promise<void> {
    if (!(await this.#store.getEnvironment(envId))) throw new PulseError('environment_not_found');
  }

  /** Creates an endpoint (with a new secret, or `secret`); the secret is returned here and at rotation only. */
  async add(envId: string, input: unknown): Promise<{ endpoint: WebhookEndpointInfo; secret: string }> {
    const body = parseInput(createWebhookBody, input);
    await this.#requireEnvironment(envId);
    await this.#checkUrl(body.url);
    const existing = await this.#store.listWebhookEndpoints(envId);
    if (existing.length >= WEBHOOK_LIMITS.endpointsPerEnvironment) {
      throw new PulseError('validation_failed', `An environment has at most ${WEBHOOK_LIMITS.endpointsPerEnvironment} webhook endpoints; remove one first.`);
    }
    const secret = body.secret ? ownWebhookSecret(body.secret) : newWebhookSecret();
    const created = await this.#store.createWebhookEndpoint(envId, {
      id: newWebhookEndpointId(),
      url: body.url,
      description: body.description ?? '',
      events: [...new Set(body.events ?? [])],
      enabled: body.enabled ?? true,
      secret,
      createdAt: nowIso(),
    });
    await this.#changed(envId);
    return { endpoint: endpointView(created), secret };
  }

  async list(envId: string): Promise<WebhookEndpointInfo[]> {
    await this.#requireEnvironment(envId);
    return (await this.#store.listWebhookEndpoints(envId)).map(endpointView);
  }

  async get(envId: string, endpointId: string): Promise<WebhookEndpointInfo> {
    return endpointView(await this.#require(envId, endpointId));
  }

  async update(envId: string, endpointId: string, input: unknown): Promise<{ before: WebhookEndpointInfo; after: WebhookEndpointInfo }> {
    const patch = parseInput(patchWebhookBody, input);
    if (patch.url !== undefined) await this.#checkUrl(patch.url);
    const before = await this.#require(envId, endpointId);
    const after = await this.#store.updateWebhookEndpoint(
      envId,
      endpointId,
      { ...patch, ...(patch.events ? { events: [...new Set(patch.events)] } : {}) },
      nowIso(),
    );
    if (!after) throw new PulseError('not_found', `No webhook endpoint "${endpointId}" in this environment.`);
    await this.#changed(envId);
    return { before: endpointView(before), after: endpointView(after) };
  }

  async remove(envId: string, endpointId: string): Promise<WebhookEndpointInfo> {
    const before = await this.#require(envId, endpointId);
    if (!(await this.#store.deleteWebhookEndpoint(envId, endpointId))) throw new PulseError('not_found', `No webhook endpoint "${endpointId}" in this environment.`);
    await this.#changed(envId);
    return endpointView(before);
  }

  /**
   * A new secret signs the next attempt of every delivery; the previous one signs beside it for
   * WEBHOOK_POLICY.secretOverlapMs (receivers verify either), unless `expirePrevious`.
   */
  async rotateSecret(envId: string, endpointId: string, input: unknown = {}): Promise<{ endpoint: WebhookEndpointInfo; secret: string }> {
    const { expirePrevious, secret: given } = parseInput(rotateWebhookSecretBody, input ?? {});
    await this.#require(envId, endpointId);
    const secret = given ? ownWebhookSecret(given) : newWebhookSecret();
    const previousUntil = expirePrevious ? null : new Date(Date.now() + WEBHOOK_POLICY.secretOverlapMs).toISOString();
    const after = await this.#store.updateWebhookEndpoint(envId, endpointId, { secret: { secret, previousUntil } }, nowIso());
    if (!after) throw new PulseError('not_found', `No webhook endpoint "${endpointId}" in this environment.`);
    await this.#changed(envId);
    return { endpoint: endpointView(after), secret };
  }

  /**
   * Queues a `webhook.test` event, or with `{ type }` an example event of that type
   * (`webhookExampleData`), for this endpoint only, whatever its filter; delivered like any other,
   * with retries.
   */
  async sendTest(envId: string, endpointId: string, input: unknown = {}): Promise<WebhookDeliveryInfo> {
    const { type = WEBHOOK_TEST_EVENT } = parseInput(sendTestWebhookBody, input ?? {});
    const endpoint = await this.#requireEnabled(envId, endpointId, 'to send it a test event');
    const at = nowIso();
    const id = newWebhookEventId();
    const data =
      type === WEBHOOK_TEST_EVENT
        ? { environmentId: envId, endpointId: endpoint.id, message: 'A test event from Pulse: your endpoint receives and verifies webhooks.' }
        : webhookExampleData(type, envId, at);
    // An example says so, beside data that is made up: a receiver can tell it from a real event.
    const payload = JSON.stringify(type === WEBHOOK_TEST_EVENT ? { type, timestamp: at, data } : { type, timestamp: at, example: true, data });
    return this.#store.enqueueWebhookDelivery(envId, endpoint.id, { id, type, payload, createdAt: at }, this.#giveUpAt(at));
  }

  async deliveries(envId: string, endpointId: string, limit = DELIVERIES_SHOWN): Promise<WebhookDeliveryInfo[]> {
    await this.#require(envId, endpointId);
    return this.#store.listWebhookDeliveries(envId, endpointId, Math.min(Math.max(1, limit), 200));
  }

  /**
   * Queues the events since a time that the endpoint never had a delivery of (it was disabled,
   * or added later), as far back as events are kept. Sent like any other, with the usual retries.
   */
  async recover(envId: string, endpointId: string, input: unknown): Promise<{ recovered: number; since: string }> {
    const { since } = parseInput(recoverWebhookBody, input);
    await this.#require(envId, endpointId);
    const from = Date.parse(since);
    const now = Date.now();
    if (from > now) throw new PulseError('validation_failed', 'since: must not be in the future');
    const oldest = now - WEBHOOK_POLICY.retentionMs;
    if (from < oldest) throw new PulseError('validation_failed', `since: events are kept ${WEBHOOK_POLICY.retentionMs / 86_400_000} days; the earliest is ${new Date(oldest).toISOString()}`);
    const at = nowIso();
    const iso = new Date(from).toISOString();
    return { recovered: await this.#store.recoverWebhookDeliveries(envId, endpointId, iso, at, this.#giveUpAt(at)), since: iso };
  }

  /** Sends one of the endpoint's deliveries again (same event id), with a fresh retry window. */
  async resend(envId: string, endpointId: string, deliveryId: string): Promise<WebhookDeliveryInfo> {
    await this.#requireEnabled(envId, endpointId, 'to resend its deliveries');
    const at = nowIso();
    const delivery = await this.#store.resendWebhookDelivery(envId, endpointId, deliveryId, at, this.#giveUpAt(at));
    if (!delivery) throw new PulseError('not_found', `No delivery "${deliveryId}" of webhook endpoint ${endpointId}.`);
    return delivery;
  }

  /** A disabled endpoint is sent nothing, so a test or a resend would only wait: refused instead. */
  async #requireEnabled(envId: string, endpointId: string, purpose: string): Promise<WebhookEndpointRecord> {
    const endpoint = await this.#require(envId, endpointId);
    if (!endpoint.enabled) throw new PulseError('endpoint_disabled', `The webhook endpoint ${endpoint.id} is disabled: enable it ${purpose}.`);
    return endpoint;
  }

  #giveUpAt(at: string): string {
    return new Date(Date.parse(at) + this.#retryWindowMs).toISOString();
  }
}
