import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** Increments and returns the room's sequence number; call once per change, inside its transaction. */
export async function bumpSeq(trx: Db, envId: string, roomId: string): Promise<number> {
  const r = await trx
    .updateTable('rooms')
    .set((eb) => ({ seq: eb('seq', '+', 1) }))
    .where('environment_id', '=', envId)
    .where('id', '=', roomId)
    .returning('seq')
    .executeTakeFirstOrThrow();
  return Number(r.seq);
}

export async function insertRoomIfMissing(db: Db, envId: string, roomId: string, at: string): Promise<void> {
  await db
    .insertInto('rooms')
    .values({ environment_id: envId, id: roomId, seq: 0, metadata: null, created_at: at })
    .onConflict((oc) => oc.columns(['environment_id', 'id']).doNothing())
    .execute();
}
