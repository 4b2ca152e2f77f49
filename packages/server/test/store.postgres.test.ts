import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { SchemaScopedPostgresDialect } from '../src/store/pg-dialect.ts';
import { applicationName, openPostgresStore } from '../src/store/postgres.ts';
import type { Store } from '../src/store/index.ts';
import { dropSchema, freshSchema, PG_URL, postgresAvailable } from './helpers/services.ts';
import { describeStoreConformance } from './store.conformance.ts';

if (postgresAvailable) {
  describeStoreConformance('PostgreSQL', async () => {
    const schema = freshSchema();
    return { store: await openPostgresStore({ connectionString: PG_URL, schema }), cleanup: () => dropSchema(schema) };
  });
} else {
  describe.skip('Store conformance: PostgreSQL (not reachable)', () => it('skipped'));
}

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

/** A migrated store in a fresh schema, and a connection of our own to kill its backends with; all gone afterwards, whatever happened. */
async function withStore(test: (store: Store, admin: pg.Client, schema: string) => Promise<void>): Promise<void> {
  const schema = freshSchema();
  const store = await openPostgresStore({ connectionString: PG_URL, schema });
  const admin = new pg.Client({ connectionString: PG_URL });
  try {
    await admin.connect();
    await store.migrate();
    await test(store, admin, schema);
  } finally {
    try {
      await admin.end();
    } finally {
      try {
        await store.close();
      } finally {
        await dropSchema(schema);
      }
    }
  }
}

describe.runIf(postgresAvailable)('PostgreSQL connections', () => {
  it('fails a read whose connection is killed mid-query, without taking the process down, then reads on a new one', () =>
    withStore(async (store, admin, schema) => {
      // The read waits for a lock held here, so it is in flight when its backend is killed.
      await admin.query('begin');
      await admin.query(`lock table ${schema}.rooms in access exclusive mode`);
      const read = store.getRoom('env_w', 'room-1');
      let pid: number | undefined;
      for (let i = 0; i < 100 && pid === undefined; i++) {
        const { rows } = await admin.query<{ pid: number }>("select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [applicationName('pulse', schema)]);
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(pid).toBeDefined();
      // Expected before the kill: the read may fail before the kill's own answer arrives.
      const failed = expect(read).rejects.toThrow(/terminat/);
      await admin.query('select pg_terminate_backend($1)', [pid]);
      await failed;
      await admin.query('rollback');
      // Once the dead connection's end has arrived, the pool has let go of it.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await store.getRoom('env_w', 'room-1')).toBeUndefined();
    }));

  it('writes on after its connection is killed: a batch sent on the dead connection runs again on a new one', () =>
    withStore(async (store, admin, schema) => {
      await store.createEnvironment({ id: 'env_w', name: 'w', createdAt: at(0), config: { ...DEFAULT_ENV_CONFIG } }, []);
      const thread = (id: string) =>
        store.createThread('env_w', { id, roomId: `room-${id}`, position: null, createdBy: 'alice', createdAt: at(1) }, {
          id: `${id}-c1`, userId: 'alice', body: 'first', mentions: [], createdAt: at(1),
        });
      await thread('t1');
      const killed = await admin.query('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1', [applicationName('pulse-writer', schema)]);
      expect(killed.rows).toEqual([{ ok: true }]);
      await Promise.all([thread('t2'), thread('t3')]);
      await thread('t4');
      for (const id of ['t1', 't2', 't3', 't4']) expect((await store.getThreadWithComments('env_w', id))?.comments).toHaveLength(1);
    }));
});

describe.runIf(postgresAvailable)('PostgreSQL schemas', () => {
  it('migrates while another process creates and drops schemas in the same database', () =>
    withStore(async (store, admin, schema) => {
      // Kysely's own introspector failed about one call in a hundred here ("schema … does not exist").
      const db = new Kysely<unknown>({ dialect: new SchemaScopedPostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL, max: 1 }) }, schema) });
      let churning = true;
      let other = '';
      const churn = (async () => {
        while (churning) {
          other = freshSchema();
          await admin.query(`create schema ${other}; create table ${other}.t (id serial primary key, a text)`);
          await admin.query(`drop schema ${other} cascade`);
        }
      })();
      try {
        for (let call = 0; call < 500; call++) {
          const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
          expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([schema]));
        }
        await store.migrate();
      } finally {
        churning = false;
        await churn.catch(() => undefined);
        await dropSchema(other);
        await db.destroy();
      }
    }));
});
