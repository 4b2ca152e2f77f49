import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';

/** The widget bundle at /sdk and the demo at /demo. */
export async function registerStatic(_app: FastifyInstance, _ctx: ServerContext): Promise<void> {}
