import { PulseError, type Attachment } from '@pulse/protocol';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { FileLinks } from '../../files/links.ts';
import type { Database } from '../schema.ts';
import { commentsOfRoom } from './rooms.ts';
import type { AttachmentRecord, AttachmentRepo, Effects } from '../types.ts';

type Db = Kysely<Database> | Transaction<Database>;
type Row = Selectable<Database['attachments']>;

export function toAttachment(envId: string, r: Row, links: FileLinks): AttachmentRecord {
  const a: Attachment = {
    id: r.id,
    type: r.type,
    filename: r.filename,
    mimeType: r.mime_type,
    sizeBytes: Number(r.size_bytes),
    url: links.file(envId, r.id),
  };
  if (r.has_thumbnail) a.thumbnailUrl = links.thumbnail(envId, r.id);
  if (r.width !== null) a.width = Number(r.width);
  if (r.height !== null) a.height = Number(r.height);
  if (r.duration_ms !== null) a.durationMs = Number(r.duration_ms);
  return { ...a, userId: r.user_id, commentId: r.comment_id, createdAt: r.created_at };
}

/** The public shape, without the bookkeeping fields. */
const publicAttachment = ({ userId: _u, commentId: _c, createdAt: _t, ...a }: AttachmentRecord): Attachment => a;

export function groupAttachments(envId: string, rows: Row[], links: FileLinks): Map<string, Attachment[]> {
  const map = new Map<string, Attachment[]>();
  for (const r of rows) {
    const list = map.get(r.comment_id!) ?? [];
    list.push(publicAttachment(toAttachment(envId, r, links)));
    map.set(r.comment_id!, list);
  }
  return map;
}

export async function attachmentsOfComments(db: Db, envId: string, commentIds: string[], links: FileLinks) {
  if (commentIds.length === 0) return new Map<string, Attachment[]>();
  const rows = await db
    .selectFrom('attachments')
    .selectAll()
    .where('environment_id', '=', envId)
    .where('comment_id', 'in', commentIds)
    .orderBy('position')
    .execute();
  return groupAttachments(envId, rows, links);
}

export async function attachmentsOfRoom(db: Db, envId: string, roomId: string, links: FileLinks) {
  const rows = await commentsOfRoom(db, envId, roomId)
    .crossJoin('attachments as a')
    .whereRef('a.environment_id', '=', 'c.environment_id')
    .whereRef('a.comment_id', '=', 'c.id')
    .selectAll('a')
    .orderBy('a.position')
    .execute();
  return groupAttachments(envId, rows, links);
}

/**
 * Attaches uploads to a comment inside the change's transaction. With `replace`, the list
 * becomes the comment's whole set and rows no longer listed are removed (their ids returned).
 */
export async function applyAttach(
  trx: Db,
  envId: string,
  commentId: string,
  attach: Effects['attach'],
  replace: boolean,
): Promise<string[]> {
  if (!attach) return [];
  let removed: string[] = [];
  if (replace) {
    const current = await trx.selectFrom('attachments').select('id').where('environment_id', '=', envId).where('comment_id', '=', commentId).execute();
    removed = current.map((r) => r.id).filter((id) => !attach.ids.includes(id));
    if (removed.length) await trx.deleteFrom('attachments').where('environment_id', '=', envId).where('id', 'in', removed).execute();
  }
  for (const [position, id] of attach.ids.entries()) {
    let q = trx
      .updateTable('attachments')
      .set({ comment_id: commentId, position })
      .where('environment_id', '=', envId)
      .where('id', '=', id)
      .where((eb) => eb.or([eb('comment_id', 'is', null), eb('comment_id', '=', commentId)]));
    if (attach.userId) q = q.where('user_id', '=', attach.userId);
    const result = await q.executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) throw new PulseError('attachment_in_use', `attachmentIds: "${id}" cannot be attached (missing, someone else's, or attached elsewhere).`);
  }
  return removed;
}

/** Removes the attachment rows of comments about to be deleted; returns their ids. */
export async function removeAttachmentsOf(trx: Db, envId: string, commentIds: string[]): Promise<string[]> {
  if (commentIds.length === 0) return [];
  const rows = await trx
    .deleteFrom('attachments')
    .where('environment_id', '=', envId)
    .where('comment_id', 'in', commentIds)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

export function attachmentRepo(db: Kysely<Database>, links: FileLinks): AttachmentRepo {
  return {
    async createAttachment(envId, a) {
      const row = {
        environment_id: envId,
        id: a.id,
        user_id: a.userId,
        comment_id: null,
        type: a.type,
        filename: a.filename,
        mime_type: a.mimeType,
        size_bytes: a.sizeBytes,
        width: a.width ?? null,
        height: a.height ?? null,
        duration_ms: a.durationMs ?? null,
        has_thumbnail: a.hasThumbnail ? 1 : 0,
        position: 0,
        created_at: a.createdAt,
      };
      await db.insertInto('attachments').values(row).execute();
      return toAttachment(envId, row, links);
    },

    async getAttachment(envId, id) {
      const r = await db.selectFrom('attachments').selectAll().where('environment_id', '=', envId).where('id', '=', id).executeTakeFirst();
      return r && toAttachment(envId, r, links);
    },

    async deleteUnattachedUpload(envId, userId, id) {
      const r = await db.deleteFrom('attachments').where('environment_id', '=', envId).where('id', '=', id).where('user_id', '=', userId).where('comment_id', 'is', null).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async pendingUploads(envId, userId) {
      const r = await db
        .selectFrom('attachments')
        .select((eb) => [eb.fn.countAll<number | string>().as('count'), eb.fn.coalesce(eb.fn.sum<number | string>('size_bytes'), eb.lit(0)).as('bytes')])
        .where('environment_id', '=', envId)
        .where('user_id', '=', userId)
        .where('comment_id', 'is', null)
        .executeTakeFirstOrThrow();
      return { count: Number(r.count), bytes: Number(r.bytes) };
    },

    async staleAttachments(before, limit) {
      const rows = await db
        .selectFrom('attachments')
        .select(['environment_id', 'id'])
        .where('comment_id', 'is', null)
        .where('created_at', '<', before)
        .limit(limit)
        .execute();
      return rows.map((r) => ({ envId: r.environment_id, id: r.id }));
    },

    async deleteAttachments(envId, ids) {
      if (ids.length) await db.deleteFrom('attachments').where('environment_id', '=', envId).where('id', 'in', ids).execute();
    },
  };
}
