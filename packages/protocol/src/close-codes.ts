/**
 * WebSocket close codes. They mirror HTTP statuses (4401 ≈ 401) so they are easy to remember.
 * Each carries the retry policy a client should follow.
 */
export const CLOSE_CODES = {
  /**
   * The user token is not acceptable: malformed, bad signature, expired, of another
   * environment, or minted by a secret key that has since been revoked or rotated away.
   * A fresh token from your backend fixes it.
   */
  UNAUTHORIZED: 4401,
  /** The publishable key is unknown, or was revoked or rotated away. Nothing a retry can fix. */
  FORBIDDEN: 4403,
  /** First message was not a valid `auth`. */
  BAD_REQUEST: 4400,
  /** No `auth` within AUTH_TIMEOUT_MS. */
  AUTH_TIMEOUT: 4408,
  /** The room has reached its connection limit. */
  ROOM_FULL: 4409,
  /** The client fell too far behind (send buffer over the hard limit): reconnect and resync. */
  SLOW_CONSUMER: 4410,
  /** A frame above the hard size cap. */
  MESSAGE_TOO_BIG: 4413,
  /** The connection kept exceeding its rate limit. */
  RATE_LIMITED: 4429,
  /** No heartbeat for PRESENCE_OFFLINE_AFTER_MS. */
  HEARTBEAT_TIMEOUT: 4430,
  /** The server is restarting or shutting down. */
  SERVER_SHUTTING_DOWN: 4503,
} as const;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/**
 * - `reconnect`: reconnect with the usual backoff.
 * - `refresh-token`: reconnect only with a new token (call the token function again).
 * - `never`: do not reconnect; the integration must change something.
 */
export type RetryPolicy = 'reconnect' | 'refresh-token' | 'never';

export const CLOSE_RETRY_POLICY: Record<CloseCode, RetryPolicy> = {
  [CLOSE_CODES.UNAUTHORIZED]: 'refresh-token',
  [CLOSE_CODES.FORBIDDEN]: 'never',
  [CLOSE_CODES.BAD_REQUEST]: 'never',
  [CLOSE_CODES.AUTH_TIMEOUT]: 'reconnect',
  [CLOSE_CODES.ROOM_FULL]: 'reconnect',
  [CLOSE_CODES.SLOW_CONSUMER]: 'reconnect',
  [CLOSE_CODES.MESSAGE_TOO_BIG]: 'reconnect',
  [CLOSE_CODES.RATE_LIMITED]: 'reconnect',
  [CLOSE_CODES.HEARTBEAT_TIMEOUT]: 'reconnect',
  [CLOSE_CODES.SERVER_SHUTTING_DOWN]: 'reconnect',
};

/** Retry policy for any close code, including the standard 1000–1015 ones (reconnect). */
export function retryPolicyFor(code: number): RetryPolicy {
  return (CLOSE_RETRY_POLICY as Record<number, RetryPolicy>)[code] ?? (code === 1000 ? 'never' : 'reconnect');
}
