import type { SendMailOptions, Transporter } from 'nodemailer';
import { WEBHOOK_POLICY } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import type { DisabledEndpoint } from '../store/types.ts';
import { escapeHtml } from './render.ts';
import { smtpTransport, type EmailSettings } from './settings.ts';
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
    this.#transport = smtpTransport(settings);
  }

  /** One email for the endpoints one dispatcher pass disabled (usually one). */
  webhooksDisabled(endpoints: DisabledEndpoint[]): Promise<void> {
    const sending = this.#webhooksDisabled(endpoints).finally(() => this.#sending.delete(sending));
    this.#sending.add(sending);
    return sending;
  }

  async #webhooksDisabled(endpoints: DisabledEndpoint[]): Promise<void> {
    if (!this.#transport || endpoints.length === 0) return;
    try {
      const admins = (await this.#store.listAdmins()).filter((a) => a.role === 'admin');
      if (admins.length === 0) return;
      const base = this.#panelBase().replace(/\/+$/, '');
      const envNames = new Map<string, string>();
      for (const { environmentId } of endpoints) {
        if (!envNames.has(environmentId)) envNames.set(environmentId, (await this.#store.getEnvironment(environmentId))?.name ?? environmentId);
      }
      const link = (envId: string) => `${base}/panel/environments/${encodeURIComponent(envId)}/webhooks`;
      const one = endpoints.length === 1;
      const intro = one ? 'Pulse disabled a webhook endpoint:' : `Pulse disabled ${endpoints.length} webhook endpoints:`;
      const after = `Events are still recorded for ${WEBHOOK_POLICY.retentionMs / 86_400_000} days. Fix the receiver, enable the endpoint again in the panel, then recover what it missed.`;
      const text = [intro, ''];
      const html = [`<p>${escapeHtml(intro)}</p>`];
      for (const e of endpoints) {
        const env = envNames.get(e.environmentId)!;
        text.push(`Environment "${env}": ${e.url}`, e.reason, link(e.environmentId), '');
        html.push(
          `<p>Environment <strong>${escapeHtml(env)}</strong>: <code>${escapeHtml(e.url)}</code><br>${escapeHtml(e.reason)}<br>` +
            `<a href="${escapeHtml(link(e.environmentId))}">${escapeHtml(link(e.environmentId))}</a></p>`,
        );
      }
      text.push(after);
      html.push(`<p>${escapeHtml(after)}</p>`);
      const names = [...new Set(envNames.values())];
      await this.#send(
        {
          from: this.#from,
          to: admins.map((a) => ({ name: a.name, address: a.email })),
          subject: one ? `Pulse disabled a webhook endpoint in ${names[0]}` : `Pulse disabled ${endpoints.length} webhook endpoints in ${names.join(', ')}`,
          text: text.join('\n'),
          html: html.join(''),
          headers: { 'Auto-Submitted': 'auto-generated' },
        },
        0,
      );
    } catch (err) {
      this.#log.warn({ err, endpointIds: endpoints.map((e) => e.id) }, 'could not email the Admins that webhook endpoints were disabled');
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
