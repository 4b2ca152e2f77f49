import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';

export interface PanelRegistration {
  /** One-time token for the first-run setup page, when no admin exists yet. */
  setupToken?: string;
}

/** The admin panel (static app at /panel) and its API. */
export async function registerPanel(_app: FastifyInstance, _ctx: ServerContext): Promise<PanelRegistration> {
  return {};
}
