import { DEFAULT_ENV_CONFIG, envConfigSchema, type EnvConfig, type EnvironmentCounts } from '@pulse/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import { countRows } from './walk.ts';
import type { ControlRepo, EnvironmentRepo, KeyRecord, KeyRepo, NewKey } from '../types.ts';

type KeyRow = Selectable<Database['api_keys']>;

function toKey(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    environmentId: row.environment_id,
    kind: row.kind,
    prefix: row.prefix,
    value: row.value,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    status: row.revoked_at ? 'revoked' : 'active',
  };
}

/** Stored configs are merged over the defaults, so settings added later get their default. */
function readConfig(json: string): EnvConfig {
  let stored: unknown = {};
  try {
    stored = JSON.parse(json);
  } catch {
    stored = {};
  }
  const merged = { ...DEFAULT_ENV_CONFIG, ...(typeof stored === 'object' && stored ? stored : {}) };
  const parsed = envConfigSchema.safeParse(merged);
  return parsed.success ? parsed.data : { ...DEFAULT_ENV_CONFIG };
}

function keyRows(envId: string, keys: NewKey[], at: string) {
  return keys.map((k) => ({
    id: k.id,
    environment_id: envId,
    kind: k.kind,
    key_hash: k.keyHash,
    prefix: k.prefix,
    value: k.value,
    created_at: at,
    revoked_at: null,
  }));
}

export function environmentRepo(db: Kysely<Database>): EnvironmentRepo & KeyRepo & ControlRepo {
  return {
    async createEnvironment(env, keys) {
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('environments')
          .values({ id: env.id, name: env.name, config: JSON.stringify(env.config), created_at: env.createdAt })
          .execute();
        if (keys.length) await trx.insertInto('api_keys').values(keyRows(env.id, keys, env.createdAt)).execute();
      });
    },

    async listEnvironments() {
      const rows = await db.selectFrom('environments').select(['id', 'name', 'created_at']).orderBy('created_at').orderBy('id').execute();
      return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
    },

    async getEnvironment(envId) {
      const r = await db.selectFrom('environments').select(['id', 'name', 'created_at']).where('id', '=', envId).executeTakeFirst();
      return r && { id: r.id, name: r.name, createdAt: r.created_at };
    },

    async renameEnvironment(envId, name) {
      const r = await db
        .updateTable('environments')
        .set({ name })
        .where('id', '=', envId)
        .returning(['id', 'name', 'created_at'])
        .executeTakeFirst();
      return r && { id: r.id, name: r.name, createdAt: r.created_at };
    },

    async countEnvironment(envId): Promise<EnvironmentCounts> {
      const [rooms, threads, users, comments] = await Promise.all([
        countRows(db, 'rooms', envId),
        countRows(db, 'threads', envId),
        countRows(db, 'users', envId),
        countRows(db, 'comments', envId),
      ]);
      return { rooms, threads, users, comments };
    },

    async getConfig(envId) {
      const r = await db.selectFrom('environments').select('config').where('id', '=', envId).executeTakeFirst();
      return r && readConfig(r.config);
    },

    async updateConfig(envId, patch) {
      return db.transaction().execute(async (trx) => {
        const r = await trx.selectFrom('environments').select('config').where('id', '=', envId).executeTakeFirst();
        if (!r) return undefined;
        const next = envConfigSchema.parse({ ...readConfig(r.config), ...patch });
        await trx.updateTable('environments').set({ config: JSON.stringify(next) }).where('id', '=', envId).execute();
        return next;
      });
    },

    async listKeys(envId) {
      const rows = await db.selectFrom('api_keys').selectAll().where('environment_id', '=', envId).orderBy('created_at').orderBy('kind').execute();
      return rows.map(toKey);
    },

    async findKeyByHash(keyHash) {
      const r = await db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
      return r && toKey(r);
    },

    async findKey(keyId) {
      const r = await db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirst();
      return r && toKey(r);
    },

    async revokeKey(envId, keyId, at) {
      return db.transaction().execute(async (trx) => {
        const r = await trx
          .selectFrom('api_keys')
          .selectAll()
          .where('environment_id', '=', envId)
          .where('id', '=', keyId)
          .executeTakeFirst();
        if (!r) return undefined;
        if (r.revoked_at) return toKey(r);
        await trx.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', keyId).execute();
        return toKey({ ...r, revoked_at: at });
      });
    },

    async rotateKeys(envId, newKeys, at) {
      return db.transaction().execute(async (trx) => {
        const revoked = await trx
          .updateTable('api_keys')
          .set({ revoked_at: at })
          .where('environment_id', '=', envId)
          .where('revoked_at', 'is', null)
          .returningAll()
          .execute();
        await trx.insertInto('api_keys').values(keyRows(envId, newKeys, at)).execute();
        return revoked.map(toKey);
      });
    },

    async appendControlEvent(envId, kind, at) {
      const row = await db
        .insertInto('control_events')
        .values({ environment_id: envId, kind, created_at: at })
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    },

    async controlEventsAfter(id, limit) {
      const rows = await db.selectFrom('control_events').selectAll().where('id', '>', id).orderBy('id').limit(limit).execute();
      return rows.map((r) => ({ id: Number(r.id), environmentId: r.environment_id, kind: r.kind, createdAt: r.created_at }));
    },

    async lastControlEventId() {
      const r = await db
        .selectFrom('control_events')
        .select((eb) => eb.fn.max('id').as('id'))
        .executeTakeFirst();
      return Number(r?.id ?? 0);
    },
  };
}
