import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { FileLinks } from '../src/files/links.ts';
import { SchemaScopedPostgresDialect } from '../src/store/pg-dialect.ts';
import { applicationName, openPostgresStore } from '../src/store/postgres.ts';
import type { Store } from '../src/store/index.ts';
import type { ClaimedDelivery } from '../src/store/types.ts';
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

/**
 * An environment `env_<name>` with one endpoint (`wh_<name>`, every event) and a thread whose
 * `thread.created` event (`msg_<name>`) this node has claimed: the delivery it now sends fresh, no row yet.
 */
async function freshDelivery(store: Store, name: string): Promise<ClaimedDelivery> {
  const e = `env_${name}`;
  await store.createEnvironment({ id: e, name: e, createdAt: at(0), config: { ...DEFAULT_ENV_CONFIG } }, []);
  await store.createWebhookEndpoint(e, { id: `wh_${name}`, url: 'https://race.example/h', description: '', events: [], enabled: true, secret: 'whsec_RACE', createdAt: at(0) });
  await store.createThread(e, { id: `${name}-t`, roomId: `${name}-room`, position: null, createdBy: 'alice', createdAt: at(1) }, { id: `${name}-c1`, userId: 'alice', body: 'hi', mentions: [], createdAt: at(1) }, {
    webhooks: [{ id: `msg_${name}`, type: 'thread.created', actor: { type: 'backend' }, occurredAt: at(1), subject: { kind: 'threadWithComments', id: `${name}-t` }, data: {}, links: new FileLinks() }],
  });
  const { claimed } = await store.webhookPass({ at: at(100), outcomes: [], eventsDone: [], dispatch: { limit: 10, giveUpAfterMs: 3600_000, leaseUntil: at(1_000) }, claim: null });
  const [fresh] = claimed.filter((d) => d.endpointId === `wh_${name}`);
  if (!fresh) throw new Error(`no fresh delivery to wh_${name}`);
  return fresh;
}

/** Whether the store's pool has a query waiting on a lock (within 2 s). */
async function waitingOnLock(admin: pg.Client, schema: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await admin.query("select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [applicationName('pulse', schema)]);
    if (rows.length > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe.runIf(postgresAvailable)('PostgreSQL webhook claims', () => {
  it("records a fresh outcome only on a row no other node holds, even one inserted and claimed while the pass runs", () =>
    withStore(async (store, admin, schema) => {
      // This node claims the event and sends its delivery fresh (no row yet).
      const fresh = await freshDelivery(store, 'race');
      // Meanwhile another node, whose claim began once this one's lapsed, writes the delivery's row, held by it, and has not committed yet.
      await admin.query('begin');
      await admin.query(
        `insert into ${schema}.webhook_deliveries (id, environment_id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, give_up_at, claimed_until, created_at, updated_at)
         values ($1, $2, 'wh_race', 'msg_race', 'thread.created', 'pending', 0, $3, $4, $5, $3, $3)`,
        [fresh.id, fresh.environmentId, at(2_000), at(3600_000), at(9_000)],
      );
      const ok = { at: at(2_100), succeeded: true, statusCode: 204, error: null, latencyMs: 3, response: null, nextAttemptAt: null, disableIfFailingSince: at(0), outageIfFailingSince: at(0) };
      const late = store.webhookPass({ at: at(2_100), outcomes: [{ delivery: fresh, result: ok }], eventsDone: [], dispatch: null, claim: null });
      // The late pass waits on the row being inserted; then the other node commits.
      expect(await waitingOnLock(admin, schema)).toBe(true);
      await admin.query('commit');
      await late;
      // The other node's claim and row stand: its attempt decides.
      const { rows } = await admin.query(`select status, attempts, claimed_until from ${schema}.webhook_deliveries where id = $1`, [fresh.id]);
      expect(rows).toEqual([{ status: 'pending', attempts: 0, claimed_until: at(9_000) }]);
    }));

  it('recovers an endpoint\'s deliveries while a pass writes one of them, without a duplicate key error', () =>
    withStore(async (store, admin, schema) => {
      const fresh = await freshDelivery(store, 'rrace');
      // A pass writes the delivery's row (not committed yet) while an Admin recovers the endpoint's events.
      await admin.query('begin');
      await admin.query(
        `insert into ${schema}.webhook_deliveries (id, environment_id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, give_up_at, created_at, updated_at)
         values ($1, $2, 'wh_rrace', 'msg_rrace', 'thread.created', 'succeeded', 1, null, $3, $4, $4)`,
        [fresh.id, fresh.environmentId, at(3600_000), at(200)],
      );
      const recovered = store.recoverWebhookDeliveries(fresh.environmentId, 'wh_rrace', at(0), at(300), at(3600_000));
      expect(await waitingOnLock(admin, schema)).toBe(true);
      await admin.query('commit');
      expect(await recovered).toBe(0);
    }));
});
