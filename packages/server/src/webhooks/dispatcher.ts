import { WEBHOOK_POLICY } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { ClaimedDelivery, DisabledEndpoint, WebhookAttemptResult, WebhookOutcome } from '../store/types.ts';
import { retryDelayMs, type WebhookSettings } from './settings.ts';
import { pauseMs } from './send.ts';
import { WebhookSender } from './sender.ts';
import { audit, clip } from '../panel-api/audit.ts';

/** How often an idle node looks for due deliveries (a commit with events wakes it at once). */
const POLL_MS = 500;
/** Requests in flight on one node, all endpoints together; and as many again not answered within SLOW_AFTER_MS (SenderOptions). */
const MAX_IN_FLIGHT = 64;
const SLOW_AFTER_MS = 2_000;
/**
 * Deliveries one claim may take per endpoint, as a multiple of the endpoint's concurrency: they
 * wait in the sending thread for a free request slot, so a healthy endpoint is not held to a few
 * requests per pass over the outbox.
 */
const CLAIM_DEPTH = 8;
/** Rows held (handed to the sending thread, not answered yet) by answering endpoints beyond which no rows are claimed. */
const MAX_CLAIMED = 256;
/**
 * Fresh deliveries one endpoint may have held, as a multiple of its concurrency, and all
 * answering endpoints together: a burst (or the sending thread held back a while by the writes)
 * is sent from memory; beyond it they go to rows. A hung endpoint's go to rows as their claim
 * runs short. A slow endpoint (see #slow) takes fresh ones up to one claim's depth, and rows
 * while it holds less than that (fewer than two claims' depth in all), outside both limits.
 */
export const FRESH_DEPTH = 128;
const MAX_HELD = 2048;
/** Outbox events claimed per pass. */
const DISPATCH_BATCH = 200;
const PRUNE_EVERY_MS = 3600_000;
/**
 * Under load, passes over the outbox at most this often; each also records the outcomes of the
 * attempts since the last. One write operation per interval instead of several per comment, which
 * would take the write path's database time.
 */
const BATCH_MS = 25;
/** Left of a claim after an attempt's timeout, for its outcome to be recorded before the claim lapses. */
const RECORD_MARGIN_MS = 5_000;
/**
 * Write operations waiting for the database beyond which the writer counts as backed up: the
 * dispatcher then steps aside (the write path comes first), but never for longer than
 * YIELD_MAX_MS. Below it, deliveries keep pace with the writes. (Stepping aside whenever a write
 * waited starved them: at a quarter of the write capacity a write nearly always waits.)
 */
const WRITES_BACKED_UP = 8;
const YIELD_MAX_MS = 250;
/** Longest a stopping node waits for the requests it sent (the HTTP server's own grace). */
const CLOSE_GRACE_MS = 10_000;
/** ...and then for the sending thread to answer the abort. */
const ABORT_WAIT_MS = 2_000;

export interface DispatcherLog {
  warn(obj: object, msg: string): void;
}

/**
 * Sends webhook deliveries, at least once each, off the write path: it claims the events the
 * write transactions put in the outbox and sends their first attempts from memory (each
 * delivery's row written once, with its outcome), claims the delivery rows due for another
 * attempt (one node at a time per delivery), posts them signed, and records each attempt with
 * its next retry or its final outcome.
 */
export class WebhookDispatcher {
  readonly #store: Store;
  readonly #settings: WebhookSettings;
  readonly #log: DispatcherLog;
  /** Deliveries handed to the sending thread and not answered yet, per endpoint. */
  readonly #held = new Map<string, { fresh: number; rows: number }>();
  /**
   * Endpoints whose last attempt the sending thread found slow (SendResult.slow: a hung receiver
   * times out), or could not start before its claim ran short: what they hold does not count
   * towards the limits of all endpoints, so that they cannot keep the others' deliveries waiting.
   */
  readonly #slow = new Set<string>();
  readonly #sender = new WebhookSender({ maxInFlight: MAX_IN_FLIGHT, slowAfterMs: SLOW_AFTER_MS });
  #aborted = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #lastPrune = 0;
  readonly #settled = new Set<Promise<void>>();
  #lastTick = 0;
  #tickTimer: NodeJS.Timeout | undefined;
  #outcomes: WebhookOutcome[] = [];
  /** Fresh deliveries of each claimed event not yet in `#outcomes`. */
  readonly #freshLeft = new Map<string, number>();
  /** Claimed events whose fresh deliveries are all in `#outcomes` (or were recorded). */
  #eventsDone: string[] = [];
  /**
   * Claimed events an outcome of which was dropped (see #tick): never marked done here, so that
   * once their claim lapses the delivery left without a row is made and sent again.
   */
  readonly #abandoned = new Set<string>();
  /**
   * Endpoints some deliveries of which were given back unattempted (fresh ones written as rows, for
   * want of room here or of time left in their claim; rows let go): the next fresh ones go the same
   * way, so that they are sent in order, until a claim takes all the rows left.
   */
  readonly #behind = new Set<string>();
  /**
   * Endpoints whose jobs the sending thread gives back until the next one says it may go on
   * (SendJob.startBy), with when the last of them came back.
   */
  readonly #stopped = new Map<string, number>();
  /**
   * Endpoints whose receiver asked to be left alone (`Retry-After`), with until when
   * (performance.now(), see pauseMs): this node sends them nothing before then; what falls due
   * meanwhile waits as rows.
   */
  readonly #pausedUntil = new Map<string, number>();
  /** Passes failed in a row (see #tick). */
  #failedPasses = 0;

  /** Called with the endpoints one pass disabled (never empty), on the node whose pass it was. */
  onDisabled: (endpoints: DisabledEndpoint[]) => void = () => undefined;

  constructor(store: Store, settings: WebhookSettings, log: DispatcherLog) {
    this.#store = store;
    this.#settings = settings;
    this.#log = log;
  }

  async start(): Promise<void> {
    // SQLite serves one node: claims left by a previous run of this node (killed mid-delivery) are stale.
    if (this.#store.dialect === 'sqlite') await this.#store.releaseAllWebhookClaims();
    this.#sender.warm();
    this.#timer = setInterval(() => this.kick(), POLL_MS);
    this.#timer.unref();
    this.kick();
  }

  /** Looks for work soon (after a commit that recorded events, or when a request finished). */
  kick(): void {
    if (this.#closed || this.#tickTimer) return;
    const wait = this.#lastTick + BATCH_MS - performance.now();
    if (wait > 0) {
      this.#tickTimer = setTimeout(() => {
        this.#tickTimer = undefined;
        this.kick();
      }, wait);
      return;
    }
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#tick()
      .catch((err) => this.#log.warn({ err }, 'webhook dispatch failed; retrying'))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async #tick(): Promise<void> {
    // The write path comes first: with writes waiting for the database, look again a little later.
    if (this.#writesBackedUp() && performance.now() - this.#lastTick < YIELD_MAX_MS) {
      this.#tickTimer ??= setTimeout(() => {
        this.#tickTimer = undefined;
        this.kick();
      }, BATCH_MS);
      return;
    }
    const startedAt = (this.#lastTick = performance.now());
    const now = new Date();
    const at = now.toISOString();
    if (Date.now() - this.#lastPrune > PRUNE_EVERY_MS) {
      this.#lastPrune = Date.now();
      await this.#store.pruneWebhooks(new Date(Date.now() - WEBHOOK_POLICY.retentionMs).toISOString());
    }
    const cap = this.#settings.concurrencyPerEndpoint;
    const free = MAX_CLAIMED - this.#answeringHeld('rows');
    const depth = cap * CLAIM_DEPTH;
    // Endpoints with a claim's worth of deliveries waiting to be sent are not claimed for again
    // until they are, nor those that asked to be left alone for now.
    const skipEndpoints = [...this.#held].filter(([, h]) => h.fresh + h.rows >= depth).map(([endpointId]) => endpointId);
    for (const endpointId of this.#pausedUntil.keys()) if (this.#paused(endpointId)) skipEndpoints.push(endpointId);
    const claiming = free > 0 && !this.#closed;
    // A claim outlives the wait for a request slot and the attempt (one deadline covers the
    // request and its redirects); past it, a delivery whose node died is attempted again by
    // another node.
    const claimedUntil = now.getTime() + this.#settings.timeoutMs * (CLAIM_DEPTH + 1) + RECORD_MARGIN_MS;
    const leaseUntil = new Date(claimedUntil).toISOString();
    const outcomes = this.#outcomes.splice(0);
    const eventsDone = this.#eventsDone.splice(0);
    // One transaction records what was sent, claims a bounded number of outbox events and
    // claims due deliveries (on SQLite it shares the commit of the writes around it).
    const pass = await this.#store
      .webhookPass({
        at,
        outcomes,
        eventsDone,
        dispatch: { limit: DISPATCH_BATCH, giveUpAfterMs: this.#settings.retryWindowMs, leaseUntil },
        claim: claiming ? { leaseUntil, limits: { total: free, perEndpoint: depth }, skipEndpoints } : null,
      })
      .catch((err: unknown) => {
        // Recorded by the next pass (their claims hold until then); should they be what fails
        // (three passes in a row), they are dropped, and their deliveries sent again once the
        // claims expire, rather than stopping every delivery.
        if (++this.#failedPasses < 3) {
          this.#outcomes.unshift(...outcomes);
          this.#eventsDone.unshift(...eventsDone);
        } else {
          for (const { delivery } of outcomes) if (delivery.freshSince && this.#freshLeft.has(delivery.eventId)) this.#abandoned.add(delivery.eventId);
          if (outcomes.length) this.#log.warn({ err, deliveries: outcomes.length }, 'recording webhook attempts failed; they are retried once their claims expire');
        }
        throw err;
      });
    this.#failedPasses = 0;
    this.#reportDisabled(pass.disabledEndpoints);
    // A full pass asks for another.
    if (pass.dispatched === DISPATCH_BATCH || (free > 0 && pass.claimed.length === free)) this.#again = true;
    this.#take(pass.claimed, claimedUntil, startedAt, claiming ? { free, depth, skipEndpoints } : null);
  }

  /**
   * Hands what a pass claimed to the sending thread; fresh deliveries beyond what this node has room for
   * are written as pending rows (the next pass), claimed like retries when there is room: a slow
   * endpoint holds up no other. `claim`: what the pass's claim of rows was asked for, if it ran.
   */
  #take(claimed: ClaimedDelivery[], claimedUntil: number, startedAt: number, claim: { free: number; depth: number; skipEndpoints: string[] } | null): void {
    const rows = new Map<string, number>();
    for (const delivery of claimed) {
      if (delivery.freshSince) this.#freshLeft.set(delivery.eventId, (this.#freshLeft.get(delivery.eventId) ?? 0) + 1);
      else rows.set(delivery.endpointId, (rows.get(delivery.endpointId) ?? 0) + 1);
    }
    // A claim that was not cut short took every row left of an endpoint it gave fewer than its depth.
    if (claim && [...rows.values()].reduce((sum, n) => sum + n, 0) < claim.free) {
      // Not one with deliveries given back while the pass was under way: their rows were not written for it to take.
      const givenBack = new Set(this.#outcomes.filter((o) => !o.result).map((o) => o.delivery.endpointId));
      for (const endpointId of this.#behind) {
        if (!givenBack.has(endpointId) && !claim.skipEndpoints.includes(endpointId) && (rows.get(endpointId) ?? 0) < claim.depth) this.#behind.delete(endpointId);
      }
    }
    let answeringFresh = this.#answeringHeld('fresh');
    for (const delivery of claimed) {
      const held = this.#held.get(delivery.endpointId) ?? { fresh: 0, rows: 0 };
      const slow = this.#slow.has(delivery.endpointId);
      const full = slow
        ? held.fresh + held.rows >= this.#settings.concurrencyPerEndpoint * CLAIM_DEPTH
        : held.fresh + held.rows >= this.#settings.concurrencyPerEndpoint * FRESH_DEPTH || answeringFresh >= MAX_HELD;
      // The sending thread stopped the endpoint after this pass began: what it gave back is not in
      // the pass's claim, and goes first.
      const stoppedAt = this.#stopped.get(delivery.endpointId);
      if ((delivery.freshSince && (this.#behind.has(delivery.endpointId) || full)) || (stoppedAt !== undefined && stoppedAt >= startedAt) || this.#paused(delivery.endpointId)) {
        this.#giveBack(delivery);
        continue;
      }
      if (delivery.freshSince) held.fresh++;
      else held.rows++;
      this.#held.set(delivery.endpointId, held);
      if (delivery.freshSince && !slow) answeringFresh++;
      const attempt = this.#attempt(delivery, claimedUntil, this.#stopped.delete(delivery.endpointId));
      this.#settled.add(attempt);
      void attempt.finally(() => this.#settled.delete(attempt));
    }
  }

  /** Whether the endpoint's receiver asked to be left alone until later than now. */
  #paused(endpointId: string): boolean {
    const until = this.#pausedUntil.get(endpointId);
    if (until === undefined) return false;
    if (until > performance.now()) return true;
    this.#pausedUntil.delete(endpointId);
    return false;
  }

  /** Deliveries of one kind held by endpoints not known to be slow. */
  #answeringHeld(kind: 'fresh' | 'rows'): number {
    let n = 0;
    for (const [endpointId, held] of this.#held) if (!this.#slow.has(endpointId)) n += held[kind];
    return n;
  }

  /** Keeps what became of a claimed delivery for the next pass to record; an event is done once all its fresh deliveries are. */
  #settle(delivery: ClaimedDelivery, result: WebhookAttemptResult | null): void {
    this.#outcomes.push({ delivery, result });
    if (!delivery.freshSince) return;
    const left = (this.#freshLeft.get(delivery.eventId) ?? 1) - 1;
    if (left > 0) {
      this.#freshLeft.set(delivery.eventId, left);
      return;
    }
    this.#freshLeft.delete(delivery.eventId);
    if (!this.#abandoned.delete(delivery.eventId)) this.#eventsDone.push(delivery.eventId);
  }

  /**
   * A delivery not attempted: a fresh one becomes a pending row, a claimed row is let go (both by
   * the next pass); the endpoint's next fresh ones follow them.
   */
  #giveBack(delivery: ClaimedDelivery): void {
    this.#behind.add(delivery.endpointId);
    this.#settle(delivery, null);
  }

  #writesBackedUp(): boolean {
    return this.#store.pendingWrites() > WRITES_BACKED_UP;
  }

  /** `resume`: the sending thread stopped the endpoint (see #stopped), and it may go on now. */
  async #attempt(d: ClaimedDelivery, claimedUntil: number, resume: boolean): Promise<void> {
    try {
      const result = await this.#sender.send({
        endpointId: d.endpointId,
        concurrency: this.#settings.concurrencyPerEndpoint,
        // Not enough of the claim left for a whole attempt: let go, for another pass to claim it again.
        startBy: claimedUntil - this.#settings.timeoutMs - RECORD_MARGIN_MS,
        resume,
        url: d.url,
        payload: d.payload,
        eventId: d.eventId,
        secrets: d.previousSecret ? [d.secret, d.previousSecret] : [d.secret],
        timeoutMs: this.#settings.timeoutMs,
        allowPrivate: this.#settings.allowPrivate,
      });
      if (result.notSent || (this.#closed && !result.ok && this.#aborted)) {
        // Shutting down, the claim running short, or the sending thread stopped: not an attempt;
        // another node, or this one again, sends it once the claim is let go.
        if (result.expired || result.paused) this.#stopped.set(d.endpointId, performance.now());
        if (result.expired) this.#slow.add(d.endpointId);
        this.#giveBack(d);
        return;
      }
      if (result.slow) this.#slow.add(d.endpointId);
      else this.#slow.delete(d.endpointId);
      const now = Date.now();
      if (!result.ok && result.retryAfterMs) {
        // The sending thread stopped the endpoint on this answer (see SendJob.startBy), as long.
        const at = performance.now();
        this.#stopped.set(d.endpointId, at);
        this.#pausedUntil.set(d.endpointId, Math.max(at + pauseMs(result.retryAfterMs), this.#pausedUntil.get(d.endpointId) ?? 0));
      }
      const retryAt = now + retryDelayMs(d.attempts + 1, this.#settings, Math.random, result.retryAfterMs);
      const nextAttemptAt = result.ok || retryAt > Date.parse(d.giveUpAt) ? null : new Date(retryAt).toISOString();
      // Recorded by the next pass (the claim holds until then).
      this.#settle(d, {
        at: new Date(now).toISOString(),
        succeeded: result.ok,
        statusCode: result.statusCode,
        error: result.error,
        latencyMs: result.latencyMs,
        response: result.response,
        nextAttemptAt,
        disableIfFailingSince: new Date(now - this.#settings.disableAfterFailingMs).toISOString(),
        outageIfFailingSince: new Date(now - this.#settings.outageMs).toISOString(),
        // Standard Webhooks: 410 Gone means the receiver wants no more deliveries.
        ...(result.statusCode === 410 ? { disableNow: 'the receiver answered 410 Gone (it asks for no more deliveries)' } : {}),
      });
    } catch (err) {
      this.#log.warn({ err, deliveryId: d.id }, 'a webhook attempt failed unexpectedly; it is retried');
      // A fresh one is written as pending (due again at once); a claimed row once its claim expires.
      if (d.freshSince) this.#giveBack(d);
    } finally {
      const held = this.#held.get(d.endpointId);
      if (held) {
        if (d.freshSince) held.fresh--;
        else held.rows--;
        if (held.fresh + held.rows === 0) this.#held.delete(d.endpointId);
      }
      this.kick();
    }
  }

  #reportDisabled(endpoints: DisabledEndpoint[]): void {
    for (const endpoint of endpoints) {
      this.#log.warn({ endpointId: endpoint.id, environmentId: endpoint.environmentId }, `webhook endpoint disabled: ${endpoint.reason}`);
      void this.#auditDisabled(endpoint);
    }
    if (endpoints.length > 0) this.onDisabled(endpoints);
  }

  /** The audit log says when Pulse disabled an endpoint, and why (as the panel does). */
  async #auditDisabled(endpoint: DisabledEndpoint): Promise<void> {
    try {
      await audit(this.#store, { system: true }, endpoint.environmentId, 'webhook.disabled', `${endpoint.id} → ${clip(endpoint.url)}: ${endpoint.reason}`);
    } catch (err) {
      this.#log.warn({ err, endpointId: endpoint.id }, 'could not record the disabled webhook endpoint in the audit log');
    }
  }

  /**
   * Stops claiming and lets go of the claims not started yet. Requests already sent may finish
   * (within their timeout): cut, a delivery the receiver was about to accept would be sent again
   * by the next node, a duplicate on every deploy. Past `graceMs` they are aborted (and their
   * claims let go). Then the outcomes are written.
   */
  async close(graceMs = Math.min(this.#settings.timeoutMs, CLOSE_GRACE_MS)): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#tickTimer);
    await this.#running;
    // The attempts not started yet come back as not sent, and their claims are let go.
    this.#sender.drop();
    const cut = setTimeout(() => {
      this.#aborted = true;
      this.#sender.abort();
    }, graceMs);
    // A sending thread that does not answer the abort (starved of CPU, wedged) is stopped.
    const stop = setTimeout(() => void this.#sender.close(), graceMs + ABORT_WAIT_MS);
    await Promise.allSettled(this.#settled);
    clearTimeout(cut);
    clearTimeout(stop);
    await this.#sender.close();
    const outcomes = this.#outcomes.splice(0);
    const eventsDone = this.#eventsDone.splice(0);
    if (outcomes.length === 0 && eventsDone.length === 0) return;
    try {
      this.#reportDisabled((await this.#store.webhookPass({ at: new Date().toISOString(), outcomes, eventsDone, dispatch: null, claim: null })).disabledEndpoints);
    } catch (err) {
      this.#log.warn({ err, deliveries: outcomes.length }, 'recording webhook attempts failed; they are retried once their claims expire');
    }
  }
}
