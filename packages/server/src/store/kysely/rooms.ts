import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';
import { recordRoomCreated } from './webhooks.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * A room's comments, as `c`, reached through its threads (threads_room, then comments_thread):
 * comments have no index on room_id (migration 0017). A CROSS JOIN, because SQLite then keeps
 * this order; left to choose, it walked every comment of the environment by creation time.
 */
export const commentsOfRoom = (db: Db, envId: string, roomId: string) =>
  db
    .selectFrom('threads as t')
    .crossJoin('comments as c')
    .where('t.environment_id', '=', envId)
    .where('t.room_id', '=', roomId)
    .whereRef('c.environment_id', '=', 't.environment_id')
    .whereRef('c.thread_id', '=', 't.id');

export async function insertRoomIfMissing(db: Db, envId: string, roomId: string, at: string): Promise<void> {
  // Outside a change's transaction (a room made by a user joining it), the room and its
  // room.created event still commit together.
  if (!db.isTransaction) return db.transaction().execute((trx) => insertRoomIfMissing(trx, envId, roomId, at));
  const inserted = await db
    .insertInto('rooms')
    .values({ environment_id: envId, id: roomId, seq: 0, metadata: null, created_at: at })
    .onConflict((oc) => oc.columns(['environment_id', 'id']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) await recordRoomCreated(db, envId, roomId, at);
}
