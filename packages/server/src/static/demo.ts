import { readFile } from 'node:fs/promises';
import { colorForUser, DEFAULT_ENV_CONFIG, externalUserId, displayName, PulseError, USER_PALETTE } from '@pulse/protocol';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { assetDir } from './assets.ts';
import { hashKey, keyPrefix, newKeyId, newPublishableKey, newSecretKey, nowIso } from '../ids.ts';
import type { EnvironmentRow } from '../store/types.ts';

/** The demo page's four people, in four distinct colours (by the hash alone, two of them shared one). */
const DEMO_COLORS: Record<string, string> = { alice: USER_PALETTE[0], bob: USER_PALETTE[8], carol: USER_PALETTE[2], dave: USER_PALETTE[5] };

const DEMO = assetDir('demo', '../../../../examples/demo/');

/**
 * The demo's own environment, recognised by this id and nothing else: renaming another
 * environment to "Demo" does not make it the demo's, and renaming this one does not stop it being
 * the demo's. Generated ids are `env_` + hex, so no other environment can ever have it.
 */
export const DEMO_ENVIRONMENT_ID = 'env_demo';
export const DEMO_ENVIRONMENT_NAME = 'Demo';

/** The demo environment, created (with its own key pair) the first time it is needed. */
export async function ensureDemoEnvironment(ctx: ServerContext): Promise<EnvironmentRow> {
  const existing = await ctx.store.getEnvironment(DEMO_ENVIRONMENT_ID);
  if (existing) return existing;
  const publishableKey = newPublishableKey();
  const secretKey = newSecretKey(); // only its hash is kept: the demo mints with the key's id
  const createdAt = nowIso();
  try {
    await ctx.store.createEnvironment({ id: DEMO_ENVIRONMENT_ID, name: DEMO_ENVIRONMENT_NAME, createdAt, config: { ...DEFAULT_ENV_CONFIG } }, [
      { id: newKeyId(), kind: 'publishable', keyHash: hashKey(publishableKey), prefix: keyPrefix(publishableKey), value: publishableKey },
      { id: newKeyId(), kind: 'secret', keyHash: hashKey(secretKey), prefix: keyPrefix(secretKey), value: null },
    ]);
    // Other nodes may have cached "no such environment".
    await ctx.store.appendControlEvent(DEMO_ENVIRONMENT_ID, 'environment.created', createdAt);
    ctx.configs.invalidate(DEMO_ENVIRONMENT_ID);
  } catch (err) {
    // Another node (or request) created it first.
    const created = await ctx.store.getEnvironment(DEMO_ENVIRONMENT_ID);
    if (created) return created;
    throw err;
  }
  return (await ctx.store.getEnvironment(DEMO_ENVIRONMENT_ID))!;
}

/** The demo environment and its active keys. Never any other environment. */
async function demoEnvironment(ctx: ServerContext) {
  const env = await ensureDemoEnvironment(ctx);
  const keys = await ctx.store.listKeys(env.id);
  const pk = keys.find((k) => k.kind === 'publishable' && k.status === 'active');
  const sk = keys.find((k) => k.kind === 'secret' && k.status === 'active');
  if (!pk?.value || !sk) throw new PulseError('key_not_found', `The demo's environment (${env.id}) has no active key pair: rotate its keys.`);
  return { env, publishableKey: pk.value, secretKey: sk };
}

/**
 * /demo (only with PULSE_DEMO=on or `pulse start --demo`): a sample app page with the widget,
 * and the small backend it needs. The token route signs anyone in as any user, so it mints only
 * for the demo's own environment (DEMO_ENVIRONMENT_ID), with that environment's secret key, inside
 * the server; in your own backend the same is one call with a secret key (examples/demo/backend.mjs).
 */
export function registerDemo(app: FastifyInstance, ctx: ServerContext): void {
  // Created at start-up, so it shows in the panel (and its failure stops the start, loudly).
  app.addHook('onReady', async () => {
    await ensureDemoEnvironment(ctx);
  });
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
    const color = DEMO_COLORS[userId.data] ?? colorForUser(userId.data);
    const { token, expiresAt } = await ctx.tokens.mint(secretKey, { externalId: userId.data, name: name.data, avatar: null, color });
    return { token, expiresAt: expiresAt.toISOString() };
  });
}
