import { isWebhookEventType, WEBHOOK_TEST_EVENT, type Comment, type WebhookDeliveryInfo, type WebhookEventType } from '@pulse/protocol';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { newWebhookDeliveryId, newWebhookEventId } from '../../ids.ts';
import type { Dialect } from '../migrations.ts';
import type { Database } from '../schema.ts';
import type { SharedStateRecord } from '../types.ts';
import { notificationEventFields, type WebhookEndpointRecord, type WebhookIntent, type WebhookRepo } from '../webhook-types.ts';
import type { FileLinks } from '../../files/links.ts';
import { groupAttachments } from './attachments.ts';
import { contentRepo } from './content.ts';
import type { DirectStatements, HotStatements } from './hot-statements.ts';
import { PENDING, retryNow, wants, webhookPass } from './webhook-pass.ts';
import { storedNotifications } from './realtime.ts';
import { CHUNK_ROWS, inChunks } from './in-chunks.ts';
import type { WriteTx } from './writer.ts';

type Db = Kysely<Database> | Transaction<Database>;
type EndpointRow = Selectable<Database['webhook_endpoints']>;
type DeliveryRow = Selectable<Database['webhook_deliveries']>;

/** `whsec_` and 6 characters: 36 bits of a secret's 192 or more, enough to tell two apart, far too few to guess the rest. */
const SECRET_PREFIX_CHARS = 12;

const toEndpoint = (r: EndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  environmentId: r.environment_id,
  url: r.url,
  description: r.description,
  events: (JSON.parse(r.events) as string[]).filter(isWebhookEventType),
  enabled: Number(r.enabled) === 1,
  disabledReason: r.disabled_reason,
  failingSince: r.failing_since,
  secretPrefix: r.secret.slice(0, SECRET_PREFIX_CHARS),
  previousSecretExpiresAt: r.previous_secret ? r.previous_secret_until : null,
  secret: r.secret,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * `webhook_events.dispatched` of an event made for one endpoint (a test or an example event, queued
 * with its delivery): never recovered to another (1: dispatched to the endpoints subscribed).
 */
const FOR_ONE_ENDPOINT = 2;

/** A delivery, with its event's `dispatched` (see FOR_ONE_ENDPOINT): an example is an event of a real type made for one endpoint. */
const toDelivery = (r: DeliveryRow & { dispatched: number }): WebhookDeliveryInfo => ({
  id: r.id,
  endpointId: r.endpoint_id,
  eventId: r.event_id,
  eventType: r.event_type,
  example: Number(r.dispatched) === FOR_ONE_ENDPOINT && r.event_type !== WEBHOOK_TEST_EVENT,
  status: r.status,
  attempts: Number(r.attempts),
  nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
  lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
  lastError: r.last_error,
  lastLatencyMs: r.last_latency_ms === null ? null : Number(r.last_latency_ms),
  lastResponse: r.last_response,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const subscribes = (events: string, type: string) => wants(JSON.parse(events) as string[], type);

const noWrites: WriteTx = () => Promise.reject(new Error('webhook payloads only read'));

/**
 * A comment as the REST API returns it (content.ts builds the same shape), read with three plain
 * statements: the comment events are the frequent ones, and building Kysely queries for them cost
 * more than the comment's own write.
 */
async function readComment(trx: Db, envId: string, id: string, links: FileLinks): Promise<Comment | undefined> {
  const { rows } = await sql<Selectable<Database['comments']>>`select * from comments where environment_id = ${envId} and id = ${id}`.execute(trx);
  const r = rows[0];
  if (!r) return undefined;
  const [reactions, attachments] = await Promise.all([
    sql<Selectable<Database['reactions']>>`select * from reactions where environment_id = ${envId} and comment_id = ${id} order by created_at, id`.execute(trx),
    sql<Selectable<Database['attachments']>>`select * from attachments where environment_id = ${envId} and comment_id = ${id} order by position`.execute(trx),
  ]);
  return {
    id: r.id,
    threadId: r.thread_id,
    userId: r.user_id,
    body: r.body,
    mentions: JSON.parse(r.mentions),
    createdAt: r.created_at,
    editedAt: r.edited_at,
    reactions: reactions.rows.map((x) => ({ id: x.id, targetId: x.comment_id, targetType: 'comment' as const, userId: x.user_id, emoji: x.emoji, createdAt: x.created_at })),
    attachments: groupAttachments(envId, attachments.rows, links).get(id) ?? [],
  };
}

/** An object a change wrote and already holds as the REST API returns it: its events need not read it back. */
export type WrittenObject = { kind: NonNullable<WebhookIntent['subject']>['kind']; id: string; object: unknown };

/**
 * Writes a change's webhook events to the outbox, inside the change's transaction: the object
 * each describes is read here, after the change (or taken from `written`), so it is exactly what
 * the REST API returns.
 */
export async function recordWebhookEvents(hot: HotStatements, trx: Db, envId: string, intents: WebhookIntent[], written?: WrittenObject): Promise<void> {
  for (const intent of intents) {
    const data: Record<string, unknown> = { environmentId: envId, roomId: intent.roomId ?? null, actor: intent.actor, ...intent.data };
    const reader = () => contentRepo(trx as Kysely<Database>, intent.links, noWrites, hot);
    // The deleted comment may have been its thread's last: the thread went with it.
    if (intent.type === 'comment.deleted') data.threadDeleted = !(await reader().getThread(envId, String(data.threadId)));
    if (intent.type === 'notification.created') data.notification = { ...(data.notification as object), roomId: intent.roomId };
    // A reaction's comment is still there (removing a reaction leaves it): its thread, for receivers to file the event under.
    if ((intent.type === 'reaction.added' || intent.type === 'reaction.removed') && data.threadId === undefined) {
      const { rows } = await sql<{ thread_id: string }>`select thread_id from comments where environment_id = ${envId} and id = ${String(data.commentId)}`.execute(trx);
      if (rows[0]) data.threadId = rows[0].thread_id;
    }
    if (intent.subject) {
      const { kind, id } = intent.subject;
      const object =
        written && written.kind === kind && written.id === id
          ? written.object
          : kind === 'comment'
          ? await readComment(trx, envId, id, intent.links)
          : kind === 'threadWithComments'
            ? await reader().getThreadWithComments(envId, id)
            : kind === 'thread'
              ? await reader().getThread(envId, id)
              : await reader().getReaction(envId, id);
      if (!object) continue;
      data[kind === 'threadWithComments' ? 'thread' : kind] = object;
    }
    const payload = JSON.stringify({ type: intent.type, timestamp: intent.occurredAt, data });
    await hot.insertWebhookEvent(trx, { id: intent.id, environmentId: envId, type: intent.type, payload, createdAt: intent.occurredAt });
  }
}

/**
 * An event with no user behind it (`room.created`, `p2p.state.persisted`), written in the
 * transaction of the change it describes, only when an endpoint of the environment (enabled or
 * not: see WebhookPublisher) wants it.
 */
async function recordSystemEvent(db: Db, envId: string, type: WebhookEventType, roomId: string, at: string, fields: Record<string, unknown>): Promise<void> {
  const endpoints = await db
    .selectFrom('webhook_endpoints')
    .select('events')
    .where('environment_id', '=', envId)
    .execute();
  if (!endpoints.some((e) => subscribes(e.events, type))) return;
  const data = { environmentId: envId, roomId, actor: { type: 'system' }, ...fields };
  await db
    .insertInto('webhook_events')
    .values({ id: newWebhookEventId(), environment_id: envId, type, payload: JSON.stringify({ type, timestamp: at, data }), created_at: at })
    .execute();
}

/** `room.created`, written where a room row is inserted. */
export const recordRoomCreated = (db: Db, envId: string, roomId: string, at: string): Promise<void> =>
  recordSystemEvent(db, envId, 'room.created', roomId, at, { room: { id: roomId, environmentId: envId, metadata: null, createdAt: at } });

/** `p2p.state.persisted`, written with the room's new shared state (its metadata; the objects are one GET away). */
export const recordSharedStatePersisted = (db: Db, envId: string, state: Omit<SharedStateRecord, 'state'>): Promise<void> =>
  recordSystemEvent(db, envId, 'p2p.state.persisted', state.roomId, state.updatedAt, { sharedState: state });

/** The condition of the partial index on undispatched events (migration 0018), as a literal (see PENDING). */
const UNDISPATCHED = sql.lit<number>(0);

/**
 * Deliveries of events (`e`) to endpoints (`p`) of the same environment, to be narrowed by a
 * `where`. A delivery's id is derived from its event and endpoint (as `deliveryIdOf` in
 * webhook-pass.ts does), so making it twice is a no-op. The delivery of an event a node holds (it
 * may be sending it fresh to that endpoint right now) is claimed until the node's claim ends: its
 * attempt lands on the row.
 */
const newDeliveries = (at: string, giveUpAt: string) => sql`insert into webhook_deliveries
    (id, environment_id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, give_up_at, claimed_until, created_at, updated_at)
  select 'whd_' || substr(e.id, 5) || substr(p.id, 4), e.environment_id, p.id, e.id, e.type, 'pending', 0, ${at}, ${giveUpAt},
    case when e.dispatched = 0 and e.claimed_until >= ${at} then e.claimed_until end, ${at}, ${at}
  from webhook_events e join webhook_endpoints p on p.environment_id = e.environment_id`;

/** The endpoint `p` wants events of the type in column `type` (its events are a JSON list; empty: every type). */
const subscribedTo = (type: string) => sql<boolean>`(p.events = '[]' or p.events like '%"' || ${sql.ref(type)} || '"%')`;
const subscribed = subscribedTo('e.type');

export function webhookRepo(db: Kysely<Database>, dialect: Dialect, tx: WriteTx, hot: HotStatements, direct: DirectStatements | undefined): WebhookRepo {
  /** An endpoint's deliveries, with their events' `dispatched`. */
  const deliveries = (envId: string, endpointId: string) =>
    db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
      .selectAll('d')
      .select('e.dispatched')
      .where('d.environment_id', '=', envId)
      .where('d.endpoint_id', '=', endpointId);
  const endpoint = (envId: string, id: string) =>
    db.selectFrom('webhook_endpoints').selectAll().where('environment_id', '=', envId).where('id', '=', id).executeTakeFirst();

  const repo: WebhookRepo = {
    async createWebhookEndpoint(envId, e) {
      const row = {
        id: e.id,
        environment_id: envId,
        url: e.url,
        description: e.description,
        events: JSON.stringify(e.events),
        enabled: e.enabled ? 1 : 0,
        secret: e.secret,
        previous_secret: null,
        previous_secret_until: null,
        disabled_reason: null,
        failing_since: null,
        created_at: e.createdAt,
        updated_at: e.createdAt,
      };
      await db.insertInto('webhook_endpoints').values(row).execute();
      return toEndpoint(row);
    },

    async listWebhookEndpoints(envId) {
      const rows = await db.selectFrom('webhook_endpoints').selectAll().where('environment_id', '=', envId).orderBy('created_at').orderBy('id').execute();
      return rows.map(toEndpoint);
    },

    async getWebhookEndpoint(envId, id) {
      const r = await endpoint(envId, id);
      return r && toEndpoint(r);
    },

    async updateWebhookEndpoint(envId, id, change, at) {
      const set: Partial<EndpointRow> = { updated_at: at };
      if (change.url !== undefined) set.url = change.url;
      if (change.description !== undefined) set.description = change.description;
      if (change.events !== undefined) set.events = JSON.stringify(change.events);
      if (change.secret !== undefined) Object.assign(set, { secret: change.secret.secret, previous_secret_until: change.secret.previousUntil });
      if (change.enabled !== undefined) {
        set.enabled = change.enabled ? 1 : 0;
        if (change.enabled) Object.assign(set, { disabled_reason: null, failing_since: null });
      }
      // A rotation keeps the secret it replaces: `secret` on the right of SET is the row's old value.
      const previous = change.secret === undefined ? {} : { previous_secret: change.secret.previousUntil ? sql.ref<string>('secret') : null };
      return db.transaction().execute(async (trx) => {
        const before = change.enabled ? await trx.selectFrom('webhook_endpoints').select('enabled').where('environment_id', '=', envId).where('id', '=', id).executeTakeFirst() : undefined;
        const r = await trx.updateTable('webhook_endpoints').set({ ...set, ...previous }).where('environment_id', '=', envId).where('id', '=', id).returningAll().executeTakeFirst();
        // Enabled again: what waited while it was disabled goes on at once, except what is past its window.
        if (r && before && Number(before.enabled) === 0) {
          await failExpiredDeliveries(trx, at, id);
          await retryNow(trx, id, at);
        }
        return r && toEndpoint(r);
      });
    },

    async deleteWebhookEndpoint(envId, id) {
      // Its deliveries first, a chunk at a time (a month of them can be hundreds of thousands).
      await inChunks(() =>
        db
          .deleteFrom('webhook_deliveries')
          .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where('environment_id', '=', envId).where('endpoint_id', '=', id).limit(CHUNK_ROWS))
          .executeTakeFirst()
          .then((r) => Number(r.numDeletedRows)),
      );
      return db.transaction().execute(async (trx) => {
        // A delivery dispatched meanwhile goes with it.
        await trx.deleteFrom('webhook_deliveries').where('environment_id', '=', envId).where('endpoint_id', '=', id).execute();
        const r = await trx.deleteFrom('webhook_endpoints').where('environment_id', '=', envId).where('id', '=', id).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      });
    },

    async enqueueWebhookDelivery(envId, endpointId, event, giveUpAt) {
      return db.transaction().execute(async (trx) => {
        await trx
          .insertInto('webhook_events')
          .values({ id: event.id, environment_id: envId, type: event.type, payload: event.payload, dispatched: FOR_ONE_ENDPOINT, created_at: event.createdAt })
          .execute();
        const row: DeliveryRow = {
          id: newWebhookDeliveryId(),
          environment_id: envId,
          endpoint_id: endpointId,
          event_id: event.id,
          event_type: event.type,
          status: 'pending',
          attempts: 0,
          next_attempt_at: event.createdAt,
          give_up_at: giveUpAt,
          claimed_until: null,
          last_status_code: null,
          last_error: null,
          last_latency_ms: null,
          last_response: null,
          created_at: event.createdAt,
          updated_at: event.createdAt,
        };
        await trx.insertInto('webhook_deliveries').values(row).execute();
        return toDelivery({ ...row, dispatched: FOR_ONE_ENDPOINT });
      });
    },

    async recoverWebhookDeliveries(envId, endpointId, since, at, giveUpAt) {
      // A month of events can be hundreds of thousands (one statement over them all held the
      // server 1.4 s): the outbox is walked CHUNK_ROWS events at a time, in id order, whatever
      // their environment, each chunk's deliveries made in a statement of their own.
      let made = 0;
      let after = '';
      await inChunks(async () => {
        const chunk = await db.selectFrom('webhook_events').select(['id', 'environment_id', 'type', 'dispatched', 'created_at']).where('id', '>', after).orderBy('id').limit(CHUNK_ROWS).execute();
        const forAny = (e: (typeof chunk)[number]) => e.type !== WEBHOOK_TEST_EVENT && Number(e.dispatched) !== FOR_ONE_ENDPOINT;
        const ids = chunk.filter((e) => e.environment_id === envId && e.created_at >= since && forAny(e)).map((e) => e.id);
        if (ids.length) {
          // As the dispatcher makes them, for one endpoint (test and example events were for their own endpoint only).
          const { rows } = await sql<{ id: string }>`${newDeliveries(at, giveUpAt)}
            where p.environment_id = ${envId} and p.id = ${endpointId} and e.id in (${sql.join(ids)}) and ${subscribed}
            on conflict do nothing
            returning id`.execute(db);
          made += rows.length;
        }
        after = chunk.at(-1)?.id ?? after;
        return chunk.length;
      });
      // Deliveries of those events that failed go again, as a resend would send them (a new window).
      const failed = await inChunks(() =>
        db
          .updateTable('webhook_deliveries')
          .set({ status: 'pending', next_attempt_at: at, give_up_at: giveUpAt, claimed_until: null, updated_at: at })
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('webhook_deliveries as d')
              .select('d.id')
              .where('d.status', '=', 'failed')
              .where('d.endpoint_id', '=', endpointId)
              .where('d.environment_id', '=', envId)
              .where('d.event_type', '<>', WEBHOOK_TEST_EVENT)
              // Of the types the endpoint still subscribes to (no list: all of them).
              .where((eb) => eb.exists(eb.selectFrom('webhook_endpoints as p').select('p.id').where('p.id', '=', endpointId).where(subscribedTo('d.event_type'))))
              .where((eb) =>
                eb.exists(eb.selectFrom('webhook_events as e').select('e.id').whereRef('e.id', '=', 'd.event_id').where('e.created_at', '>=', since).where('e.dispatched', '<>', FOR_ONE_ENDPOINT)),
              )
              .limit(CHUNK_ROWS),
          )
          .executeTakeFirst()
          .then((r) => Number(r.numUpdatedRows)),
      );
      return made + failed;
    },

    webhookPass: webhookPass(db, dialect, tx, hot, direct),

    async releaseAllWebhookClaims() {
      await db.updateTable('webhook_events').set({ claimed_until: null }).where('dispatched', '=', UNDISPATCHED).where('claimed_until', 'is not', null).execute();
      await db.updateTable('webhook_deliveries').set({ claimed_until: null }).where('claimed_until', 'is not', null).execute();
    },

    async listWebhookDeliveries(envId, endpointId, limit) {
      const rows = await deliveries(envId, endpointId)
        // Event ids are time-ordered: newest events first, read through the (endpoint_id, event_id) key.
        .orderBy('d.event_id', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toDelivery);
    },

    async resendWebhookDelivery(envId, endpointId, deliveryId, at, giveUpAt) {
      const r = await db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', next_attempt_at: at, give_up_at: giveUpAt, updated_at: at })
        .where('environment_id', '=', envId)
        .where('endpoint_id', '=', endpointId)
        .where('id', '=', deliveryId)
        // One in flight stays as it is: resending it now could send it twice at once.
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at)]))
        .execute();
      // Resent, or left as it is while in flight: as it is now.
      const row = await deliveries(envId, endpointId).where('d.id', '=', deliveryId).executeTakeFirst();
      return row && toDelivery(row);
    },

    async recordUnreadNotifications(envId, since, dueBefore, at, limit) {
      return db.transaction().execute(async (trx) => {
        let due = trx
          .selectFrom('notifications')
          .select('id')
          .where('read_at', 'is', null)
          .where('created_at', '>=', since)
          .where('created_at', '<=', dueBefore)
          .where('environment_id', '=', envId)
          .where('unread_announced_at', 'is', null)
          .orderBy('created_at')
          .limit(limit);
        // Two statements, not `id in (select … skip locked)`: PostgreSQL may run such a subquery
        // more than once and claim more than `limit`.
        if (dialect === 'postgres') due = due.forUpdate().skipLocked();
        const ids = (await due.execute()).map((r) => r.id);
        if (ids.length === 0) return [];
        // Read meanwhile, or taken by another node: not this pass's.
        const claimed = await trx
          .updateTable('notifications')
          .set({ unread_announced_at: at })
          .where('environment_id', '=', envId)
          .where('id', 'in', ids)
          .where('read_at', 'is', null)
          .where('unread_announced_at', 'is', null)
          .returningAll()
          .execute();
        if (claimed.length === 0) return [];
        const type: WebhookEventType = 'notification.unread';
        const events = storedNotifications(claimed).map((n) => {
          const data = { environmentId: envId, roomId: n.roomId, actor: { type: 'system' }, ...notificationEventFields(n) };
          return { id: newWebhookEventId(), environment_id: envId, type, payload: JSON.stringify({ type, timestamp: at, data }), created_at: at };
        });
        await trx.insertInto('webhook_events').values(events).execute();
        return claimed.map((n) => n.created_at);
      });
    },

    async pruneWebhooks(before) {
      // Deliveries of a disabled endpoint wait for it to be enabled again, but not past their window.
      await db.transaction().execute((trx) => failExpiredDeliveries(trx, new Date().toISOString()));
      await inChunks(() =>
        db
          .deleteFrom('webhook_deliveries')
          .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where('created_at', '<', before).where('status', '!=', 'pending').limit(CHUNK_ROWS))
          .executeTakeFirst()
          .then((r) => Number(r.numDeletedRows)),
      );
      return inChunks(() =>
        db
          .deleteFrom('webhook_events')
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('webhook_events as e')
              .select('e.id')
              .where('e.created_at', '<', before)
              .where('e.dispatched', '<>', UNDISPATCHED)
              .where((eb) => eb.not(eb.exists(eb.selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.event_id', '=', 'e.id'))))
              .limit(CHUNK_ROWS),
          )
          .executeTakeFirst()
          .then((r) => Number(r.numDeletedRows)),
      );
    },
  };
  return repo;
}

/**
 * Fails the pending deliveries past their retry window that waited for a disabled endpoint: of one
 * endpoint being enabled again, or of every endpoint still disabled. (An enabled endpoint's
 * deliveries get their last attempt even when it falls due late, e.g. after a restart.) One in
 * flight is left to its attempt.
 */
async function failExpiredDeliveries(trx: Transaction<Database>, at: string, endpointId?: string): Promise<void> {
  let q = trx
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', last_error: 'the endpoint was disabled until the retry window ended', next_attempt_at: null, updated_at: at })
    .where('status', '=', PENDING)
    .where('give_up_at', '<', at)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', at)]));
  q = endpointId !== undefined ? q.where('endpoint_id', '=', endpointId) : q.where('endpoint_id', 'in', (eb) => eb.selectFrom('webhook_endpoints').select('id').where('enabled', '=', 0));
  await q.execute();
}
