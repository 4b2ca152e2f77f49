import nodemailer, { type Transporter } from 'nodemailer';

/** SMTP for email notifications (PULSE_SMTP_URL, PULSE_EMAIL_FROM); no URL: no email is sent. */
export interface EmailSettings {
  smtpUrl?: string;
  from: string;
  /** How often due notifications are looked for, for email and `notification.unread` (PULSE_EMAIL_POLL_MS; tests shorten it). */
  pollMs: number;
  /** First retry delay after an SMTP failure, doubled each time (PULSE_EMAIL_RETRY_BASE_MS; tests shorten it). */
  retryBaseMs?: number;
  /** How long a claimed batch stays a node's unless it renews the claim (tests shorten it). */
  leaseMs?: number;
}

/**
 * The SMTP transport, with timeouts far shorter than nodemailer's (2 min to connect, 10 min of
 * silence): a stuck server holds up one email for at most about a minute and a half, not a pass.
 */
export function smtpTransport(settings: EmailSettings): Transporter | undefined {
  if (!settings.smtpUrl) return undefined;
  return nodemailer.createTransport({ url: settings.smtpUrl, connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 60_000 });
}

export const DEFAULT_EMAIL_FROM = 'Pulse <notifications@localhost>';
/** `local@host` or `Display Name <local@host>`, on one line. */
const FROM = /^(?:[^<>\p{Cc}]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/u;

export function emailSettingsFromEnv(env: NodeJS.ProcessEnv): EmailSettings {
  const smtpUrl = env.PULSE_SMTP_URL?.trim();
  if (smtpUrl && !/^smtps?:\/\/\S+$/.test(smtpUrl)) throw new Error(`PULSE_SMTP_URL must start with smtp:// or smtps://, got "${smtpUrl}"`);
  const poll = env.PULSE_EMAIL_POLL_MS;
  const pollMs = poll === undefined || poll === '' ? 5_000 : Number(poll);
  if (!Number.isInteger(pollMs) || pollMs <= 0) throw new Error(`PULSE_EMAIL_POLL_MS must be a positive number of milliseconds, got "${poll}"`);
  const retry = env.PULSE_EMAIL_RETRY_BASE_MS;
  const retryBaseMs = retry === undefined || retry === '' ? undefined : Number(retry);
  if (retryBaseMs !== undefined && (!Number.isInteger(retryBaseMs) || retryBaseMs <= 0)) {
    throw new Error(`PULSE_EMAIL_RETRY_BASE_MS must be a positive number of milliseconds, got "${retry}"`);
  }
  const from = env.PULSE_EMAIL_FROM?.trim() || DEFAULT_EMAIL_FROM;
  if (!FROM.test(from)) throw new Error(`PULSE_EMAIL_FROM must be an address, alone or as "Name <address>", got "${from}"`);
  return { ...(smtpUrl ? { smtpUrl } : {}), from, pollMs, ...(retryBaseMs ? { retryBaseMs } : {}) };
}
