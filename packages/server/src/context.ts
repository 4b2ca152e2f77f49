import type { PresenceEntry } from '@pulse/protocol';
import type { TokenService } from './auth/tokens.ts';
import type { CollabService } from './domain/collab.ts';
import type { ConfigCache } from './domain/config-cache.ts';
import type { EnvironmentService } from './domain/environments.ts';
import type { ServerOptions } from './options.ts';
import type { Store } from './store/index.ts';
import type { WebhookService } from './webhooks/service.ts';

/** Who answers "who is in this room right now". */
export interface PresenceReader {
  list(envId: string, roomId: string): Promise<PresenceEntry[]>;
}

/** Everything a request handler may use; built once at start-up. */
export interface ServerContext {
  options: ServerOptions;
  store: Store;
  tokens: TokenService;
  environments: EnvironmentService;
  configs: ConfigCache;
  collab: CollabService;
  presence: PresenceReader;
  /** Webhook endpoints and deliveries (panel, tests). */
  webhooks: WebhookService;
  /** True when the process has as much durable work as it accepts (WebSocket and REST alike): refuse new writes. */
  writesSaturated(): boolean;
}
