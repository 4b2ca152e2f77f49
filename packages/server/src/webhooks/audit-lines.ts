import { WEBHOOK_TEST_EVENT, type WebhookDeliveryInfo, type WebhookEndpointInfo } from '@pulse/protocol';
import { clip } from '../panel-api/audit.ts';

/** The audit log's detail for each webhook change, the same whether the panel or the CLI made it. */
export const webhookAuditDetail = {
  created: (e: WebhookEndpointInfo) => `${e.id} → ${clip(e.url)} (events: ${e.events.join(', ') || 'all'})`,
  deleted: (e: Pick<WebhookEndpointInfo, 'id' | 'url'>) => `${e.id} → ${clip(e.url)}`,
  secretRotated: (e: WebhookEndpointInfo) =>
    `${e.id} → ${clip(e.url)}; ${e.previousSecretExpiresAt ? `the previous secret signs until ${e.previousSecretExpiresAt}` : 'the previous secret stopped signing at once'}`,
  recovered: (endpointId: string, r: { recovered: number; since: string }) => `${endpointId}: ${r.recovered} events since ${r.since}`,
  testSent: (endpointId: string, d: WebhookDeliveryInfo) => (d.eventType === WEBHOOK_TEST_EVENT ? endpointId : `${endpointId}: an example ${d.eventType}`),
};
