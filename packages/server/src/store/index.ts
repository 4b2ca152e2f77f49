import type { FileLinks } from '../files/links.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export type { Store } from './types.ts';

export interface StoreConfig {
  databaseUrl?: string;
  databaseSchema?: string;
  sqliteFile: string;
  sqliteSynchronous?: 'normal' | 'full';
  links?: FileLinks;
}

/** PostgreSQL when a database URL is configured, otherwise the embedded SQLite file. Migrated on open. */
export async function openStore(config: StoreConfig): Promise<Store> {
  const store = config.databaseUrl
    ? await openPostgresStore({
        connectionString: config.databaseUrl,
        ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
        ...(config.links ? { links: config.links } : {}),
      })
    : openSqliteStore({ file: config.sqliteFile, synchronous: config.sqliteSynchronous ?? 'normal', ...(config.links ? { links: config.links } : {}) });
  await store.migrate();
  return store;
}
