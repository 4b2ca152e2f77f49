import { LIMITS } from '@pulse/protocol';
import { CompiledQuery, sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { Dialect } from '../migrations.ts';
import type { Database } from '../schema.ts';
import { roomRecounter } from './room-content.ts';

type Db = Kysely<Database> | Transaction<Database>;
type Row = Record<string, unknown>;

/**
 * PostgreSQL texts of the hot statements that name their columns: the PostgreSQL store prepares
 * these once per connection (see postgres.ts). A `*` would break a prepared plan when a
 * migration adds a column, so those stay unprepared.
 */
export const PREPARED_SQL = new Set<string>();

/** SQLite: the connection's prepared statements, by SQL text (see withStatementCache in sqlite.ts). */
export interface DirectStatements {
  prepare(sql: string): { reader: boolean; readonly: boolean; all(...params: unknown[]): unknown[]; run(...params: unknown[]): unknown };
  /** Whether the connection is inside a transaction (better-sqlite3's `inTransaction`). */
  readonly inTransaction: boolean;
}

/**
 * The statements every comment runs, written out once instead of built per call: building a
 * Kysely query costs more than SQLite takes to run it. The text is fixed, so SQLite's statement
 * cache prepares each one once, and PostgreSQL's connections too. Written with `?` placeholders,
 * numbered for PostgreSQL.
 *
 * SQLite, inside a write transaction: run on the connection at once, without Kysely's round of
 * promises per statement (the transaction holds the only connection, so nothing else can run on
 * it meanwhile). A statement runs when called, so a Kysely query of the same transaction must be
 * awaited before it (every one is), and a transaction object must not be used once its callback
 * has returned (none is; while no other transaction is open, Kysely would refuse it). Outside a
 * transaction, a read runs at once too while none is open on the connection (it reads committed
 * rows, and nothing else runs while it does: the reads of a reconnect wave, GET /threads/:id);
 * while one is, it goes through Kysely, which waits for that transaction to end (run at once, it
 * would read its uncommitted rows). A write outside a transaction always goes through Kysely.
 * This relies on Kysely's SQLite queries running synchronously, and on no hot statement being
 * streamed (a cached statement busy iterating cannot run again).
 */
export function statement(dialect: Dialect, direct: DirectStatements | undefined, text: string) {
  let n = 0;
  const sql = dialect === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text;
  if (dialect === 'postgres' && !text.includes('*')) PREPARED_SQL.add(sql);
  return async <R = Row>(db: Db, params: unknown[]): Promise<{ rows: R[] }> => {
    if (direct && db.isTransaction && direct.inTransaction) {
      const prepared = direct.prepare(sql);
      if (prepared.reader) return { rows: prepared.all(...params) as R[] };
      prepared.run(...params);
      return { rows: [] };
    }
    if (direct && !db.isTransaction && !direct.inTransaction) {
      const prepared = direct.prepare(sql);
      if (prepared.readonly) return { rows: prepared.all(...params) as R[] };
    }
    return db.executeQuery<R>(CompiledQuery.raw(sql, params));
  };
}

/**
 * A statement whose limit is written into its text: SQLite compiles a statement with `limit ?`
 * again on each run (see inline-limits.ts). One statement per limit asked for (in practice one or two).
 */
export function limitedStatement(dialect: Dialect, direct: DirectStatements | undefined, text: (limit: number) => string) {
  const byLimit = new Map<number, ReturnType<typeof statement>>();
  return (limit: number) => {
    let s = byLimit.get(limit);
    if (!s) byLimit.set(limit, (s = statement(dialect, direct, text(Math.trunc(limit)))));
    return s;
  };
}

/** Most rows in one SQLite insert (more are split over several statements). */
const ROWS_PER_INSERT = 32;

/**
 * An insert of any number of rows, `columns` being `[name, PostgreSQL type]` pairs and `suffix`
 * what follows the rows (an ON CONFLICT clause, which may read `excluded`). SQLite: up to
 * ROWS_PER_INSERT rows per statement, one statement text per row count; PostgreSQL: any number in
 * one round trip, one array per column.
 */
function rowsInsert(dialect: Dialect, direct: DirectStatements | undefined, table: string, columns: [string, string][], suffix = '') {
  const names = columns.map(([name]) => name).join(', ');
  if (dialect === 'postgres') {
    const unnest = statement(dialect, direct, `insert into ${table} (${names}) select ${names} from unnest(${columns.map(([, type]) => `?::${type}[]`).join(', ')}) as u(${names}) ${suffix}`);
    return async <R = Row>(db: Db, rows: unknown[][]): Promise<R[]> => (rows.length ? (await unnest<R>(db, columns.map((_, i) => rows.map((row) => row[i])))).rows : []);
  }
  const byCount = new Map<number, ReturnType<typeof statement>>();
  const row = `(${columns.map(() => '?').join(', ')})`;
  return async <R = Row>(db: Db, rows: unknown[][]): Promise<R[]> => {
    const returned: R[] = [];
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + ROWS_PER_INSERT);
      let s = byCount.get(chunk.length);
      if (!s) byCount.set(chunk.length, (s = statement(dialect, direct, `insert into ${table} (${names}) values ${chunk.map(() => row).join(', ')} ${suffix}`)));
      returned.push(...(await s<R>(db, chunk.flat())).rows);
    }
    return returned;
  };
}

const COMMENT_COLUMNS = 'environment_id, id, thread_id, room_id, user_id, body, mentions, created_at, edited_at';
const ACTIVITY_COLUMNS = 'environment_id, id, room_id, user_id, kind, thread_id, comment_id, preview, created_at';
const NOTIFICATION_COLUMNS = 'environment_id, id, user_id, kind, room_id, thread_id, comment_id, actor_id, preview, created_at, read_at';

export function hotStatements(dialect: Dialect, direct?: DirectStatements) {
  const bumpSeq = statement(dialect, direct, 'update rooms set seq = seq + 1 where environment_id = ? and id = ? returning seq');
  // With what a write added to the room (see room-content.ts): no row when that takes the estimate past the limit.
  const bumpSeqGrowing = statement(
    dialect,
    direct,
    'update rooms set seq = seq + 1, content_bytes = content_bytes + ? where environment_id = ? and id = ? and content_bytes + ? <= ? returning seq',
  );
  const roomSeq = statement(dialect, direct, 'select seq from rooms where environment_id = ? and id = ?');
  const recount = roomRecounter(dialect);
  // A comment is never older than what its thread already holds: the new time, or one millisecond
  // after the thread's, so replies keep their order even within one millisecond (lists sort by
  // time, then id). Times are ISO texts (compared bytewise on PostgreSQL, whatever the collation).
  const laterStamp =
    dialect === 'sqlite'
      ? "case when ? > updated_at then ? else strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0.001 seconds') end"
      : `case when ?::text collate "C" > updated_at collate "C" then ?::text else to_char((updated_at::timestamptz + interval '1 millisecond') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end`;
  const touchThread = statement(
    dialect,
    direct,
    `update threads set updated_at = ${laterStamp} where environment_id = ? and id = ? and room_id = coalesce(?, room_id) returning room_id, updated_at`,
  );
  const insertComment = statement(dialect, direct, `insert into comments (${COMMENT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertActivity = statement(dialect, direct, `insert into activity (${ACTIVITY_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // PostgreSQL: a whole reply in one round trip. The thread is touched (in its room, if given);
  // the comment, its notifications (one array per column), its activity entry (when $17 is not
  // null) and the room's seq are written from that row, so a missing thread writes nothing and
  // returns no row. A WITH's inserts run once and to completion although nothing reads them.
  const reply = statement(
    dialect,
    direct,
    'with t as (' +
      `update threads set updated_at = ${laterStamp.replace(/\?/g, () => '$1::text')} ` +
      'where environment_id = $2::text and id = $3::text and room_id = coalesce($4::text, room_id) returning room_id, updated_at' +
      '), c as (' +
      `insert into comments (${COMMENT_COLUMNS}) select $2::text, $5::text, $3::text, t.room_id, $6::text, $7::text, $8::text, t.updated_at, null::text from t` +
      '), n as (' +
      `insert into notifications (${NOTIFICATION_COLUMNS}) ` +
      'select $2::text, u.id, u.user_id, u.kind, t.room_id, u.thread_id, u.comment_id, u.actor_id, u.preview, u.created_at, null::text from t, ' +
      'unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) ' +
      'as u(id, user_id, kind, thread_id, comment_id, actor_id, preview, created_at)' +
      `), a as (insert into activity (${ACTIVITY_COLUMNS}) ` +
      'select $2::text, $17::text, t.room_id, $18::text, $19::text, $20::text, $21::text, $22::text, $23::text from t where $17::text is not null' +
      '), r as (' +
      'update rooms set seq = seq + 1, content_bytes = content_bytes + $24::bigint from t ' +
      'where rooms.environment_id = $2::text and rooms.id = t.room_id and rooms.content_bytes + $24::bigint <= $25::bigint returning rooms.seq' +
      // No r row: the room's estimate would pass the limit (insertReply counts it exactly).
      ') select t.room_id, t.updated_at, r.seq from t left join r on true',
  );
  const insertNotifications = rowsInsert(dialect, direct, 'notifications', NOTIFICATION_COLUMNS.split(', ').map((name) => [name, 'text']));
  const recentNotificationsFor = limitedStatement(
    dialect,
    direct,
    (limit) => `select ${NOTIFICATION_COLUMNS} from notifications where environment_id = ? and user_id = ? order by created_at desc, id desc limit ${limit}`,
  );
  // Who took part in a thread, asked on every reply. PostgreSQL: one index seek per distinct user
  // (a "loose index scan" on comments_thread_user), where DISTINCT reads every comment of the
  // thread (0.08 against 0.03 ms at 200 comments, 1.3 against 0.3 at 1,000); prepared, so planned
  // once per connection. SQLite asks once per thread (participants-cache.ts) and has no such
  // index (migration 0017): the thread's authors are read off comments_thread and told apart
  // here (with DISTINCT, SQLite walked every comment of the environment on comments_user).
  const participants = statement(
    dialect,
    direct,
    dialect === 'sqlite'
      ? 'select user_id from comments where environment_id = ? and thread_id = ?'
      : 'with recursive p(user_id) as (' +
          'select min(user_id) from comments where environment_id = ? and thread_id = ? ' +
          'union all ' +
          'select (select min(c.user_id) from comments c where c.environment_id = ? and c.thread_id = ? and c.user_id > p.user_id) from p where p.user_id is not null' +
          ') select user_id from p where user_id is not null',
  );
  const userAndDay = statement(
    dialect,
    direct,
    'select u.*, exists (select 1 from user_days d where d.environment_id = u.environment_id and d.day = ? and d.user_id = u.external_id) as seen ' +
      'from users u where u.environment_id = ? and u.external_id = ?',
  );
  const thread = statement(dialect, direct, 'select * from threads where environment_id = ? and id = ?');
  const threadComments = statement(dialect, direct, 'select * from comments where environment_id = ? and thread_id = ? order by created_at, id');
  // Driven by the thread's comments (an index lookup each), not by the environment's reactions;
  // the few rows are put in order by the caller (an ORDER BY here would pick a worse index).
  const threadReactions = statement(
    dialect,
    direct,
    'select * from reactions where environment_id = ? and comment_id in (select id from comments where environment_id = ? and thread_id = ?)',
  );
  const threadAttachments = statement(
    dialect,
    direct,
    'select * from attachments where environment_id = ? and comment_id in (select id from comments where environment_id = ? and thread_id = ?) order by position',
  );

  const insertWebhookEvent = statement(dialect, direct, 'insert into webhook_events (id, environment_id, type, payload, dispatched, created_at) values (?, ?, ?, ?, 0, ?)');
  // Fresh deliveries' rows (see recordOutcomes in webhook-pass.ts): with their first attempt, or
  // pending. A row there already is left as it is (any unique key: PostgreSQL raises a conflict on
  // one not named as the target, and the id and the (endpoint, event) pair are both unique).
  const insertAttemptedDeliveries = rowsInsert(
    dialect,
    direct,
    'webhook_deliveries',
    [...DELIVERY_COLUMNS, ['last_status_code', 'integer'], ['last_error', 'text'], ['last_latency_ms', 'integer'], ['last_response', 'text']],
    'on conflict do nothing returning id',
  );
  const insertPendingDeliveries = rowsInsert(dialect, direct, 'webhook_deliveries', DELIVERY_COLUMNS, 'on conflict do nothing returning id');

  return {
    /**
     * A thread's new time for a change that is not a reply (an edit, a resolve): `at`, unless the
     * thread's time is later (replies in one millisecond ran it ahead, see laterStamp). Set back,
     * the next reply would be stamped like one before it.
     */
    threadTimeNotBefore(at: string): RawBuilder<string> {
      return dialect === 'sqlite' ? sql<string>`max(updated_at, ${at})` : sql<string>`greatest(updated_at collate "C", ${at}::text collate "C")`;
    },
    /** A thread with everything GET /threads/{id} and retries show: its rows, in display order. */
    async threadRows(db: Db, envId: string, threadId: string) {
      const params = [envId, threadId];
      const { rows: threads } = await thread<Database['threads']>(db, params);
      if (!threads[0]) return undefined;
      const byThread = [envId, envId, threadId];
      const [comments, reactions, attachments] = await Promise.all([
        threadComments<Database['comments']>(db, params),
        threadReactions<Database['reactions']>(db, byThread),
        threadAttachments<Database['attachments']>(db, byThread),
      ]);
      const inOrder = reactions.rows.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1));
      return { thread: threads[0], comments: comments.rows, reactions: inOrder, attachments: attachments.rows };
    },
    /**
     * Bumps the room's seq after a write in it; `growth`: the bytes the write adds to the room
     * (see room-content.ts; `pending`: those of them written after this call), refused with
     * `room_content_full` when the room is full.
     */
    async bumpSeq(db: Db, envId: string, roomId: string, growth = 0, pending = 0): Promise<number> {
      if (growth > 0) {
        const { rows } = await bumpSeqGrowing<{ seq: number }>(db, [growth, envId, roomId, growth, LIMITS.roomContentBytes]);
        return rows[0] ? Number(rows[0].seq) : recount(db, envId, roomId, growth, pending);
      }
      const { rows } = await bumpSeq<{ seq: number }>(db, [envId, roomId]);
      if (!rows[0]) throw new Error(`room ${roomId} is missing`);
      return Number(rows[0].seq);
    },
    async roomSeq(db: Db, envId: string, roomId: string): Promise<number | undefined> {
      const { rows } = await roomSeq<{ seq: number }>(db, [envId, roomId]);
      return rows[0] && Number(rows[0].seq);
    },
    /**
     * Stores a reply: touches its thread (see laterStamp), writes the comment, its activity entry
     * and notifications in the thread's room, and bumps the room's seq. Undefined when there is no
     * such thread (in that room), and then nothing is written.
     */
    async insertReply(db: Db, envId: string, r: NewReply): Promise<{ roomId: string; at: string; seq: number } | undefined> {
      if (dialect === 'sqlite') {
        const { rows } = await touchThread<{ room_id: string; updated_at: string }>(db, [r.createdAt, r.createdAt, envId, r.threadId, r.roomId ?? null]);
        if (!rows[0]) return undefined;
        const { room_id: roomId, updated_at: at } = rows[0];
        await insertComment(db, [envId, r.id, r.threadId, roomId, r.userId, r.body, r.mentions, at, null]);
        if (r.activity) await insertActivity(db, activityParams({ ...r.activity, room_id: roomId }));
        await this.insertNotifications(db, r.notifications.map((n) => ({ ...n, room_id: roomId })));
        return { roomId, at, seq: await this.bumpSeq(db, envId, roomId, r.contentBytes, r.attachmentBytes) };
      }
      const ns = r.notifications;
      const a = r.activity;
      const { rows } = await reply<{ room_id: string; updated_at: string; seq: number | null }>(db, [
        r.createdAt, envId, r.threadId, r.roomId ?? null, r.id, r.userId, r.body, r.mentions,
        ns.map((n) => n.id), ns.map((n) => n.user_id), ns.map((n) => n.kind), ns.map((n) => n.thread_id),
        ns.map((n) => n.comment_id), ns.map((n) => n.actor_id), ns.map((n) => n.preview), ns.map((n) => n.created_at),
        a?.id ?? null, a?.user_id ?? null, a?.kind ?? null, a?.thread_id ?? null, a?.comment_id ?? null, a?.preview ?? null, a?.created_at ?? null,
        r.contentBytes, LIMITS.roomContentBytes,
      ]);
      const row = rows[0];
      if (!row) return undefined;
      const seq = row.seq === null ? await recount(db, envId, row.room_id, r.contentBytes, r.attachmentBytes) : Number(row.seq);
      return { roomId: row.room_id, at: row.updated_at, seq };
    },
    async insertActivity(db: Db, r: Database['activity']): Promise<void> {
      await insertActivity(db, activityParams(r));
    },
    async insertNotifications(db: Db, rows: Database['notifications'][]): Promise<void> {
      await insertNotifications(
        db,
        rows.map((r) => [r.environment_id, r.id, r.user_id, r.kind, r.room_id, r.thread_id, r.comment_id, r.actor_id, r.preview, r.created_at, r.read_at]),
      );
    },
    /** A user's latest notifications, newest first (every join sends them). */
    async recentNotifications(db: Db, envId: string, userId: string, limit: number) {
      const { rows } = await recentNotificationsFor(limit)<Database['notifications']>(db, [envId, userId]);
      return rows;
    },
    /** A user's row, and whether they were counted as active on `day` (every join looks). */
    async userAndDay(db: Db, envId: string, externalId: string, day: string) {
      const { rows } = await userAndDay<Selectable<Database['users']> & { seen: number | boolean }>(db, [day, envId, externalId]);
      return rows[0] && { row: rows[0], seen: Boolean(Number(rows[0].seen)) };
    },
    /** A webhook event into the outbox, in the transaction of the change it describes. */
    async insertWebhookEvent(db: Db, e: { id: string; environmentId: string; type: string; payload: string; createdAt: string }): Promise<void> {
      await insertWebhookEvent(db, [e.id, e.environmentId, e.type, e.payload, e.createdAt]);
    },
    /**
     * The rows of fresh deliveries, each with its first attempt (ids distinct), unless one exists
     * already. Returns the ids of those written.
     */
    async insertAttemptedDeliveries(db: Db, attempted: { delivery: NewDelivery; attempt: DeliveryAttempt }[]): Promise<Set<string>> {
      const rows = await insertAttemptedDeliveries<{ id: string }>(
        db,
        attempted.map(({ delivery: d, attempt: a }) => [
          ...deliveryParams(d, a.status, 1, a.nextAttemptAt, a.at), a.statusCode, a.error, a.latencyMs, a.response,
        ]),
      );
      return new Set(rows.map((r) => r.id));
    },
    /**
     * The rows of fresh deliveries not attempted (the node stops, or has no room for them):
     * pending, due since they were claimed (so that claims, oldest due first, take an endpoint's
     * in the order of their events, whichever pass gave them back), ids distinct, unless one exists
     * already. Returns the ids of those written.
     */
    async insertPendingDeliveries(db: Db, deliveries: NewDelivery[], at: string): Promise<Set<string>> {
      const rows = await insertPendingDeliveries<{ id: string }>(db, deliveries.map((d) => deliveryParams(d, 'pending', 0, d.createdAt, at)));
      return new Set(rows.map((r) => r.id));
    },
    async participants(db: Db, envId: string, threadId: string): Promise<string[]> {
      if (dialect === 'sqlite') {
        const { rows } = await participants<{ user_id: string }>(db, [envId, threadId]);
        return [...new Set(rows.map((r) => r.user_id))].sort();
      }
      const { rows } = await participants<{ user_id: string }>(db, [envId, threadId, envId, threadId]);
      return rows.map((r) => r.user_id);
    },
  };
}

/** A reply as insertReply writes it: rows without their room (the thread's, found on the way). */
export interface NewReply {
  id: string;
  threadId: string;
  /** The room the thread must be in, when known. */
  roomId?: string;
  userId: string;
  body: string;
  /** JSON. */
  mentions: string;
  createdAt: string;
  /** What it adds to its room (see room-content.ts), and of that what its attachments add (attached after). */
  contentBytes: number;
  attachmentBytes: number;
  activity: Omit<Database['activity'], 'room_id'> | undefined;
  notifications: Omit<Database['notifications'], 'room_id'>[];
}

const DELIVERY_COLUMNS: [string, string][] = [
  ['id', 'text'], ['environment_id', 'text'], ['endpoint_id', 'text'], ['event_id', 'text'], ['event_type', 'text'], ['status', 'text'],
  ['attempts', 'integer'], ['next_attempt_at', 'text'], ['give_up_at', 'text'], ['created_at', 'text'], ['updated_at', 'text'],
];

/** A webhook delivery's row as first written. */
export interface NewDelivery {
  id: string;
  environmentId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  giveUpAt: string;
  createdAt: string;
}

/** An attempt as a delivery's row records it. */
export interface DeliveryAttempt {
  at: string;
  status: string;
  nextAttemptAt: string | null;
  statusCode: number | null;
  error: string | null;
  latencyMs: number;
  response: string | null;
}

/** A delivery's DELIVERY_COLUMNS. */
const deliveryParams = (d: NewDelivery, status: string, attempts: number, nextAttemptAt: string | null, updatedAt: string) => [
  d.id, d.environmentId, d.endpointId, d.eventId, d.eventType, status, attempts, nextAttemptAt, d.giveUpAt, d.createdAt, updatedAt,
];

const activityParams = (r: Database['activity']) => [r.environment_id, r.id, r.room_id, r.user_id, r.kind, r.thread_id, r.comment_id, r.preview, r.created_at];

export type HotStatements = ReturnType<typeof hotStatements>;
