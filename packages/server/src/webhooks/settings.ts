import { WEBHOOK_POLICY, WEBHOOKS_ALLOW_PRIVATE_ENV, WEBHOOKS_RETRY_BASE_ENV } from '@pulse/protocol';

/** How webhooks are delivered on this node: the protocol's policy, with what the environment overrides. */
export interface WebhookSettings {
  /** PULSE_WEBHOOKS_ALLOW_PRIVATE=1: loopback and private addresses may be reached (tests, local development). */
  allowPrivate: boolean;
  timeoutMs: number;
  concurrencyPerEndpoint: number;
  firstRetryDelayMs: number;
  maxRetryDelayMs: number;
  retryWindowMs: number;
  disableAfterFailingMs: number;
  outageMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  allowPrivate: false,
  timeoutMs: WEBHOOK_POLICY.timeoutMs,
  concurrencyPerEndpoint: WEBHOOK_POLICY.concurrencyPerEndpoint,
  firstRetryDelayMs: WEBHOOK_POLICY.firstRetryDelayMs,
  maxRetryDelayMs: WEBHOOK_POLICY.maxRetryDelayMs,
  retryWindowMs: WEBHOOK_POLICY.retryWindowMs,
  disableAfterFailingMs: WEBHOOK_POLICY.disableAfterFailingMs,
  outageMs: WEBHOOK_POLICY.outageMs,
};

/**
 * Reads PULSE_WEBHOOKS_ALLOW_PRIVATE and the test hooks that shorten the retry schedule
 * (PULSE_WEBHOOKS_RETRY_BASE_MS, PULSE_WEBHOOKS_RETRY_MAX_MS, PULSE_WEBHOOKS_RETRY_WINDOW_MS,
 * PULSE_WEBHOOKS_TIMEOUT_MS, PULSE_WEBHOOKS_DISABLE_AFTER_MS).
 */
export function webhookSettingsFromEnv(env: NodeJS.ProcessEnv): WebhookSettings {
  const allow = env[WEBHOOKS_ALLOW_PRIVATE_ENV];
  if (allow !== undefined && allow !== '' && allow !== '0' && allow !== '1') {
    throw new Error(`${WEBHOOKS_ALLOW_PRIVATE_ENV} must be 1 or 0, got "${allow}"`);
  }
  const ms = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, got "${value}"`);
    return n;
  };
  return {
    ...DEFAULT_WEBHOOK_SETTINGS,
    allowPrivate: allow === '1',
    firstRetryDelayMs: ms(WEBHOOKS_RETRY_BASE_ENV, WEBHOOK_POLICY.firstRetryDelayMs),
    maxRetryDelayMs: ms('PULSE_WEBHOOKS_RETRY_MAX_MS', WEBHOOK_POLICY.maxRetryDelayMs),
    retryWindowMs: ms('PULSE_WEBHOOKS_RETRY_WINDOW_MS', WEBHOOK_POLICY.retryWindowMs),
    timeoutMs: ms('PULSE_WEBHOOKS_TIMEOUT_MS', WEBHOOK_POLICY.timeoutMs),
    disableAfterFailingMs: ms('PULSE_WEBHOOKS_DISABLE_AFTER_MS', WEBHOOK_POLICY.disableAfterFailingMs),
  };
}

/**
 * The delay before attempt `n + 1` after `n` failed ones: ×4 each time from the first delay, capped,
 * ±25% jitter; at least what the receiver asked for in `Retry-After`, up to the cap.
 */
export function retryDelayMs(
  failedAttempts: number,
  settings: Pick<WebhookSettings, 'firstRetryDelayMs' | 'maxRetryDelayMs'>,
  random = Math.random,
  retryAfterMs: number | null = null,
): number {
  const exp = Math.min(settings.firstRetryDelayMs * 4 ** Math.max(0, failedAttempts - 1), settings.maxRetryDelayMs);
  const backoff = Math.round(exp * (0.75 + random() * 0.5));
  return retryAfterMs === null ? backoff : Math.max(backoff, Math.min(retryAfterMs, settings.maxRetryDelayMs));
}
