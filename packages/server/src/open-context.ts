import { join } from 'node:path';
import { secureDataDir } from './data-dir.ts';
import { ConfigCache } from './domain/config-cache.ts';
import { EnvironmentService } from './domain/environments.ts';
import { FileLinks } from './files/links.ts';
import type { ServerOptions } from './options.ts';
import { openStore } from './store/index.ts';

/**
 * Storage and the environment services, without the HTTP app: what the CLI's `env`, `admin` and
 * `webhooks` commands need. Kept apart from server.ts so those commands do not load Fastify,
 * the realtime hub, media processing and the S3 client (a CLI call stays fast).
 */
export async function openContext(options: ServerOptions, links = new FileLinks()) {
  if (!options.databaseUrl) secureDataDir(options.dataDir);
  const store = await openStore({
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.databaseSchema ? { databaseSchema: options.databaseSchema } : {}),
    sqliteFile: join(options.dataDir, 'pulse.db'),
    sqliteSynchronous: options.sqliteSynchronous,
    links,
  });
  const environments = new EnvironmentService(store);
  const configs = new ConfigCache(store);
  return { store, environments, configs };
}
