import type { FileLinks } from '../files/links.ts';
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
  // Only the driver in use is loaded (pg or better-sqlite3): a CLI call stays fast.
  const store = config.databaseUrl
    ? await (await import('./postgres.ts')).openPostgresStore({
        connectionString: config.databaseUrl,
        ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
        ...(config.links ? { links: config.links } : {}),
      })
    : (await import('./sqlite.ts')).openSqliteStore({ file: config.sqliteFile, synchronous: config.sqliteSynchronous ?? 'normal', ...(config.links ? { links: config.links } : {}) });
  await store.migrate();
  return store;
}
