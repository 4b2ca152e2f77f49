import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { registerDemo } from './demo.ts';
import { registerDirectory } from './directory.ts';
import { registerHome } from './home.ts';
import { registerSdk } from './sdk.ts';
import { registerBoard } from './board.ts';

/** The widget bundle at /sdk, the user directory the widget asks for names, and the demo at /demo. */
export async function registerStatic(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  registerHome(app, ctx.options.demo);
  registerSdk(app);
  registerDirectory(app, ctx);
  if (ctx.options.demo) registerDemo(app, ctx);
  if (ctx.options.demo) registerBoard(app);
}
