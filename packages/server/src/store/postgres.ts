import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { FileLinks } from '../files/links.ts';
import type { Database } from './schema.ts';
import { kyselyStore } from './kysely/index.ts';
import type { Store } from './types.ts';

export interface PostgresOptions {
  connectionString: string;
  /** Schema to use instead of `public` (created if missing); tests use a fresh one per run. */
  schema?: string;
  maxConnections?: number;
  links?: FileLinks;
}

const INT8_OID = 20;

export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  const schema = options.schema;
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name "${schema}"`);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    // count(*) and bigserial come back as int8: numbers here are far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // Without a listener an idle client's network error would crash the process.
  pool.on('error', (err) => console.error('[pulse] postgres pool error:', err.message));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  return kyselyStore(db, 'postgres', options.links ?? new FileLinks(), () => db.destroy(), schema);
}
