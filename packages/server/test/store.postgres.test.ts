import { describe, it } from 'vitest';
import { openPostgresStore } from '../src/store/postgres.ts';
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
