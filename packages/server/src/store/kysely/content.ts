import { colorForUser, PulseError, type Attachment, type Comment, type Reaction, type Thread, type User } from '@pulse/protocol';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { isUniqueViolation } from '../errors.ts';
import { toPage } from '../paging.ts';
import type { FileLinks } from '../../files/links.ts';
import { deletedId, recordDeleted, type DeletedRow, recordDeletedComments, refuseDeletedId } from './deleted-ids.ts';
import { applyAttach, attachmentsOfComments, attachmentsOfRoom, groupAttachments, removeAttachmentsOf } from './attachments.ts';
import { applyEffects, storedNotifications, toActivity, toActivityRow, toNotificationRows } from './realtime.ts';
import type { HotStatements } from './hot-statements.ts';
import { commentsOfRoom, insertRoomIfMissing } from './rooms.ts';
import { contentCost } from './room-content.ts';
import type { Database } from '../schema.ts';
import { roomOf, type WriteTx } from './writer.ts';
import type { ParticipantsCache } from '../participants-cache.ts';
import type { Effects, PageRequest, RoomRepo, ThreadRepo, UserProfile, UserRepo } from '../types.ts';
import { firstUsers } from './walk.ts';
import { contains, startsWith } from './like.ts';

type Db = Kysely<Database> | Transaction<Database>;
type ThreadRow = Selectable<Database['threads']>;
type CommentRow = Selectable<Database['comments']>;
type ReactionRow = Selectable<Database['reactions']>;
type UserRow = Selectable<Database['users']>;

/**
 * A user search (the widget's @mention suggestions) returns the best by name of the first this
 * many matches in id order: in an environment of millions it stops early, and typing narrows it.
 */
const SEARCH_POOL = 50;

const toUser = (envId: string, r: UserRow): User => ({
  id: `${envId}:${r.external_id}`,
  externalId: r.external_id,
  name: r.name,
  avatar: r.avatar,
  color: r.color,
  createdAt: r.created_at,
});

function toThread(r: ThreadRow): Thread {
  const position = r.position ? JSON.parse(r.position) : null;
  return {
    id: r.id,
    roomId: r.room_id,
    resolved: r.resolved === 1,
    position,
    positionX: position ? position.x : null,
    positionY: position ? position.y : null,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const toReaction = (r: ReactionRow): Reaction => ({
  id: r.id,
  targetId: r.comment_id,
  targetType: 'comment',
  userId: r.user_id,
  emoji: r.emoji,
  createdAt: r.created_at,
});

function toComment(r: CommentRow, reactions: Reaction[] = [], attachments: Attachment[] = []): Comment {
  return {
    id: r.id,
    threadId: r.thread_id,
    userId: r.user_id,
    body: r.body,
    mentions: JSON.parse(r.mentions),
    createdAt: r.created_at,
    editedAt: r.edited_at,
    reactions,
    attachments,
  };
}

/** Rows after the cursor in (created_at, id) order. */
function afterCursor<QB extends { where: (...args: any[]) => QB }>(qb: QB, page: PageRequest, idColumn = 'id'): QB {
  const after = page.after;
  if (!after) return qb;
  return qb.where((eb: any) =>
    eb.or([eb('created_at', '>', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb(idColumn, '>', after.id)])]),
  );
}

/** Reactions by the comment they are on, in the order given. */
function groupReactions(rows: ReactionRow[]): Map<string, Reaction[]> {
  const map = new Map<string, Reaction[]>();
  for (const r of rows) {
    const list = map.get(r.comment_id);
    if (list) list.push(toReaction(r));
    else map.set(r.comment_id, [toReaction(r)]);
  }
  return map;
}

async function reactionsByComment(db: Db, envId: string, commentIds: string[]): Promise<Map<string, Reaction[]>> {
  if (commentIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('reactions')
    .selectAll()
    .where('environment_id', '=', envId)
    .where('comment_id', 'in', commentIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return groupReactions(rows);
}

/** Comments with their reactions and attachments. */
export async function withExtras(db: Db, envId: string, rows: CommentRow[], links: FileLinks): Promise<Comment[]> {
  const ids = rows.map((r) => r.id);
  const [reactions, attachments] = await Promise.all([reactionsByComment(db, envId, ids), attachmentsOfComments(db, envId, ids, links)]);
  return rows.map((r) => toComment(r, reactions.get(r.id) ?? [], attachments.get(r.id) ?? []));
}

/** A comment just inserted: it has no reactions yet, and attachments only if the change attached some. */
async function freshComment(trx: Db, envId: string, row: CommentRow, effects: Effects | undefined, links: FileLinks): Promise<Comment> {
  const attachments = effects?.attach?.ids.length ? ((await attachmentsOfComments(trx, envId, [row.id], links)).get(row.id) ?? []) : [];
  return toComment(row, [], attachments);
}

/** Effects are prepared before the room of the object is known; the store fills it in. */
function withRoom(effects: Effects | undefined, roomId: string): Effects | undefined {
  if (!effects) return undefined;
  return {
    ...(effects.activity ? { activity: { ...effects.activity, roomId } } : {}),
    ...(effects.notifications ? { notifications: effects.notifications.map((n) => ({ ...n, roomId })) } : {}),
    ...(effects.webhooks ? { webhooks: effects.webhooks.map((w) => ({ ...w, roomId })) } : {}),
  };
}

async function upsertUserRow(db: Db, envId: string, profile: UserProfile, at: string): Promise<UserRow> {
  return db
    .insertInto('users')
    .values({
      environment_id: envId,
      external_id: profile.externalId,
      name: profile.name,
      avatar: profile.avatar,
      color: profile.color ?? colorForUser(profile.externalId),
      created_at: at,
      updated_at: at,
      ...(profile.email !== undefined ? { email: profile.email } : {}),
    })
    .onConflict((oc) =>
      oc.columns(['environment_id', 'external_id']).doUpdateSet((eb) => ({
        name: eb.ref('excluded.name'),
        avatar: eb.ref('excluded.avatar'),
        updated_at: eb.ref('excluded.updated_at'),
        ...(profile.color ? { color: eb.ref('excluded.color') } : {}),
        ...(profile.email !== undefined ? { email: eb.ref('excluded.email') } : {}),
      })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function contentRepo(
  db: Kysely<Database>,
  links: FileLinks,
  tx: WriteTx,
  hot: HotStatements,
  /** Where only this process writes comments (SQLite). */
  participants?: ParticipantsCache,
): UserRepo & RoomRepo & ThreadRepo {

  return {
    async upsertUser(envId, profile, at) {
      return tx(async (trx) => {
        const row = await upsertUserRow(trx, envId, profile, at);
        // Seen today: what "active users per day" counts.
        await trx
          .insertInto('user_days')
          .values({ environment_id: envId, user_id: profile.externalId, day: at.slice(0, 10) })
          .onConflict((oc) => oc.columns(['environment_id', 'day', 'user_id']).doNothing())
          .execute();
        return toUser(envId, row);
      });
    },

    async unchangedUser(envId, profile, day) {
      const found = await hot.userAndDay(db, envId, profile.externalId, day);
      if (!found?.seen) return undefined;
      const { row } = found;
      const same =
        row.name === profile.name &&
        row.avatar === profile.avatar &&
        (profile.color === undefined || row.color === profile.color) &&
        (profile.email === undefined || row.email === profile.email);
      return same ? toUser(envId, row) : undefined;
    },

    async getUser(envId, externalId) {
      const r = await db.selectFrom('users').selectAll().where('environment_id', '=', envId).where('external_id', '=', externalId).executeTakeFirst();
      return r && toUser(envId, r);
    },

    async getUsers(envId, externalIds) {
      if (externalIds.length === 0) return [];
      const rows = await db.selectFrom('users').selectAll().where('environment_id', '=', envId).where('external_id', 'in', externalIds).execute();
      return rows.map((r) => toUser(envId, r));
    },

    async listUsers(envId, page) {
      const rows = await afterCursor(db.selectFrom('users').selectAll().where('environment_id', '=', envId), page, 'external_id')
        .orderBy('created_at')
        .orderBy('external_id')
        .limit(page.limit + 1)
        .execute();
      return toPage(
        rows.map((r) => ({ ...r, id: r.external_id })),
        page.limit,
        (r) => toUser(envId, r),
      );
    },

    async searchUsers(envId, text, limit) {
      const match = sql<boolean>`(${contains('t.name', text)} or ${startsWith('t.external_id', text)})`;
      const matches = await firstUsers(db, envId, match, Math.max(limit, SEARCH_POOL));
      const byName = (a: UserRow, b: UserRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.external_id < b.external_id ? -1 : 1);
      return matches.sort(byName).slice(0, limit).map((r) => toUser(envId, r));
    },

    async ensureRoom(envId, roomId, at) {
      await insertRoomIfMissing(db, envId, roomId, at);
      const r = await db.selectFrom('rooms').selectAll().where('environment_id', '=', envId).where('id', '=', roomId).executeTakeFirstOrThrow();
      return { id: r.id, environmentId: envId, metadata: r.metadata ? JSON.parse(r.metadata) : null, createdAt: r.created_at };
    },

    async getRoom(envId, roomId) {
      const r = await db.selectFrom('rooms').selectAll().where('environment_id', '=', envId).where('id', '=', roomId).executeTakeFirst();
      return r && { id: r.id, environmentId: envId, metadata: r.metadata ? JSON.parse(r.metadata) : null, createdAt: r.created_at, seq: Number(r.seq) };
    },

    roomSeq(envId, roomId) {
      return hot.roomSeq(db, envId, roomId);
    },

    async listRooms(envId, page) {
      const rows = await afterCursor(db.selectFrom('rooms').selectAll().where('environment_id', '=', envId), page)
        .orderBy('created_at')
        .orderBy('id')
        .limit(page.limit + 1)
        .execute();
      return toPage(rows, page.limit, (r) => ({
        id: r.id,
        environmentId: envId,
        metadata: r.metadata ? JSON.parse(r.metadata) : null,
        createdAt: r.created_at,
      }));
    },

    async createThread(envId, thread, first, effects) {
      try {
        const created = await tx(async (trx) => {
          await insertRoomIfMissing(trx, envId, thread.roomId, thread.createdAt);
          const threadRow = await trx
            .insertInto('threads')
            .values({
              environment_id: envId,
              id: thread.id,
              room_id: thread.roomId,
              resolved: 0,
              position: thread.position ? JSON.stringify(thread.position) : null,
              created_by: thread.createdBy,
              created_at: thread.createdAt,
              updated_at: thread.createdAt,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          const commentRow = await trx
            .insertInto('comments')
            .values({
              environment_id: envId,
              id: first.id,
              thread_id: thread.id,
              room_id: thread.roomId,
              user_id: first.userId,
              body: first.body,
              mentions: JSON.stringify(first.mentions),
              created_at: first.createdAt,
              edited_at: null,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          // After the inserts: on PostgreSQL they wait for a concurrent delete of these ids to commit.
          await refuseDeletedId(trx, envId, 'thread', thread.id);
          await refuseDeletedId(trx, envId, 'comment', first.id);
          await applyAttach(trx, envId, first.id, effects?.attach, false);
          const growth =
            contentCost.thread({ id: thread.id, roomId: thread.roomId, createdBy: thread.createdBy, positionJson: threadRow.position }) +
            contentCost.comment({ ...first, threadId: thread.id, mentionsJson: commentRow.mentions }, effects?.attach?.ids.length);
          const seq = await hot.bumpSeq(trx, envId, thread.roomId, growth);
          const comment = await freshComment(trx, envId, commentRow, effects, links);
          const value = { ...toThread(threadRow), comments: [comment] };
          const applied = await applyEffects(hot, trx, envId, withRoom(effects, thread.roomId), { kind: 'threadWithComments', id: thread.id, object: value });
          return { value, roomId: thread.roomId, seq, ...applied };
        }, roomOf(envId, thread.roomId));
        participants?.added(envId, thread.id, first.userId);
        return created;
      } catch (err) {
        if (isUniqueViolation(err)) {
          // Which id was taken: the constraint (PostgreSQL) or the columns (SQLite) name the table.
          const onComment = /comments/.test(`${(err as Error).message} ${(err as { constraint?: string }).constraint ?? ''}`);
          throw new PulseError('already_exists', onComment ? `A comment with id "${first.id}" already exists.` : `A thread with id "${thread.id}" already exists.`);
        }
        throw err;
      }
    },

    async getThread(envId, threadId) {
      const r = await db.selectFrom('threads').selectAll().where('environment_id', '=', envId).where('id', '=', threadId).executeTakeFirst();
      return r && toThread(r);
    },

    async threadOwner(envId, threadId) {
      const r = await db.selectFrom('threads').select(['room_id', 'created_by']).where('environment_id', '=', envId).where('id', '=', threadId).executeTakeFirst();
      return r && { roomId: r.room_id, userId: r.created_by };
    },

    async getThreadWithComments(envId, threadId) {
      const found = await hot.threadRows(db, envId, threadId);
      if (!found) return undefined;
      const reactions = groupReactions(found.reactions as ReactionRow[]);
      const attachments = groupAttachments(envId, found.attachments as never, links);
      const comments = found.comments.map((c) => toComment(c as CommentRow, reactions.get(c.id) ?? [], attachments.get(c.id) ?? []));
      return { ...toThread(found.thread as ThreadRow), comments };
    },

    async listThreads(envId, roomId, filter, page) {
      let q = db.selectFrom('threads').selectAll().where('environment_id', '=', envId).where('room_id', '=', roomId);
      if (filter.resolved !== undefined) q = q.where('resolved', '=', filter.resolved ? 1 : 0);
      const rows = await afterCursor(q, page).orderBy('created_at').orderBy('id').limit(page.limit + 1).execute();
      return toPage(rows, page.limit, toThread);
    },

    async listRoomThreadsWithComments(envId, roomId) {
      const [threads, comments, reactions, attachments] = await Promise.all([
        db.selectFrom('threads').selectAll().where('environment_id', '=', envId).where('room_id', '=', roomId).orderBy('created_at').orderBy('id').execute(),
        commentsOfRoom(db, envId, roomId).selectAll('c').orderBy('c.created_at').orderBy('c.id').execute(),
        db.selectFrom('reactions').selectAll().where('environment_id', '=', envId).where('room_id', '=', roomId).orderBy('created_at').orderBy('id').execute(),
        attachmentsOfRoom(db, envId, roomId, links),
      ]);
      const reactionsOf = groupReactions(reactions);
      const commentsByThread = new Map<string, Comment[]>();
      for (const c of comments) {
        const list = commentsByThread.get(c.thread_id) ?? [];
        list.push(toComment(c, reactionsOf.get(c.id) ?? [], attachments.get(c.id) ?? []));
        commentsByThread.set(c.thread_id, list);
      }
      return threads.map((t) => ({ ...toThread(t), comments: commentsByThread.get(t.id) ?? [] }));
    },

    async setThreadResolved(envId, threadId, resolved, at, effects) {
      return tx(async (trx) => {
        const r = await trx
          .updateTable('threads')
          .set({ resolved: resolved ? 1 : 0, updated_at: hot.threadTimeNotBefore(at) })
          .where('environment_id', '=', envId)
          .where('id', '=', threadId)
          .returningAll()
          .executeTakeFirst();
        if (!r) return undefined;
        const seq = await hot.bumpSeq(trx, envId, r.room_id);
        return { value: toThread(r), roomId: r.room_id, seq, ...(await applyEffects(hot, trx, envId, withRoom(effects, r.room_id))) };
      });
    },

    async deleteThread(envId, threadId, effects) {
      const deleted = await tx(async (trx) => {
        const at = new Date().toISOString();
        await recordDeletedComments(trx, envId, threadId, at);
        const commentIds = await trx.selectFrom('comments').select('id').where('environment_id', '=', envId).where('thread_id', '=', threadId).execute();
        const removedAttachments = await removeAttachmentsOf(trx, envId, commentIds.map((c) => c.id));
        // Not a cascade: see migration 0011.
        await trx
          .deleteFrom('notifications')
          .where('environment_id', '=', envId)
          .where('comment_id', 'in', (eb) => eb.selectFrom('comments').select('id').where('environment_id', '=', envId).where('thread_id', '=', threadId))
          .execute();
        const r = await trx.deleteFrom('threads').where('environment_id', '=', envId).where('id', '=', threadId).returningAll().executeTakeFirst();
        if (!r) return undefined;
        await rewriteActivityPreviews(trx, envId, r.room_id, { threadId }, r.created_at, null);
        await recordDeleted(trx, envId, [{ kind: 'thread', id: r.id, roomId: r.room_id, userId: r.created_by }], at);
        const seq = await hot.bumpSeq(trx, envId, r.room_id);
        return { value: toThread(r), roomId: r.room_id, seq, removedAttachments, ...(await applyEffects(hot, trx, envId, withRoom(effects, r.room_id))) };
      });
      participants?.forget(envId, threadId);
      return deleted;
    },

    async threadParticipants(envId, threadId) {
      const load = () => hot.participants(db, envId, threadId);
      return participants ? participants.get(envId, threadId, load) : load();
    },

    async createComment(envId, comment, effects) {
      try {
        const created = await tx(async (trx) => {
          const activity = effects?.activity && toActivityRow(envId, effects.activity);
          const notifications = toNotificationRows(envId, effects?.notifications ?? []);
          const mentions = JSON.stringify(comment.mentions);
          const attachments = effects?.attach?.ids.length ?? 0;
          const contentBytes = contentCost.comment({ ...comment, mentionsJson: mentions }, attachments);
          const attachmentBytes = contentCost.attachments(attachments);
          const written = await hot.insertReply(trx, envId, { ...comment, mentions, contentBytes, attachmentBytes, activity, notifications });
          if (!written) throw new PulseError('thread_not_found');
          // After the insert: on PostgreSQL it waits for a concurrent delete of this id to commit.
          await refuseDeletedId(trx, envId, 'comment', comment.id);
          const { roomId, seq } = written;
          const row: CommentRow = {
            environment_id: envId,
            id: comment.id,
            thread_id: comment.threadId,
            room_id: roomId,
            user_id: comment.userId,
            body: comment.body,
            mentions,
            created_at: written.at,
            edited_at: null,
          };
          await applyAttach(trx, envId, comment.id, effects?.attach, false);
          const created = await freshComment(trx, envId, row, effects, links);
          const { webhooks } = withRoom(effects, roomId) ?? {};
          if (webhooks) await applyEffects(hot, trx, envId, { webhooks }, { kind: 'comment', id: comment.id, object: created });
          return {
            value: created,
            roomId,
            seq,
            activity: activity && toActivity({ ...activity, room_id: roomId }),
            notifications: storedNotifications(notifications.map((n) => ({ ...n, room_id: roomId }))),
          };
        }, roomOf(envId, comment.roomId));
        participants?.added(envId, comment.threadId, comment.userId);
        return created;
      } catch (err) {
        if (isUniqueViolation(err)) throw new PulseError('already_exists', `A comment with id "${comment.id}" already exists.`);
        throw err;
      }
    },

    deletedId(envId, kind, id) {
      return deletedId(db, envId, kind, id);
    },

    async commentOwner(envId, commentId) {
      const r = await db.selectFrom('comments').select(['thread_id', 'room_id', 'user_id']).where('environment_id', '=', envId).where('id', '=', commentId).executeTakeFirst();
      return r && { threadId: r.thread_id, roomId: r.room_id, userId: r.user_id };
    },

    async commentRoom(envId, commentId) {
      const r = await db.selectFrom('comments').select('room_id').where('environment_id', '=', envId).where('id', '=', commentId).executeTakeFirst();
      return r?.room_id;
    },

    async getComment(envId, commentId) {
      const r = await db.selectFrom('comments').selectAll().where('environment_id', '=', envId).where('id', '=', commentId).executeTakeFirst();
      if (!r) return undefined;
      return (await withExtras(db, envId, [r], links))[0];
    },

    async listComments(envId, threadId, page) {
      const rows = await afterCursor(
        db.selectFrom('comments').selectAll().where('environment_id', '=', envId).where('thread_id', '=', threadId),
        page,
      )
        .orderBy('created_at')
        .orderBy('id')
        .limit(page.limit + 1)
        .execute();
      const result = toPage(rows, page.limit, (r) => r);
      return { items: await withExtras(db, envId, result.items, links), nextCursor: result.nextCursor };
    },

    async updateComment(envId, commentId, change, at, effects) {
      return tx(async (trx) => {
        const before = await trx.selectFrom('comments').select(['body', 'mentions']).where('environment_id', '=', envId).where('id', '=', commentId).executeTakeFirst();
        if (!before) return undefined;
        const mentions = JSON.stringify(change.mentions);
        const attached = effects?.attach ? await trx.selectFrom('attachments').select('id').where('environment_id', '=', envId).where('comment_id', '=', commentId).execute() : [];
        const added = effects?.attach?.ids.filter((id) => !attached.some((a) => a.id === id)).length ?? 0;
        const growth = contentCost.text(change.body, mentions) - contentCost.text(before.body, before.mentions) + contentCost.attachments(added);
        const r = await trx
          .updateTable('comments')
          .set({ body: change.body, mentions, edited_at: at })
          .where('environment_id', '=', envId)
          .where('id', '=', commentId)
          .returningAll()
          .executeTakeFirst();
        if (!r) return undefined;
        await trx.updateTable('threads').set({ updated_at: hot.threadTimeNotBefore(at) }).where('environment_id', '=', envId).where('id', '=', r.thread_id).execute();
        // Notifications and the activity feed show the comment as it reads now (also in emails and
        // notification.unread): a moderator's edit removes the old text everywhere.
        await trx.updateTable('notifications').set({ preview: change.preview }).where('environment_id', '=', envId).where('comment_id', '=', commentId).execute();
        await rewriteActivityPreviews(trx, envId, r.room_id, { commentId }, r.created_at, change.preview);
        const removedAttachments = await applyAttach(trx, envId, commentId, effects?.attach, true);
        const [comment] = await withExtras(trx, envId, [r], links);
        const seq = await hot.bumpSeq(trx, envId, r.room_id, growth);
        const written = { kind: 'comment' as const, id: commentId, object: comment };
        return { value: comment!, roomId: r.room_id, seq, removedAttachments, ...(await applyEffects(hot, trx, envId, withRoom(effects, r.room_id), written)) };
      });
    },

    async deleteComment(envId, commentId, effects, ifThreadDeleted) {
      const deleted = await tx(async (trx) => {
        const removedAttachments = await removeAttachmentsOf(trx, envId, [commentId]);
        // Not a cascade: see migration 0011.
        await trx.deleteFrom('notifications').where('environment_id', '=', envId).where('comment_id', '=', commentId).execute();
        const r = await trx.deleteFrom('comments').where('environment_id', '=', envId).where('id', '=', commentId).returningAll().executeTakeFirst();
        if (!r) return undefined;
        await rewriteActivityPreviews(trx, envId, r.room_id, { commentId }, r.created_at, null);
        const left = await trx
          .selectFrom('comments')
          .select('id')
          .where('environment_id', '=', envId)
          .where('thread_id', '=', r.thread_id)
          .limit(1)
          .executeTakeFirst();
        const at = new Date().toISOString();
        const deleted: DeletedRow[] = [{ kind: 'comment', id: r.id, roomId: r.room_id, threadId: r.thread_id, userId: r.user_id }];
        if (!left) {
          const thread = await trx.deleteFrom('threads').where('environment_id', '=', envId).where('id', '=', r.thread_id).returning('created_by').executeTakeFirst();
          if (thread) deleted.push({ kind: 'thread', id: r.thread_id, roomId: r.room_id, userId: thread.created_by });
          if (ifThreadDeleted) await applyEffects(hot, trx, envId, withRoom({ webhooks: ifThreadDeleted }, r.room_id));
        }
        await recordDeleted(trx, envId, deleted, at);
        const seq = await hot.bumpSeq(trx, envId, r.room_id);
        return {
          value: { comment: toComment(r), threadDeleted: !left },
          roomId: r.room_id,
          seq,
          removedAttachments,
          ...(await applyEffects(hot, trx, envId, withRoom(effects, r.room_id))),
        };
      });
      if (deleted) participants?.forget(envId, deleted.value.comment.threadId);
      return deleted;
    },

    async addReaction(envId, reaction, effects) {
      const attempt = () =>
        tx(async (trx) => {
          const comment = await trx
            .selectFrom('comments')
            .select('room_id')
            .where('environment_id', '=', envId)
            .where('id', '=', reaction.commentId)
            .executeTakeFirst();
          if (!comment) throw new PulseError('comment_not_found');
          const existing = await trx
            .selectFrom('reactions')
            .selectAll()
            .where('environment_id', '=', envId)
            .where('comment_id', '=', reaction.commentId)
            .where('user_id', '=', reaction.userId)
            .where('emoji', '=', reaction.emoji)
            .executeTakeFirst();
          if (existing) {
            const room = await trx.selectFrom('rooms').select('seq').where('environment_id', '=', envId).where('id', '=', comment.room_id).executeTakeFirstOrThrow();
            return { value: { reaction: toReaction(existing), created: false }, roomId: comment.room_id, seq: Number(room.seq) };
          }
          const row = await trx
            .insertInto('reactions')
            .values({
              environment_id: envId,
              id: reaction.id,
              comment_id: reaction.commentId,
              room_id: comment.room_id,
              user_id: reaction.userId,
              emoji: reaction.emoji,
              created_at: reaction.createdAt,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await applyEffects(hot, trx, envId, withRoom(effects, comment.room_id));
          return { value: { reaction: toReaction(row), created: true }, roomId: comment.room_id, seq: await hot.bumpSeq(trx, envId, comment.room_id, contentCost.reaction(reaction)) };
        });
      try {
        return await attempt();
      } catch (err) {
        // A concurrent identical reaction won the race: the retry finds and returns it.
        if (isUniqueViolation(err)) return attempt();
        throw err;
      }
    },

    async getReaction(envId, reactionId) {
      const r = await db.selectFrom('reactions').selectAll().where('environment_id', '=', envId).where('id', '=', reactionId).executeTakeFirst();
      return r && toReaction(r);
    },

    async deleteReaction(envId, reactionId, effects) {
      return tx(async (trx) => {
        const r = await trx.deleteFrom('reactions').where('environment_id', '=', envId).where('id', '=', reactionId).returningAll().executeTakeFirst();
        if (!r) return undefined;
        await applyEffects(hot, trx, envId, withRoom(effects, r.room_id));
        return { value: toReaction(r), roomId: r.room_id, seq: await hot.bumpSeq(trx, envId, r.room_id) };
      });
    },
  };
}

/**
 * The feed's entries about a comment (or a thread's comments) show its current text: the new
 * preview after an edit, none once it is deleted. They were all made at or after the comment's
 * (the thread's) creation, give or take the milliseconds a reply's time is moved on to keep its
 * thread's order (see laterStamp): the feed's index (room, time) is read from a minute before
 * that, not the room's whole history.
 */
async function rewriteActivityPreviews(
  trx: Transaction<Database>,
  envId: string,
  roomId: string,
  of: { commentId: string } | { threadId: string },
  since: string,
  preview: string | null,
): Promise<void> {
  let q = trx
    .updateTable('activity')
    .set({ preview })
    .where('environment_id', '=', envId)
    .where('room_id', '=', roomId)
    .where('created_at', '>=', new Date(Date.parse(since) - 60_000).toISOString())
    .where('preview', 'is not', null);
  q = 'commentId' in of ? q.where('comment_id', '=', of.commentId) : q.where('thread_id', '=', of.threadId);
  await q.execute();
}
