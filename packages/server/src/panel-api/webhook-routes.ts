import type { ServerContext } from '../context.ts';
import { audit, clip } from './audit.ts';
import { webhookAuditDetail } from '../webhooks/audit-lines.ts';
import { noFields, param } from './input.ts';
import { Status, type PanelRouter } from './routing.ts';

/**
 * Webhook endpoints of an environment: Admins manage them, Members see them (never a secret: its first characters at most, `secretPrefix`).
 * Every change is written to the audit log.
 */
export function registerWebhookRoutes(router: PanelRouter, ctx: ServerContext): void {
  const { store, webhooks } = ctx;
  const ids = (params: Record<string, string>) => ({ envId: param(params.envId, 'envId', 128), id: param(params.webhookId, 'webhookId', 128) });
  const base = '/environments/:envId/webhooks';

  router.route('GET', base, 'member', async ({ params }) => ({ webhooks: await webhooks.list(param(params.envId, 'envId', 128)) }));

  router.route('POST', base, 'admin', async ({ request, params, signedIn }) => {
    const envId = param(params.envId, 'envId', 128);
    const { endpoint, secret } = await webhooks.add(envId, request.body);
    await audit(store, signedIn.admin, envId, 'webhook.created', webhookAuditDetail.created(endpoint));
    return new Status(201, { webhook: endpoint, secret });
  });

  router.route('GET', `${base}/:webhookId`, 'member', async ({ params }) => {
    const { envId, id } = ids(params);
    return { webhook: await webhooks.get(envId, id), deliveries: await webhooks.deliveries(envId, id) };
  });

  router.route('PATCH', `${base}/:webhookId`, 'admin', async ({ request, params, signedIn }) => {
    const { envId, id } = ids(params);
    const { before, after } = await webhooks.update(envId, id, request.body);
    const changes = (['url', 'description', 'enabled', 'events'] as const)
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
      .map((k) => `${k} ${clip(JSON.stringify(before[k]), 60)} → ${clip(JSON.stringify(after[k]), 60)}`)
      .join(', ');
    await audit(store, signedIn.admin, envId, 'webhook.updated', `${id}: ${changes || 'no change'}`);
    return { webhook: after };
  });

  router.route('DELETE', `${base}/:webhookId`, 'admin', async ({ request, params, signedIn }) => {
    noFields(request.body);
    const { envId, id } = ids(params);
    const removed = await webhooks.remove(envId, id);
    await audit(store, signedIn.admin, envId, 'webhook.deleted', webhookAuditDetail.deleted(removed));
    return new Status(204);
  });

  router.route('POST', `${base}/:webhookId/rotate-secret`, 'admin', async ({ request, params, signedIn }) => {
    const { envId, id } = ids(params);
    const { endpoint, secret } = await webhooks.rotateSecret(envId, id, request.body);
    await audit(store, signedIn.admin, envId, 'webhook.secret_rotated', webhookAuditDetail.secretRotated(endpoint));
    return { webhook: endpoint, secret };
  });

  router.route('POST', `${base}/:webhookId/test`, 'admin', async ({ request, params, signedIn }) => {
    const { envId, id } = ids(params);
    const delivery = await webhooks.sendTest(envId, id, request.body);
    await audit(store, signedIn.admin, envId, 'webhook.test_sent', webhookAuditDetail.testSent(id, delivery));
    return new Status(202, { delivery });
  });

  router.route('POST', `${base}/:webhookId/recover`, 'admin', async ({ request, params, signedIn }) => {
    const { envId, id } = ids(params);
    const result = await webhooks.recover(envId, id, request.body);
    await audit(store, signedIn.admin, envId, 'webhook.recovered', webhookAuditDetail.recovered(id, result));
    return new Status(202, result);
  });

  router.route('POST', `${base}/:webhookId/deliveries/:deliveryId/resend`, 'admin', async ({ request, params, signedIn }) => {
    noFields(request.body);
    const { envId, id } = ids(params);
    const deliveryId = param(params.deliveryId, 'deliveryId', 128);
    const delivery = await webhooks.resend(envId, id, deliveryId);
    await audit(store, signedIn.admin, envId, 'webhook.resent', `${id}: ${delivery.eventType} ${delivery.eventId}`);
    return new Status(202, { delivery });
  });
}
