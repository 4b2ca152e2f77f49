import type { Transporter } from 'nodemailer';
import type { EnvConfig } from '@pulse/protocol';
import type { ConfigCache } from '../domain/config-cache.ts';
import type { Store } from '../store/index.ts';
import type { EmailBatch, EmailBatchOutcome } from '../store/types.ts';
import { PeriodicPass } from '../periodic-pass.ts';
import { BatchLease } from './batch-lease.ts';
import { renderEmail } from './render.ts';
import { smtpTransport, type EmailSettings } from './settings.ts';
import type { UnsubscribeLinks } from './unsubscribe.ts';

/** A claimed batch is someone else's to retry after this long unless renewed (every quarter of it, while held). */
const DEFAULT_LEASE_MS = 120_000;
/** SMTP failures are retried this many times, 30 s × 2^n apart (about a day in all), then given up. */
const MAX_ATTEMPTS = 12;
const BATCHES_PER_TICK = 20;

export interface WorkerLog {
  warn(obj: object, msg: string): void;
}

/**
 * Emails users their unread notifications, one email per user per delay window. What is due is
 * decided in the database (claimed per notification, so no notification is emailed twice, on one
 * node or several); the worker renders and sends, and records the outcome.
 */
export class EmailWorker {
  readonly #store: Store;
  readonly #configs: ConfigCache;
  readonly #settings: EmailSettings;
  readonly #links: UnsubscribeLinks;
  readonly #log: WorkerLog;
  readonly #transport: Transporter | undefined;
  readonly #passes: PeriodicPass;
  /** Passes made: which environment the next one starts with. */
  #turn = 0;

  constructor(store: Store, configs: ConfigCache, settings: EmailSettings, links: UnsubscribeLinks, log: WorkerLog) {
    this.#store = store;
    this.#configs = configs;
    this.#settings = settings;
    this.#links = links;
    this.#log = log;
    this.#transport = smtpTransport(settings);
    this.#passes = new PeriodicPass(() => this.tick(), settings.pollMs, (err) => log.warn({ err }, 'email notifications: a pass failed; retrying'));
  }

  start(): void {
    if (!this.#transport) return;
    this.#passes.start();
    this.#passes.kick();
  }

  kick(): void {
    this.#passes.kick();
  }

  /** One pass: claims what is due and sends it. */
  async tick(): Promise<void> {
    const configs = new Map<string, EnvConfig>();
    for (const env of await this.#store.listEnvironments()) {
      const config = await this.#configs.get(env.id);
      if (config?.emailNotifications) configs.set(env.id, config);
    }
    if (configs.size === 0) return;
    const now = new Date();
    const leaseMs = this.#settings.leaseMs ?? DEFAULT_LEASE_MS;
    // Each pass starts with another environment: one with many users due never holds the others back.
    const envs = [...configs].map(([envId, config]) => [envId, config.emailDelaySeconds] as const);
    const first = this.#turn++ % envs.length;
    const batches = await this.#store.claimEmailBatches(
      now.toISOString(),
      new Date(now.getTime() + leaseMs).toISOString(),
      new Map([...envs.slice(first), ...envs.slice(0, first)]),
      BATCHES_PER_TICK,
    );
    if (batches.length === 0) return;
    const lease = new BatchLease(this.#store, batches, leaseMs, (err) => this.#log.warn({ err }, 'email notifications: renewing a lease failed'));
    try {
      for (const batch of batches) {
        if (this.#passes.closed) break;
        try {
          await this.#send(batch, configs.get(batch.environmentId) ?? (await this.#configs.get(batch.environmentId)), lease);
        } catch (err) {
          // A database error: this batch is tried again once its claim runs out; the others go on.
          this.#log.warn({ err, batchId: batch.batchId }, 'email notifications: a batch failed; it is tried again when its claim runs out');
        }
      }
    } finally {
      lease.close();
    }
  }

  async #send(batch: EmailBatch, config: EnvConfig | undefined, lease: BatchLease): Promise<void> {
    const at = () => new Date().toISOString();
    const recipient = await this.#store.emailRecipient(batch.environmentId, batch.userId);
    if (!recipient?.email || recipient.optOut || !config?.emailNotifications) {
      // Not emailed, and not marked as if it had been: should the user or the environment turn
      // email back on, these go into the next email (as docs/email.md promises).
      await lease.release(batch);
      return;
    }
    // Read since it was claimed: not worth an email.
    const items = (await this.#store.emailItems(batch.environmentId, batch.notificationIds)).filter((i) => !i.read);
    if (items.length === 0) {
      await lease.finish(batch, { status: 'sent', at: at(), error: 'skipped: read in time' });
      return;
    }
    const unsubscribe = this.#links.url(batch.environmentId, batch.userId);
    const names = new Map<string, string>();
    for (const id of new Set(items.flatMap((i) => i.mentions))) {
      const user = await this.#store.getUser(batch.environmentId, id);
      if (user) names.set(id, user.name);
    }
    const mail = renderEmail(recipient.name, items, config.emailLinkTemplate, unsubscribe, names);
    // Still ours, with a whole lease ahead (the batches before it may have been slow)?
    await lease.renew();
    if (!lease.holds(batch)) {
      this.#log.warn({ batchId: batch.batchId }, 'email notifications: a batch was taken over by another node; not sending it');
      return;
    }
    let outcome: EmailBatchOutcome;
    try {
      await this.#transport!.sendMail({
        from: this.#settings.from,
        to: { name: recipient.name, address: recipient.email },
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: {
          'List-Unsubscribe': `<${unsubscribe}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          // RFC 3834: vacation responders and the like do not answer it.
          'Auto-Submitted': 'auto-generated',
        },
      });
      outcome = { status: 'sent', at: at(), emailed: true };
    } catch (err) {
      const error = String((err as Error)?.message ?? err).slice(0, 500);
      const attempts = batch.attempts + 1;
      if (attempts >= MAX_ATTEMPTS) {
        this.#log.warn({ batchId: batch.batchId, error }, 'email notifications: giving up on an email');
        outcome = { status: 'failed', at: at(), error };
      } else {
        const retryMs = Math.min((this.#settings.retryBaseMs ?? 30_000) * 2 ** (attempts - 1), 6 * 3600_000);
        this.#log.warn({ batchId: batch.batchId, error }, 'email notifications: sending failed; retrying');
        outcome = { status: 'retry', at: at(), nextAttemptAt: new Date(Date.now() + retryMs).toISOString(), error };
      }
    }
    if (!(await lease.finish(batch, outcome))) {
      this.#log.warn({ batchId: batch.batchId }, 'email notifications: a batch was taken over by another node while it was being sent');
    }
  }

  async close(): Promise<void> {
    await this.#passes.close();
    this.#transport?.close();
  }
}
