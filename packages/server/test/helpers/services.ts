import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * External services for the suites that need them. On CI (CI=true) a missing service fails
 * the run loudly; on a laptop without it the suite is skipped with a visible notice.
 */
export const PG_URL = process.env.PULSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.PULSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const onCi = process.env.CI === 'true' || process.env.CI === '1';

async function reachable(check: () => Promise<void>, name: string): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (err) {
    if (onCi) throw new Error(`${name} is required on CI but is not reachable: ${(err as Error).message}`);
    console.warn(`\n[pulse tests] SKIPPING ${name} suites: ${(err as Error).message}\n`);
    return false;
  }
}

export const postgresAvailable = await reachable(async () => {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  await client.end();
}, `PostgreSQL at ${PG_URL}`);

/** A fresh schema name for one test run. */
export const freshSchema = () => `pulse_t_${randomBytes(5).toString('hex')}`;

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}
