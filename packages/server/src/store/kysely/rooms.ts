import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

export async function insertRoomIfMissing(db: Db, envId: string, roomId: string, at: string): Promise<void> {
  await db
    .insertInto('rooms')
    .values({ environment_id: envId, id: roomId, seq: 0, metadata: null, created_at: at })
    .onConflict((oc) => oc.columns(['environment_id', 'id']).doNothing())
    .execute();
}
