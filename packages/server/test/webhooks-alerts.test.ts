import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorAlerts } from '../src/email/operator-alerts.ts';
import { optionsFromEnv } from '../src/options.ts';
import type { Store } from '../src/store/index.ts';
import { sleep, waitFor } from './helpers/clients.ts';
import { WebhookReceiver } from './helpers/receivers.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { decodeQuotedPrintable, SmtpReceiver } from './helpers/smtp.ts';

const EMAIL = { from: 'Pulse <pulse@example.com>', pollMs: 200 };

describe('webhooks: the Admins are emailed when Pulse disables an endpoint', () => {
  const smtp = new SmtpReceiver();
  const receiver = new WebhookReceiver();
  let t: TestServer;

  beforeAll(async () => {
    await smtp.start();
    await receiver.start();
    const webhooks = optionsFromEnv({ PULSE_WEBHOOKS_ALLOW_PRIVATE: '1', PULSE_WEBHOOKS_RETRY_BASE_MS: '100', PULSE_WEBHOOKS_TIMEOUT_MS: '1000' }).webhooks!;
    t = await startTestServer('sqlite', { webhooks, email: { ...EMAIL, smtpUrl: smtp.url } });
  });
  afterAll(async () => {
    await t?.close();
    await receiver.stop();
    await smtp.stop();
  });

  it('sends one email to the Admins, not the Members, saying which endpoint, why and where to fix it', async () => {
    const { store, webhooks } = t.server.ctx;
    const createdAt = new Date().toISOString();
    await store.createAdmin({ id: 'adm_ops', email: 'ops@example.com', name: 'Ops', role: 'admin', passwordHash: 'x', createdAt });
    await store.createAdmin({ id: 'adm_dev', email: 'dev@example.com', name: 'Dev', role: 'member', passwordHash: 'x', createdAt });
    await store.renameEnvironment(t.envId, 'Prod <EU>');
    const { endpoint, secret } = await webhooks.add(t.envId, { url: receiver.url });
    receiver.secret = secret;
    receiver.mode = { kind: 'fail', status: 410 };
    await webhooks.sendTest(t.envId, endpoint.id);

    const [mail] = await waitFor(() => (smtp.messages.length > 0 ? smtp.messages : undefined), 5000, 'the alert');
    expect(mail!.to).toContain('ops@example.com');
    expect(mail!.to).not.toContain('dev@example.com');
    const raw = decodeQuotedPrintable(mail!.raw);
    expect(raw).toMatch(/^Subject: Pulse disabled a webhook endpoint in Prod <EU>/m);
    expect(raw).toMatch(/^Auto-Submitted: auto-generated/m);
    expect(raw).toContain(receiver.url);
    expect(raw).toContain('410 Gone');
    expect(raw).toContain(`${t.url}/panel/environments/${t.envId}/webhooks`);
    // The environment's name is escaped in the HTML part.
    expect(raw).toContain('<strong>Prod &lt;EU&gt;</strong>');
    expect(raw).toContain('Environment "Prod <EU>"');
    await sleep(500);
    expect(smtp.messages).toHaveLength(1);
  });
});

describe('webhooks: the Admins alert when SMTP fails', () => {
  /** One Admin; environments named by `envName`. */
  const adminStore = (envName: (id: string) => string = () => 'Prod') =>
    ({
      listAdmins: async () => [{ id: 'a', email: 'ops@example.com', name: 'Ops', role: 'admin', passwordHash: 'x', createdAt: '' }],
      getEnvironment: async (id: string) => ({ name: envName(id) }),
    }) as unknown as Store;
  const store = adminStore();
  const endpoint = { id: 'wh_1', environmentId: 'env_1', url: 'https://hooks.example.com/x', reason: 'Disabled by Pulse: gone' };

  it('tries again after a refusal, then gives up with a log line instead of throwing', async () => {
    const smtp = await new SmtpReceiver().start();
    const warnings: string[] = [];
    const alerts = new OperatorAlerts(store, { ...EMAIL, smtpUrl: smtp.url }, () => 'https://pulse.example.com/', { warn: (_o, msg) => warnings.push(msg) }, [100]);
    try {
      smtp.failing = true;
      await alerts.webhooksDisabled([endpoint]);
      expect(smtp.refused).toBe(1);
      smtp.failing = false;
      await waitFor(() => smtp.messages.length === 1, 3000, 'the retried alert');
      expect(decodeQuotedPrintable(smtp.messages[0]!.raw)).toContain('https://pulse.example.com/panel/environments/env_1/webhooks');

      smtp.failing = true;
      await alerts.webhooksDisabled([endpoint]);
      await waitFor(() => smtp.refused === 3, 3000, 'the second refusal');
      await waitFor(() => warnings.some((w) => /giving up/.test(w)), 3000, 'the warning');
      expect(smtp.messages).toHaveLength(1);
    } finally {
      await alerts.close();
      await smtp.stop();
    }
  });

  it('sends what is being sent at shutdown, and drops a retry still waiting with a log line', async () => {
    const smtp = await new SmtpReceiver().start();
    const warnings: string[] = [];
    const log = { warn: (_o: object, msg: string) => warnings.push(msg) };
    try {
      const closing = new OperatorAlerts(store, { ...EMAIL, smtpUrl: smtp.url }, () => 'https://pulse.example.com', log);
      const sent = closing.webhooksDisabled([endpoint]); // not awaited: shutdown begins at once
      await closing.close();
      await sent;
      expect(smtp.messages).toHaveLength(1);

      const refused = new OperatorAlerts(store, { ...EMAIL, smtpUrl: smtp.url }, () => 'https://pulse.example.com', log, [60_000]);
      smtp.failing = true;
      await refused.webhooksDisabled([endpoint]);
      await refused.close();
      expect(warnings.at(-1)).toMatch(/1 email\(s\) to the Admins not sent before shutdown/);
    } finally {
      await smtp.stop();
    }
  });

  it('sends one email for the endpoints one pass disabled', async () => {
    const smtp = await new SmtpReceiver().start();
    const alerts = new OperatorAlerts(adminStore((id) => (id === 'env_1' ? 'Prod' : 'Staging')), { ...EMAIL, smtpUrl: smtp.url }, () => 'https://pulse.example.com', { warn: () => undefined });
    try {
      await alerts.webhooksDisabled([
        { id: 'wh_1', environmentId: 'env_1', url: 'https://a.example.com/x', reason: 'Disabled by Pulse: a' },
        { id: 'wh_2', environmentId: 'env_2', url: 'https://b.example.com/x', reason: 'Disabled by Pulse: b' },
      ]);
      expect(smtp.messages).toHaveLength(1);
      const raw = decodeQuotedPrintable(smtp.messages[0]!.raw);
      expect(raw).toMatch(/^Subject: Pulse disabled 2 webhook endpoints in Prod, Staging/m);
      for (const part of ['https://a.example.com/x', 'Disabled by Pulse: b', '/panel/environments/env_2/webhooks']) expect(raw).toContain(part);
    } finally {
      await alerts.close();
      await smtp.stop();
    }
  });
});
