import { WEBHOOK_POLICY } from '@pulse/protocol';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Dialect } from '../migrations.ts';
import type { Database } from '../schema.ts';
import type { ClaimedDelivery, DisabledEndpoint, WebhookAttemptResult, WebhookOutcome, WebhookPass, WebhookRepo } from '../webhook-types.ts';
import { limitedStatement, statement, type DeliveryAttempt, type DirectStatements, type HotStatements, type NewDelivery } from './hot-statements.ts';
import type { WriteTx } from './writer.ts';

type Trx = Transaction<Database>;

/**
 * The condition of the partial indexes on pending deliveries (migration 0018), as a literal: a
 * planner uses a partial index only when the query states its condition, and a bound parameter
 * may not count. (The statements below write theirs, and `dispatched = 0`, in their text.)
 */
export const PENDING = sql.lit<Database['webhook_deliveries']['status']>('pending');

/** An endpoint's event filter (a list of types; empty: every type) lets `type` through. */
export const wants = (types: string[], type: string) => types.length === 0 || types.includes(type);

/** The id the recovery's insert (newDeliveries in webhooks.ts) gives the delivery of event `msg_…` to endpoint `wh_…`. */
const deliveryIdOf = (eventId: string, endpointId: string) => `whd_${eventId.slice(4)}${endpointId.slice(3)}`;

const addMs = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** The secret an endpoint had before its last rotation, while it still signs. */
const signingPrevious = (e: { previous_secret: string | null; previous_secret_until: string | null }, at: string) =>
  e.previous_secret && e.previous_secret_until && e.previous_secret_until > at ? e.previous_secret : null;

/** "2026-12-05 09:14 UTC": a time in a sentence people read (the reason is stored as text). */
const utcMinute = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : 'an unknown time');

/**
 * The statements of a dispatcher's pass, written out once: under load a node makes a pass every
 * few tens of milliseconds, and building its dozen Kysely queries each time cost more of the
 * server's thread than running them. A list of ids is one parameter (a JSON array on SQLite, an
 * array on PostgreSQL), so that each text is fixed, and prepared once.
 */
function passStatements(dialect: Dialect, direct: DirectStatements | undefined) {
  const pg = dialect === 'postgres';
  // On PostgreSQL `column = any(array)`: an index condition, where `in (select unnest(…))` is a
  // join whose size the planner guesses.
  const inList = (column: string) => (pg ? `${column} = any(?::text[])` : `${column} in (select value from json_each(?))`);
  // On PostgreSQL, rows another node is claiming are skipped.
  const skipLocked = pg ? ' for update skip locked' : '';
  const s = (text: string) => statement(dialect, direct, text);
  const limited = (text: (limit: number) => string) => limitedStatement(dialect, direct, text);
  const attemptSet = `update webhook_deliveries set attempts = attempts + 1, status = ?, next_attempt_at = ?, claimed_until = null,
      last_status_code = ?, last_error = ?, last_latency_ms = ?, last_response = ?, updated_at = ?`;
  return {
    list: (ids: string[]): unknown => (pg ? ids : JSON.stringify(ids)),
    liveEndpoints: s(`select id from webhook_endpoints where ${inList('id')}`),
    // Only while this node's claim holds (see ClaimedDelivery.leaseUntil).
    recordAttempt: s(`${attemptSet} where id = ? and claimed_until = ? returning endpoint_id`),
    // A fresh delivery's row made meanwhile: held by this node's claim, or by none, and never over a success.
    lateAttempt: s(`${attemptSet} where id = ? and (claimed_until = ? or claimed_until is null) and status <> 'succeeded' returning endpoint_id`),
    letGo: s(`update webhook_deliveries set claimed_until = null where claimed_until = ? and ${inList('id')}`),
    // Locked on PostgreSQL, but not against the key-share locks of delivery rows being written for the endpoint.
    failingSince: s(`select failing_since from webhook_endpoints where id = ?${pg ? ' for no key update' : ''}`),
    working: s('update webhook_endpoints set failing_since = null where id = ?'),
    failing: s('update webhook_endpoints set failing_since = coalesce(failing_since, ?) where id = ? returning failing_since, enabled, environment_id, url'),
    dispatched: s(`update webhook_events set dispatched = 1, claimed_until = null where ${inList('id')}`),
    undispatched: limited(
      (limit) => `select id, environment_id, type, payload, created_at from webhook_events
        where dispatched = 0 and (claimed_until is null or claimed_until < ?) order by created_at limit ${limit}${skipLocked}`,
    ),
    endpointsIn: s(`select id, environment_id, url, events, secret, previous_secret, previous_secret_until from webhook_endpoints
      where enabled = 1 and ${inList('environment_id')}`),
    deliveriesOf: s(`select event_id, endpoint_id from webhook_deliveries where ${inList('event_id')}`),
    holdEvents: s(`update webhook_events set claimed_until = ? where ${inList('id')}`),
    // Enabled endpoints with pending deliveries: one index seek per endpoint ("loose index scan").
    pendingEndpoints: s(`with recursive p(endpoint_id) as (
        select min(endpoint_id) from webhook_deliveries where status = 'pending'
        union all
        select (select min(d.endpoint_id) from webhook_deliveries d where d.status = 'pending' and d.endpoint_id > p.endpoint_id)
        from p where p.endpoint_id is not null
      )
      select p.endpoint_id from p join webhook_endpoints e on e.id = p.endpoint_id where e.enabled = 1`),
    due: limited(
      (limit) => `select id, next_attempt_at from webhook_deliveries
        where status = 'pending' and endpoint_id = ? and next_attempt_at <= ? and (claimed_until is null or claimed_until < ?)
        order by next_attempt_at, id limit ${limit}${skipLocked}`,
    ),
    holdDeliveries: s(`update webhook_deliveries set claimed_until = ? where ${inList('id')}`),
    // In the order claimed: the dispatcher sends an endpoint's in this order.
    claimedRows: s(`select d.id, d.environment_id, d.endpoint_id, d.event_id, d.event_type, d.attempts, d.give_up_at,
        e.url, e.secret, e.previous_secret, e.previous_secret_until, v.payload, v.created_at as event_created_at
      from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id join webhook_events v on v.id = d.event_id
      where ${inList('d.id')} order by d.next_attempt_at, d.id`),
  };
}
type PassStatements = ReturnType<typeof passStatements>;

/**
 * Claims up to `limit` outbox events until `leaseUntil`, oldest first (on PostgreSQL skipping
 * those another node is claiming), and returns their deliveries to the enabled endpoints
 * subscribed that have none of the event yet, fresh: sent from memory, their rows written once,
 * with the outcome. An event with none to make is dispatched at once. A node that dies holding an
 * event lets its claim lapse; the next claim makes only the deliveries still missing.
 */
async function claimEvents(
  q: PassStatements,
  trx: Trx,
  at: string,
  { limit, giveUpAfterMs, leaseUntil }: { limit: number; giveUpAfterMs: number; leaseUntil: string },
): Promise<{ count: number; fresh: ClaimedDelivery[] }> {
  type EventRow = { id: string; environment_id: string; type: string; payload: string; created_at: string };
  type EndpointRow = { id: string; environment_id: string; url: string; events: string; secret: string; previous_secret: string | null; previous_secret_until: string | null };
  const { rows: events } = await q.undispatched(limit)<EventRow>(trx, [at]);
  if (events.length === 0) return { count: 0, fresh: [] };
  const ids = q.list(events.map((e) => e.id));
  const { rows: endpointRows } = await q.endpointsIn<EndpointRow>(trx, [q.list([...new Set(events.map((e) => e.environment_id))])]);
  const endpoints = endpointRows.map((p) => ({ ...p, types: JSON.parse(p.events) as string[] }));
  const made = new Set((await q.deliveriesOf<{ event_id: string; endpoint_id: string }>(trx, [ids])).rows.map((d) => `${d.event_id} ${d.endpoint_id}`));
  const giveUpAt = addMs(at, giveUpAfterMs);
  const fresh: ClaimedDelivery[] = [];
  const held: string[] = [];
  const done: string[] = [];
  for (const e of events) {
    const before = fresh.length;
    for (const p of endpoints) {
      if (p.environment_id !== e.environment_id || !wants(p.types, e.type) || made.has(`${e.id} ${p.id}`)) continue;
      fresh.push({
        id: deliveryIdOf(e.id, p.id),
        environmentId: e.environment_id,
        endpointId: p.id,
        eventId: e.id,
        eventType: e.type,
        attempts: 0,
        giveUpAt,
        url: p.url,
        secret: p.secret,
        previousSecret: signingPrevious(p, at),
        payload: e.payload,
        eventCreatedAt: e.created_at,
        leaseUntil,
        freshSince: at,
      });
    }
    (fresh.length > before ? held : done).push(e.id);
  }
  if (held.length) await q.holdEvents(trx, [leaseUntil, q.list(held)]);
  if (done.length) await q.dispatched(trx, [q.list(done)]);
  return { count: events.length, fresh };
}

/** Claims due deliveries (not of `skipEndpoints`) until `leaseUntil`, oldest first, at most `perEndpoint` of one endpoint. */
async function claimDue(
  q: PassStatements,
  trx: Trx,
  at: string,
  { leaseUntil, limits, skipEndpoints }: NonNullable<WebhookPass['claim']>,
): Promise<ClaimedDelivery[]> {
  const { rows: endpoints } = await q.pendingEndpoints<{ endpoint_id: string }>(trx, []);
  const skip = new Set(skipEndpoints);
  // Each endpoint's oldest due deliveries, a few each, so one endpoint's backlog does not crowd out the others.
  const due: { id: string; next_attempt_at: string | null }[] = [];
  for (const { endpoint_id } of endpoints) {
    if (!skip.has(endpoint_id)) due.push(...(await q.due(limits.perEndpoint)<{ id: string; next_attempt_at: string | null }>(trx, [endpoint_id, at, at])).rows);
  }
  // Oldest due first, as each endpoint's were read (due times are ISO texts of one length).
  const key = (d: { next_attempt_at: string | null; id: string }) => `${d.next_attempt_at} ${d.id}`;
  const ids = due
    .sort((a, b) => (key(a) < key(b) ? -1 : 1))
    .slice(0, limits.total)
    .map((d) => d.id);
  if (ids.length === 0) return [];
  await q.holdDeliveries(trx, [leaseUntil, q.list(ids)]);
  type Row = {
    id: string;
    environment_id: string;
    endpoint_id: string;
    event_id: string;
    event_type: string;
    attempts: number;
    give_up_at: string;
    url: string;
    secret: string;
    previous_secret: string | null;
    previous_secret_until: string | null;
    payload: string;
    event_created_at: string;
  };
  const { rows } = await q.claimedRows<Row>(trx, [q.list(ids)]);
  return rows.map((r) => ({
    id: r.id,
    environmentId: r.environment_id,
    endpointId: r.endpoint_id,
    eventId: r.event_id,
    eventType: r.event_type,
    attempts: Number(r.attempts),
    giveUpAt: r.give_up_at,
    url: r.url,
    secret: r.secret,
    previousSecret: signingPrevious(r, at),
    payload: r.payload,
    eventCreatedAt: r.event_created_at,
    leaseUntil,
  }));
}

/**
 * The endpoint works again after an outage (or was enabled again): the soonest of its deliveries
 * waiting for a later retry are due now, rather than hours later on the backoff schedule; claims
 * take them a few at a time. Bounded, so that one statement never walks a day's backlog.
 */
export async function retryNow(trx: Trx, endpointId: string, at: string): Promise<void> {
  const waiting = trx
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('status', '=', PENDING)
    .where('endpoint_id', '=', endpointId)
    .where('next_attempt_at', '>', at)
    .orderBy('next_attempt_at')
    .limit(WEBHOOK_POLICY.retryNowBatch);
  await trx
    .updateTable('webhook_deliveries')
    .set({ next_attempt_at: at })
    .where('id', 'in', waiting)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at)]))
    .execute();
}

/** A delivery's row after an attempt: succeeded, pending until its retry, or failed (out of time). */
const attemptOf = (result: WebhookAttemptResult): DeliveryAttempt => ({
  at: result.at,
  status: result.succeeded ? 'succeeded' : result.nextAttemptAt ? 'pending' : 'failed',
  nextAttemptAt: result.succeeded ? null : result.nextAttemptAt,
  statusCode: result.statusCode,
  error: result.error,
  latencyMs: Math.round(result.latencyMs),
  response: result.response,
});

/** The parameters of recordAttempt and lateAttempt. */
const attemptParams = (a: DeliveryAttempt, id: string, lease: string) => [a.status, a.nextAttemptAt, a.statusCode, a.error, a.latencyMs, a.response, a.at, id, lease];

/** `items` cut, in order, into runs in which no key comes twice. */
function distinctRuns<T>(items: T[], key: (item: T) => string): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let keys = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (keys.has(k)) {
      runs.push(run);
      run = [];
      keys = new Set();
    }
    run.push(item);
    keys.add(k);
  }
  if (run.length) runs.push(run);
  return runs;
}

/** A fresh delivery's row as first written: made when its event was claimed. */
const newDelivery = (d: ClaimedDelivery): NewDelivery => ({
  id: d.id,
  environmentId: d.environmentId,
  endpointId: d.endpointId,
  eventId: d.eventId,
  eventType: d.eventType,
  giveUpAt: d.giveUpAt,
  createdAt: d.freshSince!,
});

/** Ids by the lease they were claimed under, for letGo. */
function byLease(deliveries: ClaimedDelivery[]): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  for (const d of deliveries) {
    const list = ids.get(d.leaseUntil);
    if (list) list.push(d.id);
    else ids.set(d.leaseUntil, [d.id]);
  }
  return ids;
}

/**
 * Records outcomes: a claimed row's attempt updates it (letting go of its claim), a claimed row
 * not attempted is let go; a fresh delivery's row is written now, with its attempt, or pending
 * and due at once when it had none. An outcome counts only while its claim holds: once that
 * lapsed (this node held up past it), the delivery may be another node's, whose attempt decides.
 * A fresh delivery's row may exist already: made by a recovery while this node held the event
 * (held by this node's claim), or by another node once this node's claim lapsed. One that another
 * node holds is left alone, even when it appears while this pass runs (the insert then finds it);
 * one no node holds takes the late attempt, but never over a success. Two outcomes of one delivery
 * are recorded in the order given, and an endpoint's last outcome recorded decides its health.
 * Returns the endpoints the attempts disabled, and why.
 */
async function recordOutcomes(q: PassStatements, hot: HotStatements, trx: Trx, at: string, outcomes: WebhookOutcome[]): Promise<DisabledEndpoint[]> {
  type Tried = { outcome: WebhookOutcome; delivery: ClaimedDelivery; attempt: DeliveryAttempt };
  const tried: Tried[] = [];
  const claimedBack: ClaimedDelivery[] = [];
  const freshBack: ClaimedDelivery[] = [];
  for (const outcome of outcomes) {
    const { delivery, result } = outcome;
    if (result) tried.push({ outcome, delivery, attempt: attemptOf(result) });
    else (delivery.freshSince ? freshBack : claimedBack).push(delivery);
  }
  // Claimed rows given back are let go first: a fresh delivery's row this pass lets go of is free for its outcome.
  for (const [lease, ids] of byLease(claimedBack)) await q.letGo(trx, [lease, q.list(ids)]);
  // A fresh delivery to an endpoint deleted meanwhile has nowhere to go.
  const freshTo = [...new Set([...tried.map((t) => t.delivery), ...freshBack].filter((d) => d.freshSince).map((d) => d.endpointId))];
  const live = new Set(freshTo.length ? (await q.liveEndpoints<{ id: string }>(trx, [q.list(freshTo)])).rows.map((p) => p.id) : []);
  const inIdOrder = <T extends { id: string }>(items: T[]) => items.sort((a, b) => (a.id < b.id ? -1 : 1));
  const recorded = new Set<WebhookOutcome>();
  // Attempts in the order given, a run at a time: two outcomes of one delivery (a fresh one, and
  // the row's once this node claimed it again after its lease lapsed) land in turn. A fresh
  // delivery's rows in one statement, in id order: two nodes' inserts of the same rows wait for
  // each other in one order.
  for (const run of distinctRuns(tried.filter((t) => !t.delivery.freshSince || live.has(t.delivery.endpointId)), (t) => t.delivery.id)) {
    const fresh: (Tried & { id: string })[] = [];
    for (const t of run) {
      if (t.delivery.freshSince) fresh.push({ ...t, id: t.delivery.id });
      else if ((await q.recordAttempt(trx, attemptParams(t.attempt, t.delivery.id, t.delivery.leaseUntil))).rows.length) recorded.add(t.outcome);
    }
    if (fresh.length === 0) continue;
    const inserted = await hot.insertAttemptedDeliveries(trx, inIdOrder(fresh).map((t) => ({ delivery: newDelivery(t.delivery), attempt: t.attempt })));
    for (const t of fresh) {
      if (inserted.has(t.id) || (await q.lateAttempt(trx, attemptParams(t.attempt, t.id, t.delivery.leaseUntil))).rows.length) recorded.add(t.outcome);
    }
  }
  for (const run of distinctRuns(freshBack.filter((d) => live.has(d.endpointId)), (d) => d.id).map(inIdOrder)) {
    const inserted = await hot.insertPendingDeliveries(trx, run.map(newDelivery), at);
    // A row made meanwhile under this node's claim waited for this attempt: it is let go.
    for (const [lease, ids] of byLease(run.filter((d) => !inserted.has(d.id)))) await q.letGo(trx, [lease, q.list(ids)]);
  }
  const last = new Map<string, WebhookAttemptResult>();
  for (const o of outcomes) if (o.result && recorded.has(o)) last.set(o.delivery.endpointId, o.result);
  const disabledEndpoints: DisabledEndpoint[] = [];
  // Endpoint rows in one order on every node (two nodes recording failures of the same endpoints
  // in opposite orders would deadlock on PostgreSQL).
  for (const [endpointId, result] of [...last].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (result.succeeded) {
      const failingSince = (await q.failingSince<{ failing_since: string | null }>(trx, [endpointId])).rows[0]?.failing_since;
      if (!failingSince) continue;
      await q.working(trx, [endpointId]);
      // Failing for a while, then a 2xx: the receiver is back. A shorter spell (one bad event among
      // good ones) keeps the backoff of what failed.
      if (failingSince <= result.outageIfFailingSince) await retryNow(trx, endpointId, result.at);
      continue;
    }
    type Failing = { failing_since: string | null; enabled: number; environment_id: string; url: string };
    const e = (await q.failing<Failing>(trx, [result.at, endpointId])).rows[0];
    if (!e || Number(e.enabled) !== 1 || !e.failing_since) continue;
    if (!result.disableNow && e.failing_since >= result.disableIfFailingSince) continue;
    const lastError = result.statusCode ? `HTTP ${result.statusCode}` : (result.error ?? 'no answer');
    const reason = `Disabled by Pulse on ${utcMinute(result.at)}: ${result.disableNow ?? `every delivery has failed since ${utcMinute(e.failing_since)} (last: ${lastError})`}. Enable it again once the receiver works; pending deliveries then resume.`;
    await trx.updateTable('webhook_endpoints').set({ enabled: 0, updated_at: result.at, disabled_reason: reason }).where('id', '=', endpointId).execute();
    disabledEndpoints.push({ id: endpointId, environmentId: e.environment_id, url: e.url, reason });
  }
  return disabledEndpoints;
}

/** The store's `webhookPass` (see WebhookRepo). */
export function webhookPass(db: Kysely<Database>, dialect: Dialect, tx: WriteTx, hot: HotStatements, direct: DirectStatements | undefined): WebhookRepo['webhookPass'] {
  const q = passStatements(dialect, direct);
  return ({ at, outcomes, eventsDone, dispatch, claim }) => {
    const pass = async (trx: Trx) => {
      const disabledEndpoints = outcomes.length ? await recordOutcomes(q, hot, trx, at, outcomes) : [];
      if (eventsDone.length) await q.dispatched(trx, [q.list(eventsDone)]);
      const events = dispatch ? await claimEvents(q, trx, at, dispatch) : { count: 0, fresh: [] };
      const claimed = claim ? await claimDue(q, trx, at, claim) : [];
      return { disabledEndpoints, dispatched: events.count, claimed: [...claimed, ...events.fresh] };
    };
    // SQLite has one writer: the pass is one write operation among the others (see BatchWriter)
    // and shares their commit. On PostgreSQL it is a transaction of its own on another pooled
    // connection: in the writer, its round trips would hold up the writes.
    return dialect === 'sqlite' ? tx(pass) : db.transaction().execute(pass);
  };
}
