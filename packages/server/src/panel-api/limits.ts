/** Admin panel limits and timings (the session lifetime itself is ADMIN_SESSION_TTL_MS in @pulse/protocol). */

/** Items per page in the data browser, the audit log and every other paged panel list. */
export const PANEL_PAGE_SIZE = 20;

/** Failed logins are counted over this sliding window. */
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
/** Failed logins for one email within the window before further attempts get 429. */
export const LOGIN_MAX_FAILURES_PER_EMAIL = 5;
/** Failed logins from one client address within the window before further attempts get 429. */
export const LOGIN_MAX_FAILURES_PER_IP = 20;

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;
export const EMAIL_MAX_LENGTH = 254;
export const ADMIN_NAME_MAX_LENGTH = 100;
export const SEARCH_MAX_LENGTH = 256;
