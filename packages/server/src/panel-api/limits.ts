import { LIMITS } from '@pulse/protocol';

/** Admin panel limits and timings (the session lifetime itself is ADMIN_SESSION_TTL_MS in @pulse/protocol). */

/** Items per page in the data browser, the audit log and every other paged panel list. */
export const PANEL_PAGE_SIZE = 20;

/** Failed logins older than this are forgotten. */
export const LOGIN_WINDOW_MS = 60 * 60 * 1000;

/** Growing delays after failed logins: `freeFailures` cost nothing, then baseMs, 2×, 4× … up to maxMs. */
export interface Backoff {
  freeFailures: number;
  baseMs: number;
  maxMs: number;
}
/** Per email (except from a browser or address that signed in to it before). */
export const EMAIL_BACKOFF: Backoff = { freeFailures: 3, baseMs: 1000, maxMs: 5 * 60 * 1000 };
/** Per client address, across emails. */
export const ADDRESS_BACKOFF: Backoff = { freeFailures: 10, baseMs: 1000, maxMs: 15 * 60 * 1000 };
/** A browser that signed in keeps a signed "known device" cookie this long. */
export const KNOWN_DEVICE_TTL_MS = 180 * 24 * 60 * 60 * 1000;
/** An address that signed in to an account is remembered (per process) this long. */
export const KNOWN_ADDRESS_TTL_MS = 30 * 24 * 60 * 60 * 1000;

export const PASSWORD_MIN_LENGTH = LIMITS.adminPasswordMinLength;
export const PASSWORD_MAX_LENGTH = 1024;
export const EMAIL_MAX_LENGTH = 254;
export const ADMIN_NAME_MAX_LENGTH = 100;
export const SEARCH_MAX_LENGTH = 256;

/** See HeavyReads: how many whole-table reads run at once per node, wait per node, and per session. */
export const HEAVY_READS = { running: 2, waiting: 32, perSession: 8 } as const;
