import { userInfo } from 'node:os';
import { escapeControls, PulseError, type WebhookDeliveryInfo, type WebhookEndpointInfo } from '@pulse/protocol';
import { audit, clip } from './panel-api/audit.ts';
import { UsageError } from './cli-errors.ts';
import { readPasswordFromStdin } from './cli-secrets.ts';
import type { ServerOptions } from './options.ts';
import { openContext } from './open-context.ts';
import { webhookAuditDetail } from './webhooks/audit-lines.ts';
import { WebhookService } from './webhooks/service.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from './webhooks/settings.ts';

export const WEBHOOK_USAGE = `  webhook add <envId> <url> [--events a,b] [--description text] [--secret-stdin]
                                          add an endpoint; prints its signing secret (shown once;
                                          with --secret-stdin, a whsec_… secret of your own, read
                                          from stdin)
  webhook list <envId>                    list endpoints (status, events, why one was disabled)
  webhook rm <envId> <webhookId>          remove an endpoint and its delivery log
  webhook rotate-secret <envId> <webhookId> [--expire-previous] [--secret-stdin]
                                          new signing secret (shown once; or your own, read from
                                          stdin); the previous one also signs for 24 hours,
                                          unless --expire-previous
  webhook enable|disable <envId> <webhookId>
                                          turn delivery on or off (enabling clears why Pulse
                                          disabled it)
  webhook test <envId> <webhookId> [--type comment.created]
                                          queue a webhook.test event (or an example event of
                                          that type) and wait for the running server to deliver it
  webhook deliveries <envId> <webhookId>  the endpoint's recent deliveries
  webhook recover <envId> <webhookId> --since <ISO time>
                                          queue the events since then that it never had (it was
                                          disabled, or added later; events are kept 30 days)`;

type Out = { json: boolean; print: (human: string, data: unknown) => void };

const usage = (message: string) => new UsageError(message, `Usage:\n${WEBHOOK_USAGE}`);
const need = (value: string | undefined, what: string) => {
  if (!value) throw usage(`missing ${what}`);
  return value;
};

/** The secret just made, shown once; one you gave is not printed back (the output may go to a log). */
const shownSecret = (secret: string, given: boolean) => (given ? `the one you gave (${secret.slice(0, 12)}…)` : secret);
const signingSecretLines = (secret: string, given: boolean) =>
  [`Signing secret: ${shownSecret(secret, given)}`, ...(given ? [] : ['The secret is shown only this once: give it to your receiver now.'])];

/** A secret of your own, piped in (on the command line it would show in the process list). */
async function readSecret(): Promise<string> {
  const secret = (await readPasswordFromStdin()).trim();
  if (!secret) throw usage('--secret-stdin: nothing on stdin (pipe the secret in: printf \'%s\' "$SECRET" | pulse webhook …)');
  return secret;
}

function cliUser(): { cli: string } {
  try {
    return { cli: userInfo().username };
  } catch {
    return { cli: 'unknown user' };
  }
}

/**
 * A subcommand's arguments: exactly the positional ones it names, `--name value` or
 * `--name=value` options it takes, and flags it takes (no value). Anything else is refused: a
 * mistyped `--expire-previous` must not quietly leave a leaked secret signing.
 */
function parseArgs(
  command: string,
  args: string[],
  positionals: string[],
  spec: { options?: string[]; flags?: string[] } = {},
): { positional: string[]; options: Record<string, string>; flags: Set<string> } {
  const { options: allowed = [], flags: allowedFlags = [] } = spec;
  const positional: string[] = [];
  const options: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      if (positional.length === positionals.length) throw usage(`webhook ${command}: unexpected "${arg}"`);
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (allowedFlags.includes(name)) {
      if (inline !== undefined) throw usage(`webhook ${command}: --${name} takes no value`);
      if (flags.has(name)) throw usage(`webhook ${command}: --${name} given twice`);
      flags.add(name);
      continue;
    }
    if (!allowed.includes(name)) {
      const takes = [...allowed, ...allowedFlags].map((a) => `--${a}`).join(', ');
      throw usage(`webhook ${command}: unknown option "--${name}"${takes ? ` (takes ${takes})` : ' (it takes none)'}`);
    }
    const value = inline ?? args[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw usage(`webhook ${command}: --${name} needs a value`);
    if (name in options) throw usage(`webhook ${command}: --${name} given twice`);
    options[name] = value;
  }
  positionals.forEach((what, i) => need(positional[i], what));
  return { positional, options, flags };
}

const describeEndpoint = (e: WebhookEndpointInfo) =>
  [
    `${e.id}  ${e.enabled ? 'enabled ' : 'disabled'}  ${escapeControls(e.url)}`,
    `    events: ${e.events.length ? e.events.join(', ') : 'all'}${e.description ? `  description: ${escapeControls(e.description)}` : ''}`,
    ...(e.previousSecretExpiresAt ? [`    the previous secret also signs until ${e.previousSecretExpiresAt}`] : []),
    ...(e.failingSince ? [`    failing since ${e.failingSince}`] : []),
    ...(e.disabledReason ? [`    ${escapeControls(e.disabledReason)}`] : []),
  ].join('\n');

const describeDelivery = (d: WebhookDeliveryInfo) =>
  `${d.createdAt}  ${(d.example ? `${d.eventType} (example)` : d.eventType).padEnd(20)} ${d.status.padEnd(9)} attempts=${d.attempts}` +
  `${d.lastStatusCode !== null ? ` HTTP ${d.lastStatusCode}` : ''}${d.lastLatencyMs !== null ? ` ${d.lastLatencyMs} ms` : ''}` +
  `${d.lastError && d.status !== 'succeeded' && d.lastError !== `HTTP ${d.lastStatusCode}` ? `  ${escapeControls(d.lastError)}` : ''}` +
  `${d.status === 'pending' && d.attempts > 0 && d.nextAttemptAt ? `  next attempt ${d.nextAttemptAt}` : ''}  (${d.eventId})`;

/** What happens next to a delivery whose attempt failed. */
const afterFailure = (d: WebhookDeliveryInfo, endpoint: { enabled: boolean; disabledReason: string | null }) =>
  !endpoint.enabled
    ? `The endpoint is disabled${endpoint.disabledReason ? ` (${escapeControls(endpoint.disabledReason)})` : ''}: nothing is sent to it until it is enabled again.`
    : d.status === 'failed'
      ? 'It is out of retries (failed): resend it from the panel once the receiver works.'
      : `Pulse retries it${d.nextAttemptAt ? ` at ${d.nextAttemptAt}` : ''} (sooner if the endpoint answers again after an outage).`;

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
        const { positional, options: o, flags } = parseArgs(sub, rest, ['<envId>', '<url>'], { options: ['events', 'description'], flags: ['secret-stdin'] });
        const [envId, url] = positional as [string, string];
        const events = o.events?.split(',').map((e) => e.trim()).filter(Boolean);
        if (events?.length === 0) throw new PulseError('validation_failed', '--events: name at least one event type (leave it out for every type)');
        const own = flags.has('secret-stdin') ? { secret: await readSecret() } : {};
        const { endpoint, secret } = await service.add(envId, { url, ...(events ? { events } : {}), ...(o.description !== undefined ? { description: o.description } : {}), ...own });
        await audit(store, who, envId, 'webhook.created', webhookAuditDetail.created(endpoint));
        out.print(
          [describeEndpoint(endpoint), ...signingSecretLines(secret, 'secret' in own)].join('\n'),
          { id: endpoint.id, url: endpoint.url, events: endpoint.events, secret },
        );
        return 0;
      }
      case 'list': {
        const [envId] = parseArgs(sub, rest, ['<envId>']).positional as [string];
        const list = await service.list(envId);
        out.print(list.map(describeEndpoint).join('\n') || 'No webhook endpoints.', { webhooks: list });
        return 0;
      }
      case 'rm': {
        const [envId, endpointId] = parseArgs(sub, rest, ['<envId>', '<webhookId>']).positional as [string, string];
        const removed = await service.remove(envId, endpointId);
        await audit(store, who, envId, 'webhook.deleted', webhookAuditDetail.deleted(removed));
        out.print(`Removed ${removed.id} (${escapeControls(removed.url)})`, { id: removed.id, removed: true });
        return 0;
      }
      case 'rotate-secret': {
        const { positional, flags } = parseArgs(sub, rest, ['<envId>', '<webhookId>'], { flags: ['expire-previous', 'secret-stdin'] });
        const [envId, endpointId] = positional as [string, string];
        const own = flags.has('secret-stdin') ? { secret: await readSecret() } : {};
        const { endpoint, secret } = await service.rotateSecret(envId, endpointId, { expirePrevious: flags.has('expire-previous'), ...own });
        await audit(store, who, envId, 'webhook.secret_rotated', webhookAuditDetail.secretRotated(endpoint));
        const previous = endpoint.previousSecretExpiresAt
          ? `The previous secret also signs until ${endpoint.previousSecretExpiresAt}`
          : 'The previous secret stopped signing at once';
        const given = 'secret' in own;
        out.print(`New signing secret for ${endpoint.id}: ${shownSecret(secret, given)}\n${previous}${given ? '.' : '; the new one is shown only this once.'}`, {
          id: endpoint.id,
          url: endpoint.url,
          events: endpoint.events,
          secret,
        });
        return 0;
      }
      case 'enable':
      case 'disable': {
        const [envId, endpointId] = parseArgs(sub, rest, ['<envId>', '<webhookId>']).positional as [string, string];
        const { after } = await service.update(envId, endpointId, { enabled: sub === 'enable' });
        await audit(store, who, envId, 'webhook.updated', `${after.id}: ${sub}d`);
        out.print(describeEndpoint(after), { webhook: after });
        return 0;
      }
      case 'test': {
        const { positional, options: o } = parseArgs(sub, rest, ['<envId>', '<webhookId>'], { options: ['type'] });
        const [envId, endpointId] = positional as [string, string];
        const queued = await service.sendTest(envId, endpointId, o.type === undefined ? {} : { type: o.type });
        await audit(store, who, envId, 'webhook.test_sent', webhookAuditDetail.testSent(endpointId, queued));
        if (!out.json) process.stderr.write(`pulse: queued ${queued.eventType} event ${queued.eventId}; waiting for the server to deliver it…\n`);
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
              : `Failed: ${escapeControls(delivery.lastError ?? 'no answer')}${delivery.lastResponse ? ` — ${escapeControls(clip(delivery.lastResponse, 200))}` : ''}. ${afterFailure(delivery, await service.get(envId, endpointId))}`;
        out.print(human, { delivery });
        return delivered ? 0 : 1;
      }
      case 'recover': {
        const { positional, options: o } = parseArgs(sub, rest, ['<envId>', '<webhookId>'], { options: ['since'] });
        const [envId, endpointId] = positional as [string, string];
        const result = await service.recover(envId, endpointId, { since: need(o.since, '--since <ISO time>') });
        await audit(store, who, envId, 'webhook.recovered', webhookAuditDetail.recovered(endpointId, result));
        out.print(`Queued ${result.recovered} event${result.recovered === 1 ? '' : 's'} since ${result.since} for ${endpointId}; the running server sends them.`, result);
        return 0;
      }
      case 'deliveries': {
        const [envId, endpointId] = parseArgs(sub, rest, ['<envId>', '<webhookId>']).positional as [string, string];
        const list = await service.deliveries(envId, endpointId);
        out.print(list.map(describeDelivery).join('\n') || 'No deliveries yet.', { deliveries: list });
        return 0;
      }
      default:
        throw usage(sub ? `unknown command "webhook ${sub}"` : 'missing webhook command');
    }
  } finally {
    await store.close();
  }
}
