import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { registerAuthRoutes, type SetupState } from './auth-routes.ts';
import { registerDataRoutes } from './data-routes.ts';
import { registerSharedStatePanelRoutes } from '../p2p/panel-routes.ts';
import { registerEnvironmentRoutes } from './environment-routes.ts';
import { API, panelRouter } from './routing.ts';
import { PanelSessions } from './session.ts';
import { PANEL_DIST, registerPanelStatic } from './static.ts';
import { registerTeamRoutes } from './team-routes.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';
import { loadServerSecret } from '../auth/secret.ts';
import { KnownGoodLogins } from './known-good.ts';
import { LoginThrottle } from './throttle.ts';

export interface PanelRegistration {
  /** One-time token for the first-run setup page, when no admin exists yet. */
  setupToken?: string;
}

/** The admin panel: its API under /panel/api (docs/admin-api.md) and the built SPA at /panel. */
export async function registerPanel(app: FastifyInstance, ctx: ServerContext, options: { dist?: string } = {}): Promise<PanelRegistration> {
  const serverSecret = loadServerSecret(ctx.options.dataDir, ctx.options.secret).secret;
  const setup: SetupState = { token: (await ctx.store.countAdmins()) === 0 ? await setupToken(ctx, serverSecret) : undefined };
  const sessions = new PanelSessions(ctx.store);
  const router = panelRouter(app, sessions);

  const known = new KnownGoodLogins(serverSecret);
  registerAuthRoutes(router, ctx.store, sessions, new LoginThrottle(ctx.store), known, setup);
  registerEnvironmentRoutes(router, ctx);
  registerDataRoutes(router, ctx);
  registerSharedStatePanelRoutes(router, ctx);
  registerTeamRoutes(router, ctx.store);
  registerWebhookRoutes(router, ctx);

  // Unknown API paths, or methods, answer in JSON (404, or 405 with Allow), never with the app's HTML.
  for (const path of [`${API}/*`, API]) app.all(path, { config: { catchAll: true } }, (_request, reply) => reply.callNotFound());

  // The page itself gets a CSRF cookie, so the login and setup forms can send it back.
  registerPanelStatic(app, options.dist ?? PANEL_DIST, (reply, request) => sessions.ensureCsrfCookie(request, reply));

  return setup.token ? { setupToken: setup.token } : {};
}

/**
 * The first-run setup token. Not drawn at random per process: every node of a cluster (one
 * database, one PULSE_SECRET) must print and accept the same link, whichever node the balancer
 * sends it to. Derived from the server secret and this database's first environment (made at its
 * first start, with a random id), so another database under the same secret (a staging copy, a
 * new schema) has another token. It stops working once the first account exists.
 */
async function setupToken(ctx: ServerContext, secret: Buffer): Promise<string> {
  const [first] = await ctx.store.listEnvironments();
  const database = first ? `${first.id}\u0000${first.createdAt}` : randomBytes(16).toString('hex');
  return createHmac('sha256', secret).update(`pulse panel setup\u0000${database}`).digest('hex').slice(0, 32);
}
