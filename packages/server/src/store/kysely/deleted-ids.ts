import { PulseError } from '@pulse/protocol';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../schema.ts';
import type { DeletedId, DeletedKind } from '../types.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Deleted ids (migration 0014). A create replayed after its delete (an offline queue whose acks
 * were lost) must not bring the object back, notify again or announce it twice: its id stays
 * taken, and the handler recognises the replay as the author's own (see `deletedId`).
 */
export interface DeletedRow {
  kind: DeletedKind;
  id: string;
  roomId: string;
  threadId?: string;
  userId: string;
}

export async function recordDeleted(trx: Transaction<Database>, envId: string, rows: DeletedRow[], at: string): Promise<void> {
  if (rows.length === 0) return;
  await trx
    .insertInto('deleted_ids')
    .values(rows.map((r) => ({ environment_id: envId, kind: r.kind, id: r.id, room_id: r.roomId, thread_id: r.threadId ?? null, user_id: r.userId, deleted_at: at })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Records the comments of a thread about to be deleted. */
export async function recordDeletedComments(trx: Transaction<Database>, envId: string, threadId: string, at: string): Promise<void> {
  await trx
    .insertInto('deleted_ids')
    .columns(['environment_id', 'kind', 'id', 'room_id', 'thread_id', 'user_id', 'deleted_at'])
    .expression((eb) =>
      eb
        .selectFrom('comments')
        .select((s) => ['environment_id', s.val('comment').as('kind'), 'id', 'room_id', 'thread_id', 'user_id', s.val(at).as('deleted_at')])
        .where('environment_id', '=', envId)
        .where('thread_id', '=', threadId),
    )
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Records the strokes of a room about to be cleared (not those dropped past the room's cap: nobody deleted them). */
export async function recordDeletedStrokes(trx: Transaction<Database>, envId: string, roomId: string, at: string): Promise<void> {
  await trx
    .insertInto('deleted_ids')
    .columns(['environment_id', 'kind', 'id', 'room_id', 'thread_id', 'user_id', 'deleted_at'])
    .expression((eb) =>
      eb
        .selectFrom('strokes')
        .select((s) => ['environment_id', s.val('stroke').as('kind'), 'id', 'room_id', s.val(null).as('thread_id'), 'user_id', s.val(at).as('deleted_at')])
        .where('environment_id', '=', envId)
        .where('room_id', '=', roomId),
    )
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Throws `already_exists` when the id was used by an object since deleted. */
export async function refuseDeletedId(trx: Db, envId: string, kind: DeletedKind, id: string): Promise<void> {
  if (await deletedId(trx, envId, kind, id)) throw new PulseError('already_exists', `The ${kind} id "${id}" was used by a ${kind} since deleted.`);
}

export async function deletedId(db: Db, envId: string, kind: DeletedKind, id: string): Promise<DeletedId | undefined> {
  // Every create asks: a template, not a built query (building one costs ~3× as much as running it).
  const { rows } = await sql<{ room_id: string; thread_id: string | null; user_id: string }>`
    select room_id, thread_id, user_id from deleted_ids where environment_id = ${envId} and kind = ${kind} and id = ${id}`.execute(db);
  const r = rows[0];
  return r && { roomId: r.room_id, threadId: r.thread_id, userId: r.user_id };
}
