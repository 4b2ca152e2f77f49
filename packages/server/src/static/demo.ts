import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { colorForUser, externalUserId, displayName, PulseError } from '@pulse/protocol';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';

const DEMO = fileURLToPath(new URL('../../../../examples/demo/', import.meta.url));
const DEMO_ENVIRONMENT = 'Development';

/** The environment the demo runs in: "Development", or the first one. */
async function demoEnvironment(ctx: ServerContext) {
  const envs = await ctx.store.listEnvironments();
  const env = envs.find((e) => e.name === DEMO_ENVIRONMENT) ?? envs[0];
  if (!env) throw new PulseError('environment_not_found', 'Create an environment first.');
  const keys = await ctx.store.listKeys(env.id);
  const pk = keys.find((k) => k.kind === 'publishable' && k.status === 'active');
  const sk = keys.find((k) => k.kind === 'secret' && k.status === 'active');
  if (!pk?.value || !sk) throw new PulseError('key_not_found', `The ${env.name} environment has no active key pair: rotate its keys.`);
  return { env, publishableKey: pk.value, secretKey: sk };
}

/**
 * /demo: a sample app page with the widget, and the small backend it needs. The token route
 * mints with the Development environment's active secret key inside the server; in your own
 * backend the same is one call with the secret key (see examples/demo/backend.mjs).
 */
export function registerDemo(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/demo', async (_request, reply) => reply.redirect('/demo/'));
  app.get('/demo/', async (_request, reply) => {
    const page = await readFile(DEMO + 'index.html', 'utf8');
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
  });
  app.get('/demo/api/config', async (request) => {
    const { env, publishableKey } = await demoEnvironment(ctx);
    const host = ctx.options.publicUrl ?? `${request.protocol}://${request.host}`;
    return { environment: env.name, publishableKey, endpoint: host.replace(/^http/, 'ws') };
  });
  app.post('/demo/api/token', async (request) => {
    const body = (request.body ?? {}) as { userId?: unknown; name?: unknown };
    const userId = externalUserId.safeParse(body.userId);
    const name = displayName.safeParse(body.name);
    if (!userId.success || !name.success) throw new PulseError('validation_failed', 'Send { userId, name }.');
    const { secretKey } = await demoEnvironment(ctx);
    const { token, expiresAt } = await ctx.tokens.mint(secretKey, { externalId: userId.data, name: name.data, avatar: null, color: colorForUser(userId.data) });
    return { token, expiresAt: expiresAt.toISOString() };
  });
}
