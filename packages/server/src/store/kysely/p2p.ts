import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import { sharedStateStamp, type SharedStateRecord, type SharedStateRepo } from '../types.ts';
import { recordSharedStatePersisted } from './webhooks.ts';

type Row = Selectable<Database['p2p_shared_state']>;

const meta = (r: Omit<Row, 'state' | 'environment_id'>): Omit<SharedStateRecord, 'state'> => ({
  roomId: r.room_id,
  bytes: Number(r.bytes),
  version: Number(r.version),
  updatedAt: r.updated_at,
  expiresAt: r.expires_at,
});

/** Both drivers hand binary columns back as Buffers; callers get plain bytes either way. */
const bytesOf = (value: Uint8Array): Uint8Array => new Uint8Array(value.buffer, value.byteOffset, value.byteLength);

export function sharedStateRepo(db: Kysely<Database>): SharedStateRepo {
  return {
    async getSharedState(envId, roomId) {
      const row = await db
        .selectFrom('p2p_shared_state')
        .selectAll()
        .where('environment_id', '=', envId)
        .where('room_id', '=', roomId)
        .executeTakeFirst();
      return row ? { ...meta(row), state: bytesOf(row.state) } : undefined;
    },

    async sharedStateStamp(envId, roomId) {
      const row = await db.selectFrom('p2p_shared_state').select(['version', 'updated_at']).where('environment_id', '=', envId).where('room_id', '=', roomId).executeTakeFirst();
      return row ? sharedStateStamp(Number(row.version), row.updated_at) : undefined;
    },

    putSharedState(envId, roomId, { state, expectedVersion, at, expiresAt }) {
      const values = { state: Buffer.from(state), bytes: state.byteLength, updated_at: at, expires_at: expiresAt };
      // The state and its webhook event commit together.
      return db.transaction().execute(async (trx) => {
        const row =
          expectedVersion === null
            ? await trx
                .insertInto('p2p_shared_state')
                .values({ environment_id: envId, room_id: roomId, version: 1, ...values })
                .onConflict((oc) => oc.columns(['environment_id', 'room_id']).doNothing())
                .returning('version')
                .executeTakeFirst()
            : await trx
                .updateTable('p2p_shared_state')
                .set({ ...values, version: expectedVersion + 1 })
                .where('environment_id', '=', envId)
                .where('room_id', '=', roomId)
                .where('version', '=', expectedVersion)
                .returning('version')
                .executeTakeFirst();
        if (!row) return undefined;
        const version = Number(row.version);
        await recordSharedStatePersisted(trx, envId, { roomId, bytes: state.byteLength, version, updatedAt: at, expiresAt });
        return version;
      });
    },

    async deleteSharedState(envId, roomId) {
      const rows = await db
        .deleteFrom('p2p_shared_state')
        .where('environment_id', '=', envId)
        .where('room_id', '=', roomId)
        .returning('room_id')
        .execute();
      return rows.length > 0;
    },

    async deleteExpiredSharedState(now) {
      const rows = await db.deleteFrom('p2p_shared_state').where('expires_at', '<', now).returning('room_id').execute();
      return rows.length;
    },

    async listSharedState(envId, limit) {
      const rows = await db
        .selectFrom('p2p_shared_state')
        .select(['room_id', 'bytes', 'version', 'updated_at', 'expires_at'])
        .where('environment_id', '=', envId)
        .orderBy('updated_at', 'desc')
        .orderBy('room_id', 'asc')
        .limit(limit)
        .execute();
      return rows.map(meta);
    },
  };
}
