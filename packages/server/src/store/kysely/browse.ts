import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import type { FileLinks } from '../../files/links.ts';
import type { Database } from '../schema.ts';
import type { AnalyticsRepo, BrowseRepo, DailyActivity } from '../types.ts';
import { withExtras } from './content.ts';
import { listPage } from './walk.ts';
import { nextTurn } from './in-chunks.ts';


/** Rows in the order of their keys (a page's, as pageKeys found them); keys whose row went meanwhile are left out. */
function inOrderOf<Row>(keys: string[], rows: Row[], keyOf: (row: Row) => string): Row[] {
  const byKey = new Map(rows.map((r) => [keyOf(r), r]));
  return keys.flatMap((k) => byKey.get(k) ?? []);
}

/** The data browser's and the analytics' reads: counts and summaries, paged by offset. */
export function browseRepo(db: Kysely<Database>, links: FileLinks): BrowseRepo & AnalyticsRepo {
  return {
    async browseRooms(envId, query) {
      const { keys, total } = await listPage(db, 'rooms', envId, query, ['id']);
      const rows = !keys.length
        ? []
        : await db
            .selectFrom('rooms as r')
            .where('r.environment_id', '=', envId)
            .where('r.id', 'in', keys)
            .select((eb) => [
              'r.id',
              'r.created_at',
              eb
                .selectFrom('threads as t')
                .select(eb.fn.countAll<number>().as('n'))
                .whereRef('t.environment_id', '=', 'r.environment_id')
                .whereRef('t.room_id', '=', 'r.id')
                .as('threads'),
              // Through the room's threads, in that order (see commentsOfRoom in rooms.ts).
              eb
                .selectFrom('threads as ct')
                .crossJoin('comments as c')
                .select(eb.fn.countAll<number>().as('n'))
                .whereRef('ct.environment_id', '=', 'r.environment_id')
                .whereRef('ct.room_id', '=', 'r.id')
                .whereRef('c.environment_id', '=', 'ct.environment_id')
                .whereRef('c.thread_id', '=', 'ct.id')
                .as('comments'),
            ])
            .execute();
      return {
        items: inOrderOf(keys, rows, (r) => r.id).map((r) => ({ id: r.id, createdAt: r.created_at, threads: Number(r.threads ?? 0), comments: Number(r.comments ?? 0) })),
        total,
      };
    },

    async browseThreads(envId, roomId, page) {
      const base = () => db.selectFrom('threads as t').where('t.environment_id', '=', envId).where('t.room_id', '=', roomId);
      // The thread's first comment, by the same order the thread shows its comments in.
      const firstComment = (eb: ExpressionBuilder<Database & { t: Database['threads'] }, 't'>) =>
        eb
          .selectFrom('comments as c')
          .whereRef('c.environment_id', '=', 't.environment_id')
          .whereRef('c.thread_id', '=', 't.id')
          .orderBy('c.created_at')
          .orderBy('c.id')
          .limit(1);
      const [rows, total] = await Promise.all([
        base()
          .select((eb) => [
            't.id',
            't.room_id',
            't.resolved',
            't.created_at',
            't.updated_at',
            eb
              .selectFrom('comments as c')
              .select(eb.fn.countAll<number>().as('n'))
              .whereRef('c.environment_id', '=', 't.environment_id')
              .whereRef('c.thread_id', '=', 't.id')
              .as('comments'),
            firstComment(eb).select('c.body').as('first_body'),
            firstComment(eb).select('c.user_id').as('first_user'),
            eb
              .selectFrom('users as u')
              .select('u.name')
              .whereRef('u.environment_id', '=', 't.environment_id')
              .where('u.external_id', '=', firstComment(eb).select('c.user_id'))
              .as('first_name'),
          ])
          .orderBy('t.created_at', 'desc')
          .orderBy('t.id', 'desc')
          .limit(page.limit)
          .offset(page.offset)
          .execute(),
        base()
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ]);
      return {
        items: rows.map((r) => ({
          id: r.id,
          roomId: r.room_id,
          resolved: Number(r.resolved) === 1,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
          comments: Number(r.comments ?? 0),
          firstComment: r.first_body != null && r.first_user != null ? { body: r.first_body, userId: r.first_user, userName: r.first_name ?? null } : null,
        })),
        total: Number(total.n),
      };
    },

    async browseComments(envId, threadId, page) {
      const base = () => db.selectFrom('comments').where('environment_id', '=', envId).where('thread_id', '=', threadId);
      const [rows, total] = await Promise.all([
        base().selectAll().orderBy('created_at').orderBy('id').limit(page.limit).offset(page.offset).execute(),
        base()
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ]);
      const comments = await withExtras(db, envId, rows, links);
      // Authors and mentioned users in one read: mentions read "@Bob Smith" here, as in the widget.
      const userIds = [...new Set([...rows.map((r) => r.user_id), ...comments.flatMap((c) => c.mentions)])];
      const users = userIds.length
        ? await db.selectFrom('users').selectAll().where('environment_id', '=', envId).where('external_id', 'in', userIds).execute()
        : [];
      const byId = new Map(users.map((u) => [u.external_id, u]));
      return {
        items: comments.map((c) => {
          const u = byId.get(c.userId);
          return {
            id: c.id,
            threadId: c.threadId,
            body: c.body,
            createdAt: c.createdAt,
            editedAt: c.editedAt,
            author: { externalId: c.userId, name: u?.name ?? null, avatar: u?.avatar ?? null, color: u?.color ?? null },
            mentions: c.mentions.flatMap((id) => {
              const m = byId.get(id);
              return m ? [{ externalId: id, name: m.name }] : [];
            }),
            reactions: c.reactions,
            attachments: c.attachments,
          };
        }),
        total: Number(total.n),
      };
    },

    async browseUsers(envId, query) {
      const { keys, total } = await listPage(db, 'users', envId, query, ['name', 'external_id']);
      const rows = !keys.length
        ? []
        : await db
            .selectFrom('users as u')
            .where('u.environment_id', '=', envId)
            .where('u.external_id', 'in', keys)
            .select((eb) => [
              'u.external_id',
              'u.name',
              'u.avatar',
              'u.color',
              'u.created_at',
              eb
                .selectFrom('comments as c')
                .select(eb.fn.countAll<number>().as('n'))
                .whereRef('c.environment_id', '=', 'u.environment_id')
                .whereRef('c.user_id', '=', 'u.external_id')
                .as('comments'),
            ])
            .execute();
      return {
        items: inOrderOf(keys, rows, (r) => r.external_id).map((r) => ({
          externalId: r.external_id,
          name: r.name,
          avatar: r.avatar,
          color: r.color,
          comments: Number(r.comments ?? 0),
          firstSeen: r.created_at,
        })),
        total,
      };
    },

    /**
     * One statement per day, with other work let in between: a month of a million comments in one
     * statement held SQLite's (the server's) thread for 0.75 s. Up to tomorrow (UTC), for a clock
     * that runs a little ahead of this one; days without any activity are left out.
     */
    async dailyActivity(envId, sinceDay) {
      const out: DailyActivity[] = [];
      const last = new Date(Date.now() + DAY_MS).toISOString().slice(0, 10);
      for (let day = sinceDay; day <= last; day = nextDay(day)) {
        const from = `${day}T00:00:00.000Z`;
        const to = `${nextDay(day)}T00:00:00.000Z`;
        const inDay = (table: string) => sql`select user_id from ${sql.table(table)} where environment_id = ${envId} and created_at >= ${from} and created_at < ${to}`;
        const { rows } = await sql<{ comments: number | string; active: number | string }>`
          select
            (select count(*) from comments where environment_id = ${envId} and created_at >= ${from} and created_at < ${to}) as comments,
            (select count(*) from (
              ${inDay('comments')} union ${inDay('reactions')} union select user_id from user_days where environment_id = ${envId} and day = ${day}
            ) seen) as active`.execute(db);
        const comments = Number(rows[0]?.comments ?? 0);
        const activeUsers = Number(rows[0]?.active ?? 0);
        if (comments > 0 || activeUsers > 0) out.push({ day, comments, activeUsers });
        await nextTurn();
      }
      return out;
    },
  };
}

const DAY_MS = 86_400_000;

/** The UTC day after `day` (YYYY-MM-DD). */
const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) + DAY_MS).toISOString().slice(0, 10);
