import { CompiledQuery, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Dialect } from '../migrations.ts';
import type { Database } from '../schema.ts';

type Db = Kysely<Database> | Transaction<Database>;
type Row = Record<string, unknown>;

/**
 * PostgreSQL texts of the hot statements that name their columns: the PostgreSQL store prepares
 * these once per connection (see postgres.ts). A `*` would break a prepared plan when a
 * migration adds a column, so those stay unprepared.
 */
export const PREPARED_SQL = new Set<string>();

/**
 * The statements every comment runs, written out once instead of built per call: building a
 * Kysely query costs more than SQLite takes to run it. The text is fixed, so SQLite's statement
 * cache prepares each one once, and PostgreSQL's connections too. Written with `?` placeholders,
 * numbered for PostgreSQL.
 */
function statement(dialect: Dialect, text: string) {
  let n = 0;
  const sql = dialect === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text;
  if (dialect === 'postgres' && !text.includes('*')) PREPARED_SQL.add(sql);
  return <R = Row>(db: Db, params: unknown[]) => db.executeQuery<R>(CompiledQuery.raw(sql, params));
}

const COMMENT_COLUMNS = 'environment_id, id, thread_id, room_id, user_id, body, mentions, created_at, edited_at';
const NOTIFICATION_COLUMNS = 'environment_id, id, user_id, kind, room_id, thread_id, comment_id, actor_id, preview, created_at, read_at';

export function hotStatements(dialect: Dialect) {
  const bumpSeq = statement(dialect, 'update rooms set seq = seq + 1 where environment_id = ? and id = ? returning seq');
  const roomSeq = statement(dialect, 'select seq from rooms where environment_id = ? and id = ?');
  const threadClock = statement(dialect, 'select room_id, updated_at from threads where environment_id = ? and id = ?');
  const touchThread = statement(dialect, 'update threads set updated_at = ? where environment_id = ? and id = ?');
  const insertComment = statement(dialect, `insert into comments (${COMMENT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertActivity = statement(
    dialect,
    'insert into activity (environment_id, id, room_id, user_id, kind, thread_id, comment_id, preview, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const insertNotification = statement(dialect, `insert into notifications (${NOTIFICATION_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const recentNotifications = statement(
    dialect,
    `select ${NOTIFICATION_COLUMNS} from notifications where environment_id = ? and user_id = ? order by created_at desc, id desc limit ?`,
  );
  // Who took part in a thread, asked on every reply. SQLite: one index seek per distinct user (a
  // "loose index scan" on comments_thread_user), where DISTINCT would read every comment of the
  // thread. PostgreSQL plans the recursive form anew on each call, which costs more than it saves.
  const participants =
    dialect === 'sqlite'
      ? statement(
          dialect,
          'with recursive p(user_id) as (' +
            'select min(user_id) from comments where environment_id = ? and thread_id = ? ' +
            'union all ' +
            'select (select min(c.user_id) from comments c where c.environment_id = ? and c.thread_id = ? and c.user_id > p.user_id) from p where p.user_id is not null' +
            ') select user_id from p where user_id is not null',
        )
      : statement(dialect, 'select distinct user_id from comments where environment_id = ? and thread_id = ?');
  const userAndDay = statement(
    dialect,
    'select u.*, exists (select 1 from user_days d where d.environment_id = u.environment_id and d.day = ? and d.user_id = u.external_id) as seen ' +
      'from users u where u.environment_id = ? and u.external_id = ?',
  );
  const thread = statement(dialect, 'select * from threads where environment_id = ? and id = ?');
  const threadComments = statement(dialect, 'select * from comments where environment_id = ? and thread_id = ? order by created_at, id');
  // Driven by the thread's comments (an index lookup each), not by the environment's reactions;
  // the few rows are put in order by the caller (an ORDER BY here would pick a worse index).
  const threadReactions = statement(
    dialect,
    'select * from reactions where environment_id = ? and comment_id in (select id from comments where environment_id = ? and thread_id = ?)',
  );
  const threadAttachments = statement(
    dialect,
    'select * from attachments where environment_id = ? and comment_id in (select id from comments where environment_id = ? and thread_id = ?) order by position',
  );

  return {
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
    async bumpSeq(db: Db, envId: string, roomId: string): Promise<number> {
      const { rows } = await bumpSeq<{ seq: number }>(db, [envId, roomId]);
      if (!rows[0]) throw new Error(`room ${roomId} is missing`);
      return Number(rows[0].seq);
    },
    async roomSeq(db: Db, envId: string, roomId: string): Promise<number | undefined> {
      const { rows } = await roomSeq<{ seq: number }>(db, [envId, roomId]);
      return rows[0] && Number(rows[0].seq);
    },
    /**
     * Marks a thread updated by a new comment: its room and the comment's time, or undefined when
     * there is no such thread (in that room). A comment is never older than what the thread already
     * holds, so replies keep their order even within one millisecond (lists sort by time, then id).
     */
    async touchThread(db: Db, envId: string, threadId: string, at: string, roomId?: string): Promise<{ roomId: string; at: string } | undefined> {
      const { rows } = await threadClock<{ room_id: string; updated_at: string }>(db, [envId, threadId]);
      const thread = rows[0];
      if (!thread || (roomId !== undefined && thread.room_id !== roomId)) return undefined;
      const stamp = at > thread.updated_at ? at : new Date(Date.parse(thread.updated_at) + 1).toISOString();
      await touchThread(db, [stamp, envId, threadId]);
      return { roomId: thread.room_id, at: stamp };
    },
    async insertComment(db: Db, r: Database['comments']): Promise<void> {
      await insertComment(db, [r.environment_id, r.id, r.thread_id, r.room_id, r.user_id, r.body, r.mentions, r.created_at, r.edited_at]);
    },
    async insertActivity(db: Db, r: Database['activity']): Promise<void> {
      await insertActivity(db, [r.environment_id, r.id, r.room_id, r.user_id, r.kind, r.thread_id, r.comment_id, r.preview, r.created_at]);
    },
    async insertNotification(db: Db, r: Database['notifications']): Promise<void> {
      await insertNotification(db, [r.environment_id, r.id, r.user_id, r.kind, r.room_id, r.thread_id, r.comment_id, r.actor_id, r.preview, r.created_at, r.read_at]);
    },
    /** A user's latest notifications, newest first (every join sends them). */
    async recentNotifications(db: Db, envId: string, userId: string, limit: number) {
      const { rows } = await recentNotifications<Database['notifications']>(db, [envId, userId, limit]);
      return rows;
    },
    /** A user's row, and whether they were counted as active on `day` (every join looks). */
    async userAndDay(db: Db, envId: string, externalId: string, day: string) {
      const { rows } = await userAndDay<Selectable<Database['users']> & { seen: number | boolean }>(db, [day, envId, externalId]);
      return rows[0] && { row: rows[0], seen: Boolean(Number(rows[0].seen)) };
    },
    async participants(db: Db, envId: string, threadId: string): Promise<string[]> {
      const params = dialect === 'sqlite' ? [envId, threadId, envId, threadId] : [envId, threadId];
      const { rows } = await participants<{ user_id: string }>(db, params);
      return rows.map((r) => r.user_id);
    },
  };
}

export type HotStatements = ReturnType<typeof hotStatements>;
