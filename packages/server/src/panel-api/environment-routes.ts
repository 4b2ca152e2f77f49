import {
  DEFAULT_ENV_CONFIG,
  ENV_CONFIG_GROUPS,
  envConfigPatchSchema,
  LIMITS,
  PulseError,
  type EnvConfig,
} from '@pulse/protocol';
import type { ServerContext } from '../context.ts';
import { parseInput } from '../rest/validation.ts';
import type { KeyRecord } from '../store/types.ts';
import { audit, describeChanges } from './audit.ts';
import { body, noFields, PAGED, paged, pageQuery, param, text } from './input.ts';
import { Status, type PanelRouter } from './routing.ts';

/** How many days the analytics chart covers, today included. */
export const ANALYTICS_DAYS = 30;

const keyView = ({ environmentId: _env, ...key }: KeyRecord) => key;
const keyLabel = (k: KeyRecord) => `${k.kind} key ${k.prefix}…`;

/** The last `n` UTC days, oldest first, as YYYY-MM-DD. */
export function lastDays(n: number, now = new Date()): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: n }, (_, i) => new Date(today - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

/** Environments, their keys, config, analytics and audit log. */
export function registerEnvironmentRoutes(router: PanelRouter, ctx: ServerContext): void {
  const { store, environments } = ctx;
  const envParam = (params: Record<string, string>) => param(params.envId, 'envId', 128);

  router.route('GET', '/environments', 'member', async () => ({ environments: await environments.list() }));

  router.route('POST', '/environments', 'admin', async ({ request, signedIn }) => {
    const input = body(request.body, ['name']);
    const name = text(input, 'name', { max: LIMITS.environmentNameLength });
    const created = await environments.create(name);
    await audit(store, signedIn.admin, created.id, 'environment.created', `created "${created.name}" with a new key pair`);
    return new Status(201, {
      environment: await environments.get(created.id),
      publishableKey: created.publishableKey,
      secretKey: created.secretKey,
    });
  });

  router.route('GET', '/environments/:envId', 'member', async ({ params }) => ({ environment: await environments.get(envParam(params)) }));

  router.route('PATCH', '/environments/:envId', 'admin', async ({ request, params, signedIn }) => {
    const envId = envParam(params);
    const input = body(request.body, ['name']);
    const name = text(input, 'name', { max: LIMITS.environmentNameLength });
    const before = await environments.get(envId);
    const environment = await environments.rename(envId, name);
    await audit(store, signedIn.admin, envId, 'environment.renamed', `"${before.name}" → "${environment.name}"`);
    return { environment };
  });

  router.route('GET', '/environments/:envId/keys', 'member', async ({ params }) => ({
    keys: (await environments.keys(envParam(params))).map(keyView),
  }));

  router.route('POST', '/environments/:envId/keys/rotate', 'admin', async ({ request, params, signedIn }) => {
    noFields(request.body);
    const envId = envParam(params);
    const before = await environments.keys(envId);
    const pair = await environments.rotate(envId);
    const revoked = before.filter((k) => pair.revokedKeyIds.includes(k.id)).map(keyLabel);
    await audit(store, signedIn.admin, envId, 'keys.rotated', `new pair ${pair.publishableKey.slice(0, 11)}… / ${pair.secretKey.slice(0, 11)}…; revoked ${revoked.join(', ') || 'nothing'}`);
    return { publishableKey: pair.publishableKey, secretKey: pair.secretKey, revokedKeyIds: pair.revokedKeyIds };
  });

  router.route('POST', '/environments/:envId/keys/:keyId/revoke', 'admin', async ({ request, params, signedIn }) => {
    noFields(request.body);
    const envId = envParam(params);
    const keyId = param(params.keyId, 'keyId', 128);
    const target = (await environments.keys(envId)).find((k) => k.id === keyId);
    if (!target) throw new PulseError('key_not_found');
    if (target.revokedAt) throw new PulseError('validation_failed', 'keyId: this key is already revoked');
    const key = await environments.revoke(envId, target.id);
    await audit(store, signedIn.admin, envId, 'key.revoked', keyLabel(key));
    return { key: keyView(key) };
  });

  router.route('GET', '/environments/:envId/config', 'member', async ({ params }) => ({
    config: await environments.config(envParam(params)),
    defaults: DEFAULT_ENV_CONFIG,
    groups: ENV_CONFIG_GROUPS,
    // Whether this server can send email at all (PULSE_SMTP_URL): the modal warns when it cannot.
    emailSending: Boolean(ctx.options.email?.smtpUrl),
  }));

  router.route('PATCH', '/environments/:envId/config', 'admin', async ({ request, params, signedIn }) => {
    const envId = envParam(params);
    const patch = parseInput(envConfigPatchSchema, request.body);
    const before = await environments.config(envId);
    const changes = describeChanges(before, { ...before, ...patch } as EnvConfig);
    if (!changes) return { config: before };
    const config = await environments.updateConfig(envId, patch);
    await audit(store, signedIn.admin, envId, 'config.updated', changes);
    return { config };
  });

  router.route('GET', '/environments/:envId/analytics', 'member', async ({ params }) => {
    const envId = envParam(params);
    const { counts } = await environments.get(envId);
    const days = lastDays(ANALYTICS_DAYS);
    const stored = new Map((await store.dailyActivity(envId, days[0]!)).map((d) => [d.day, d]));
    return {
      counts,
      days: days.map((day) => ({ day, comments: stored.get(day)?.comments ?? 0, activeUsers: stored.get(day)?.activeUsers ?? 0 })),
    };
  }, { heavy: true });

  router.route('GET', '/environments/:envId/audit', 'member', async ({ request, params }) => {
    const envId = envParam(params);
    await environments.get(envId);
    const page = pageQuery(request.query);
    return paged(page, await store.listAudit(envId, page));
  }, { query: PAGED });
}
