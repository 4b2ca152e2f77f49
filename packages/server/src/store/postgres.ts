import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { FileLinks } from '../files/links.ts';
import type { Database } from './schema.ts';
import { PREPARED_SQL } from './kysely/hot-statements.ts';
import { kyselyStore } from './kysely/index.ts';
import { SchemaScopedPostgresDialect } from './pg-dialect.ts';
import { pipelinedTransactions } from './pg-pipeline.ts';
import type { Store } from './types.ts';

export interface PostgresOptions {
  connectionString: string;
  /** Schema to use instead of `public` (created if missing); tests use a fresh one per run. */
  schema?: string;
  maxConnections?: number;
  links?: FileLinks;
}

const INT8_OID = 20;

/**
 * Runs the hot statements as named prepared statements on this connection: PostgreSQL then
 * parses and plans each once per connection instead of on every call (a comment runs several).
 */
export function prepareHotStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const names = new Map<string, string>();
  client.query = ((text: unknown, values: unknown, ...rest: unknown[]) => {
    if (typeof text === 'string' && PREPARED_SQL.has(text) && Array.isArray(values)) {
      let name = names.get(text);
      if (!name) names.set(text, (name = `pulse_${names.size}`));
      return query({ name, text, values }, ...rest);
    }
    return query(text, values, ...rest);
  }) as typeof client.query;
}

/** How the connections show in pg_stat_activity: `pulse` (reads) and `pulse-writer`, with the schema when not the default. */
export const applicationName = (role: 'pulse' | 'pulse-writer', schema: string | undefined) => (schema ? `${role}:${schema}` : role);

export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  const schema = options.schema;
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name "${schema}"`);
  const poolOptions: pg.PoolConfig = {
    connectionString: options.connectionString,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    // count(*) and bigserial come back as int8: numbers here are far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  };
  const pool = new pg.Pool({ ...poolOptions, max: options.maxConnections ?? 10, application_name: applicationName('pulse', schema) });
  // The BatchWriter's connection: one transaction at a time, its statements pipelined.
  const writerPool = new pg.Pool({ ...poolOptions, max: 1, pipeline: true, application_name: applicationName('pulse-writer', schema) });
  for (const p of [pool, writerPool]) {
    // Without a listener an idle client's network error would crash the process.
    p.on('error', (err) => console.error('[pulse] postgres pool error:', err.message));
    p.on('connect', (client) => {
      prepareHotStatements(client);
      // The pool listens only while a client is idle. A connection lost while in use fails its
      // query, and its caller sees that; the 'error' event that follows must not crash the
      // process. (The pool drops the client when it comes back.)
      client.on('error', () => undefined);
    });
  }
  const db = new Kysely<Database>({ dialect: new SchemaScopedPostgresDialect({ pool }, schema) });
  if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  // Closing twice (a restart, then the shutdown) is allowed; a pool ends once.
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await db.destroy();
      await writerPool.end();
    })());
  return kyselyStore(db, 'postgres', options.links ?? new FileLinks(), { onClose: close, schema, pipelined: await pipelinedTransactions(db, writerPool) });
}
