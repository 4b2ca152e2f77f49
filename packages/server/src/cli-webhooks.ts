import { userInfo } from 'node:os';
import { PulseError, type WebhookDeliveryInfo, type WebhookEndpointInfo } from '@pulse/protocol';
import { audit, clip } from './panel-api/audit.ts';
import type { ServerOptions } from './options.ts';
import { openContext } from './open-context.ts';
import { webhookAuditDetail } from './webhooks/audit-lines.ts';
import { WebhookService } from './webhooks/service.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from './webhooks/settings.ts';

export const WEBHOOK_USAGE = `  webhook add <envId> <url> [--events a,b] [--description text]
                                          add an endpoint; prints its signing secret (shown once)
  webhook list <envId>                    list endpoints (status, events, why one was disabled)
  webhook rm <envId> <webhookId>          remove an endpoint and its delivery log
  webhook rotate-secret <envId> <webhookId> [--expire-previous]
                                          new signing secret (shown once); the previous one also
                                          signs for 24 hours, unless --expire-previous
  webhook enable|disable <envId> <webhookId>
                                          turn delivery on or off (enabling clears why Pulse
                                          disabled it)
  webhook test <envId> <webhookId>        queue a webhook.test event and wait for the running
                                          server to deliver it
  webhook deliveries <envId> <webhookId>  the endpoint's recent deliveries
  webhook recover <envId> <webhookId> --since <ISO time>
                                          queue the events since then that it never had (it was
                                          disabled, or added later; events are kept 30 days)`;

type Out = { json: boolean; print: (human: string, data: unknown) => void };

const invalid = (message: string) => new PulseError('validation_failed', message);
const need = (value: string | undefined, what: string) => {
  if (!value) throw invalid(`missing ${what}\n\nUsage:\n${WEBHOOK_USAGE}`);
  return value;
};

function cliUser(): { cli: string } {
  try {
    return { cli: userInfo().username };
  } catch {
    return { cli: 'unknown user' };
  }
}

/** `--name value` or `--name=value` options, and the positional arguments. */
function parseOptions(args: string[], allowed: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!allowed.includes(name)) throw invalid(`unknown option "--${name}"${allowed.length ? ` (takes ${allowed.map((a) => `--${a}`).join(', ')})` : ''}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw invalid(`--${name} needs a value`);
    options[name] = value;
  }
  return { positional, options };
}

const describeEndpoint = (e: WebhookEndpointInfo) =>
  [
    `${e.id}  ${e.enabled ? 'enabled ' : 'disabled'}  ${e.url}`,
    `    events: ${e.events.length ? e.events.join(', ') : 'all'}${e.description ? `  description: ${e.description}` : ''}`,
    ...(e.previousSecretExpiresAt ? [`    the previous secret also signs until ${e.previousSecretExpiresAt}`] : []),
    ...(e.failingSince ? [`    failing since ${e.failingSince}`] : []),
    ...(e.disabledReason ? [`    ${e.disabledReason}`] : []),
  ].join('\n');

const describeDelivery = (d: WebhookDeliveryInfo) =>
  `${d.createdAt}  ${d.eventType.padEnd(20)} ${d.status.padEnd(9)} attempts=${d.attempts}` +
  `${d.lastStatusCode !== null ? ` HTTP ${d.lastStatusCode}` : ''}${d.lastLatencyMs !== null ? ` ${d.lastLatencyMs} ms` : ''}` +
  `${d.lastError && d.status !== 'succeeded' ? `  ${d.lastError}` : ''}  (${d.eventId})`;

/** `pulse webhook …`: endpoints are managed in the database; the running server(s) deliver. */
export async function webhookCommand(args: string[], out: Out, options: ServerOptions): Promise<number> {
  const [sub, ...rest] = args;
  const context = await openContext(options);
  const { store } = context;
  const settings = options.webhooks ?? DEFAULT_WEBHOOK_SETTINGS;
  const service = new WebhookService(store, settings);
  const who = cliUser();
  try {
    switch (sub) {
      case 'add': {
        const { positional, options: o } = parseOptions(rest, ['events', 'description']);
        const envId = need(positional[0], '<envId>');
        const url = need(positional[1], '<url>');
        if (positional.length > 2) throw invalid(`unexpected "${positional[2]}"`);
        const events = o.events?.split(',').map((e) => e.trim()).filter(Boolean);
        const { endpoint, secret } = await service.add(envId, { url, ...(events ? { events } : {}), ...(o.description !== undefined ? { description: o.description } : {}) });
        await audit(store, who, envId, 'webhook.created', webhookAuditDetail.created(endpoint));
        out.print(
          [describeEndpoint(endpoint), `Signing secret: ${secret}`, 'The secret is shown only this once: give it to your receiver now.'].join('\n'),
          { id: endpoint.id, url: endpoint.url, events: endpoint.events, secret },
        );
        return 0;
      }
      case 'list': {
        const envId = need(rest[0], '<envId>');
        const list = await service.list(envId);
        out.print(list.map(describeEndpoint).join('\n') || 'No webhook endpoints.', { webhooks: list });
        return 0;
      }
      case 'rm': {
        const envId = need(rest[0], '<envId>');
        const removed = await service.remove(envId, need(rest[1], '<webhookId>'));
        await audit(store, who, envId, 'webhook.deleted', webhookAuditDetail.deleted(removed));
        out.print(`Removed ${removed.id} (${removed.url})`, { id: removed.id, removed: true });
        return 0;
      }
      case 'rotate-secret': {
        const expirePrevious = rest.includes('--expire-previous');
        const [envArg, endpointArg] = rest.filter((arg) => arg !== '--expire-previous');
        const envId = need(envArg, '<envId>');
        const { endpoint, secret } = await service.rotateSecret(envId, need(endpointArg, '<webhookId>'), { expirePrevious });
        await audit(store, who, envId, 'webhook.secret_rotated', webhookAuditDetail.secretRotated(endpoint));
        const previous = endpoint.previousSecretExpiresAt
          ? `The previous secret also signs until ${endpoint.previousSecretExpiresAt}`
          : 'The previous secret stopped signing at once';
        out.print(`New signing secret for ${endpoint.id}: ${secret}\n${previous}; the new one is shown only this once.`, {
          id: endpoint.id,
          url: endpoint.url,
          events: endpoint.events,
          secret,
        });
        return 0;
      }
      case 'enable':
      case 'disable': {
        const envId = need(rest[0], '<envId>');
        const { after } = await service.update(envId, need(rest[1], '<webhookId>'), { enabled: sub === 'enable' });
        await audit(store, who, envId, 'webhook.updated', `${after.id}: ${sub}d`);
        out.print(describeEndpoint(after), { webhook: after });
        return 0;
      }
      case 'test': {
        const envId = need(rest[0], '<envId>');
        const endpointId = need(rest[1], '<webhookId>');
        const queued = await service.sendTest(envId, endpointId);
        await audit(store, who, envId, 'webhook.test_sent', endpointId);
        if (!out.json) process.stderr.write(`pulse: queued test event ${queued.eventId}; waiting for the server to deliver it…\n`);
        const deadline = Date.now() + settings.timeoutMs + 5_000;
        let delivery = queued;
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          delivery = (await service.deliveries(envId, endpointId, 200)).find((d) => d.id === queued.id) ?? delivery;
          if (delivery.attempts > 0) break;
        }
        const delivered = delivery.status === 'succeeded';
        const human =
          delivery.attempts === 0
            ? `Not attempted yet: is a Pulse server running on this database? The event stays queued and is delivered once one is.`
            : delivered
              ? `Delivered: HTTP ${delivery.lastStatusCode} in ${delivery.lastLatencyMs} ms (${delivery.eventId})`
              : `Failed: ${delivery.lastError ?? 'no answer'}${delivery.lastResponse ? ` — ${clip(delivery.lastResponse, 200)}` : ''}. Pulse retries it (${delivery.status}).`;
        out.print(human, { delivery });
        return delivered ? 0 : 1;
      }
      case 'recover': {
        const { positional, options: o } = parseOptions(rest, ['since']);
        const envId = need(positional[0], '<envId>');
        const endpointId = need(positional[1], '<webhookId>');
        const result = await service.recover(envId, endpointId, { since: need(o.since, '--since <ISO time>') });
        await audit(store, who, envId, 'webhook.recovered', webhookAuditDetail.recovered(endpointId, result));
        out.print(`Queued ${result.recovered} event${result.recovered === 1 ? '' : 's'} since ${result.since} for ${endpointId}; the running server sends them.`, result);
        return 0;
      }
      case 'deliveries': {
        const envId = need(rest[0], '<envId>');
        const list = await service.deliveries(envId, need(rest[1], '<webhookId>'));
        out.print(list.map(describeDelivery).join('\n') || 'No deliveries yet.', { deliveries: list });
        return 0;
      }
      default:
        throw invalid(`${sub ? `unknown command "webhook ${sub}"` : 'missing webhook command'}\n\nUsage:\n${WEBHOOK_USAGE}`);
    }
  } finally {
    await store.close();
  }
}
