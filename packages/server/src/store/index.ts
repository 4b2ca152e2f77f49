import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export type { Store } from './types.ts';

export interface StoreConfig {
  databaseUrl?: string;
  databaseSchema?: string;
  sqliteFile: string;
  sqliteSynchronous?: 'normal' | 'full';
}

/** PostgreSQL when a database URL is configured, otherwise the embedded SQLite file. Migrated on open. */
export async function openStore(config: StoreConfig): Promise<Store> {
  const store = config.databaseUrl
    ? await openPostgresStore({
        connectionString: config.databaseUrl,
        ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
      })
    : openSqliteStore({ file: config.sqliteFile, synchronous: config.sqliteSynchronous ?? 'normal' });
  await store.migrate();
  return store;
}
