import { PulseError, type ActivityEntry, type DrawStroke, type Notification } from '@pulse/protocol';
import { isUniqueViolation } from '../errors.ts';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../schema.ts';
import { roomOf, type WriteTx } from './writer.ts';
import type { ActivityRepo, DrawingRepo, Effects, NotificationRepo, StoredNotification } from '../types.ts';
import type { HotStatements } from './hot-statements.ts';
import { insertRoomIfMissing } from './rooms.ts';
import { recordWebhookEvents, type WrittenObject } from './webhooks.ts';
import { recordDeletedStrokes, refuseDeletedId } from './deleted-ids.ts';
import { CHUNK_ROWS, inChunks } from './in-chunks.ts';

type Db = Kysely<Database> | Transaction<Database>;

const toNotification = (r: Selectable<Database['notifications']>): Notification => ({
  id: r.id,
  kind: r.kind,
  roomId: r.room_id,
  threadId: r.thread_id,
  commentId: r.comment_id,
  actorId: r.actor_id,
  preview: r.preview,
  createdAt: r.created_at,
  read: r.read_at !== null,
});

export const toActivity = (r: Selectable<Database['activity']>): ActivityEntry => ({
  id: r.id,
  roomId: r.room_id,
  userId: r.user_id,
  kind: r.kind as ActivityEntry['kind'],
  threadId: r.thread_id,
  commentId: r.comment_id,
  preview: r.preview,
  createdAt: r.created_at,
});

const toStroke = (r: Selectable<Database['strokes']>): DrawStroke => ({
  id: r.id,
  userId: r.user_id,
  points: JSON.parse(r.points),
  color: r.color,
  width: Number(r.width),
  createdAt: r.created_at,
});

/** The row of an activity entry. */
export const toActivityRow = (envId: string, a: NonNullable<Effects['activity']>): Database['activity'] => ({
  environment_id: envId,
  id: a.id,
  room_id: a.roomId,
  user_id: a.userId,
  kind: a.kind,
  thread_id: a.threadId,
  comment_id: a.commentId,
  preview: a.preview,
  created_at: a.createdAt,
});

/** The rows of a change's notifications. */
export const toNotificationRows = (envId: string, notifications: NonNullable<Effects['notifications']>): Database['notifications'][] =>
  notifications.map((n) => ({
    environment_id: envId,
    id: n.id,
    user_id: n.userId,
    kind: n.kind,
    room_id: n.roomId,
    thread_id: n.threadId,
    comment_id: n.commentId,
    actor_id: n.actorId,
    preview: n.preview,
    created_at: n.createdAt,
    read_at: null,
    unread_announced_at: null,
  }));

/** Notifications as a change reports them, each naming its recipient. */
export const storedNotifications = (rows: Database['notifications'][]): StoredNotification[] =>
  rows.map((row) => ({ ...toNotification(row), userId: row.user_id }));

/**
 * Writes the side effects of a change (activity entry, notifications, webhook events) inside its
 * transaction; `written`: the object the change wrote, for its webhook events.
 */
export async function applyEffects(hot: HotStatements, trx: Db, envId: string, effects: Effects | undefined, written?: WrittenObject) {
  let activity: ActivityEntry | undefined;
  const notifications: StoredNotification[] = [];
  if (effects?.activity) {
    const row = toActivityRow(envId, effects.activity);
    await hot.insertActivity(trx, row);
    activity = toActivity(row);
  }
  if (effects?.notifications?.length) {
    const rows = toNotificationRows(envId, effects.notifications);
    await hot.insertNotifications(trx, rows);
    notifications.push(...storedNotifications(rows));
  }
  if (effects?.webhooks?.length) await recordWebhookEvents(hot, trx, envId, effects.webhooks, written);
  return { activity, notifications };
}

export function realtimeRepo(db: Kysely<Database>, tx: WriteTx, hot: HotStatements): NotificationRepo & ActivityRepo & DrawingRepo {
  return {
    async listNotifications(envId, userId, limit) {
      return (await hot.recentNotifications(db, envId, userId, limit)).map(toNotification);
    },

    async notifiedOfComment(envId, commentId) {
      const rows = await db.selectFrom('notifications').select('user_id').distinct().where('environment_id', '=', envId).where('comment_id', '=', commentId).execute();
      return rows.map((r) => r.user_id);
    },

    async markNotificationsRead(envId, userId, ids, at) {
      const unread = db.updateTable('notifications').set({ read_at: at }).where('environment_id', '=', envId).where('user_id', '=', userId).where('read_at', 'is', null);
      if (ids !== 'all') {
        if (ids.length === 0) return [];
        return (await unread.where('id', 'in', ids).returning('id').execute()).map((r) => r.id);
      }
      // All of them, however many: a few thousand per statement (see inChunks).
      const changed: string[] = [];
      await inChunks(async () => {
        const rows = await unread
          .where('id', 'in', (eb) =>
            eb.selectFrom('notifications').select('id').where('environment_id', '=', envId).where('user_id', '=', userId).where('read_at', 'is', null).limit(CHUNK_ROWS),
          )
          .returning('id')
          .execute();
        for (const r of rows) changed.push(r.id);
        return rows.length;
      });
      return changed;
    },

    async listActivity(envId, roomId, limit) {
      const rows = await db
        .selectFrom('activity')
        .selectAll()
        .where('environment_id', '=', envId)
        .where('room_id', '=', roomId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.reverse().map(toActivity);
    },

    async addStroke(envId, roomId, stroke, limits) {
      return tx(async (trx) => {
        // A retry (its id taken by a stroke that is, or was) is answered before the size check.
        await refuseDeletedId(trx, envId, 'stroke', stroke.id);
        const taken = await trx.selectFrom('strokes').select('id').where('environment_id', '=', envId).where('id', '=', stroke.id).executeTakeFirst();
        const exists = () => new PulseError('already_exists', `A stroke with id "${stroke.id}" already exists.`);
        if (taken) throw exists();
        await insertRoomIfMissing(trx, envId, roomId, stroke.createdAt);
        const points = JSON.stringify(stroke.points);
        const grown = await trx
          .updateTable('rooms')
          .set((eb) => ({ drawing_bytes: eb('drawing_bytes', '+', points.length) }))
          .where('environment_id', '=', envId)
          .where('id', '=', roomId)
          .where((eb) => eb(eb('drawing_bytes', '+', points.length), '<=', limits.maxBytes))
          .executeTakeFirst();
        if (Number(grown.numUpdatedRows) === 0) throw new PulseError('drawing_full', `A room's drawing holds at most ${limits.maxBytes} bytes of points; clear it to draw more.`);
        const row = {
          environment_id: envId,
          id: stroke.id,
          room_id: roomId,
          user_id: stroke.userId,
          points,
          color: stroke.color,
          width: stroke.width,
          created_at: stroke.createdAt,
        };
        try {
          await trx.insertInto('strokes').values(row).execute();
        } catch (err) {
          if (isUniqueViolation(err)) throw exists();
          throw err;
        }
        // Keep the newest strokes only: the oldest beyond the cap are dropped.
        const overflow = await trx
          .selectFrom('strokes')
          .select(['id', 'points'])
          .where('environment_id', '=', envId)
          .where('room_id', '=', roomId)
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .offset(limits.maxStrokes)
          .limit(100)
          .execute();
        if (overflow.length) {
          const freed = overflow.reduce((n, o) => n + o.points.length, 0);
          await trx.deleteFrom('strokes').where('environment_id', '=', envId).where('id', 'in', overflow.map((o) => o.id)).execute();
          await trx
            .updateTable('rooms')
            .set((eb) => ({ drawing_bytes: eb('drawing_bytes', '-', freed) }))
            .where('environment_id', '=', envId)
            .where('id', '=', roomId)
            .execute();
        }
        return { value: toStroke(row), roomId, seq: await hot.bumpSeq(trx, envId, roomId) };
      }, roomOf(envId, roomId));
    },

    async getStroke(envId, strokeId) {
      const r = await db.selectFrom('strokes').selectAll().where('environment_id', '=', envId).where('id', '=', strokeId).executeTakeFirst();
      return r && { ...toStroke(r), roomId: r.room_id };
    },

    async clearDrawing(envId, roomId, effects) {
      return tx(async (trx) => {
        await insertRoomIfMissing(trx, envId, roomId, effects?.activity?.createdAt ?? new Date().toISOString());
        await recordDeletedStrokes(trx, envId, roomId, new Date().toISOString());
        const deleted = await trx.deleteFrom('strokes').where('environment_id', '=', envId).where('room_id', '=', roomId).executeTakeFirst();
        await trx.updateTable('rooms').set({ drawing_bytes: 0 }).where('environment_id', '=', envId).where('id', '=', roomId).execute();
        const { activity } = await applyEffects(hot, trx, envId, effects);
        return { value: Number(deleted.numDeletedRows), roomId, seq: await hot.bumpSeq(trx, envId, roomId), ...(activity ? { activity } : {}) };
      }, roomOf(envId, roomId));
    },

    async listStrokes(envId, roomId) {
      const rows = await db
        .selectFrom('strokes')
        .selectAll()
        .where('environment_id', '=', envId)
        .where('room_id', '=', roomId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toStroke);
    },
  };
}
