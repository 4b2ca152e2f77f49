import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import { WEBHOOK_POLICY } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { DisabledEndpoint } from '../store/types.ts';
import { escapeHtml } from './render.ts';
import type { EmailSettings } from './settings.ts';
import type { WorkerLog } from './worker.ts';

/** An alert that SMTP refused is tried again after these delays, then only logged. */
const RETRY_DELAYS_MS = [30_000, 300_000];
/** At shutdown, how long alerts being sent are given to go out. */
const CLOSE_WAIT_MS = 5_000;

/**
 * Emails the panel's Admins what needs them: today, that Pulse disabled a webhook endpoint. Sent
 * by the node that disabled it, when SMTP is configured; best effort (retried twice, then
 * logged; a retry still waiting at shutdown is dropped with a log line), since the panel,
 * `pulse webhook list` and the audit log keep the record anyway.
 */
export class OperatorAlerts {
  readonly #store: Store;
  readonly #from: string;
  readonly #retryDelaysMs: number[];
  readonly #panelBase: () => string;
  readonly #log: WorkerLog;
  readonly #transport: Transporter | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #sending = new Set<Promise<void>>();

  constructor(store: Store, settings: EmailSettings, panelBase: () => string, log: WorkerLog, retryDelaysMs = RETRY_DELAYS_MS) {
    this.#store = store;
    this.#from = settings.from;
    this.#panelBase = panelBase;
    this.#log = log;
    this.#retryDelaysMs = retryDelaysMs;
    this.#transport = settings.smtpUrl ? nodemailer.createTransport(settings.smtpUrl) : undefined;
  }

  webhookDisabled(endpoint: DisabledEndpoint): Promise<void> {
    const sending = this.#webhookDisabled(endpoint).finally(() => this.#sending.delete(sending));
    this.#sending.add(sending);
    return sending;
  }

  async #webhookDisabled(endpoint: DisabledEndpoint): Promise<void> {
    if (!this.#transport) return;
    try {
      const admins = (await this.#store.listAdmins()).filter((a) => a.role === 'admin');
      if (admins.length === 0) return;
      const env = await this.#store.getEnvironment(endpoint.environmentId);
      const envName = env?.name ?? endpoint.environmentId;
      const link = `${this.#panelBase().replace(/\/+$/, '')}/panel/environments/${encodeURIComponent(endpoint.environmentId)}/webhooks`;
      const kept = `Events are still recorded for ${WEBHOOK_POLICY.retentionMs / 86_400_000} days. Fix the receiver, enable the endpoint again in the panel, then recover what it missed:`;
      const lines = [
        `Pulse disabled a webhook endpoint of the environment "${envName}":`,
        '',
        endpoint.url,
        '',
        endpoint.reason,
        '',
        `${kept} ${link}`,
      ];
      const html =
        `<p>Pulse disabled a webhook endpoint of the environment <strong>${escapeHtml(envName)}</strong>:</p>` +
        `<p><code>${escapeHtml(endpoint.url)}</code></p><p>${escapeHtml(endpoint.reason)}</p>` +
        `<p>${escapeHtml(kept)} <a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`;
      await this.#send(
        {
          from: this.#from,
          to: admins.map((a) => ({ name: a.name, address: a.email })),
          subject: `Pulse disabled a webhook endpoint in ${envName}`,
          text: lines.join('\n'),
          html,
          headers: { 'Auto-Submitted': 'auto-generated' },
        },
        0,
      );
    } catch (err) {
      this.#log.warn({ err, endpointId: endpoint.id }, 'could not email the Admins that a webhook endpoint was disabled');
    }
  }

  async #send(mail: SendMailOptions, attempt: number): Promise<void> {
    try {
      await this.#transport!.sendMail(mail);
    } catch (err) {
      const delay = this.#retryDelaysMs[attempt];
      if (delay === undefined) throw err;
      this.#log.warn({ err }, `emailing the Admins failed; trying again in ${delay / 1000} s`);
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#send(mail, attempt + 1).catch((e: unknown) => this.#log.warn({ err: e }, 'could not email the Admins; giving up'));
      }, delay);
      timer.unref();
      this.#timers.add(timer);
    }
  }

  /** Lets the alerts being sent go out (for a few seconds at most), then drops the retries still waiting. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.#sending), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    if (this.#timers.size > 0) this.#log.warn({}, `${this.#timers.size} email(s) to the Admins not sent before shutdown; the audit log has the record`);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#transport?.close();
  }
}
