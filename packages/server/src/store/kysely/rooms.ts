import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';
import { recordRoomCreated } from './webhooks.ts';

type Db = Kysely<Database> | Transaction<Database>;

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
