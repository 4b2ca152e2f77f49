/**
 * Reading a user token's expiry on the client, to replace the socket before the server closes it.
 * The token is not verified here (the client has no key, and needs none): only its `exp` is read.
 */

/** How long before a token's expiry the client replaces its socket with one on a fresh token. */
export const TOKEN_REFRESH_LEAD_MS = 60_000;
/** Tokens with less time left than this are not refreshed ahead: the server's close comes first. */
const TOKEN_REFRESH_MIN_LEFT_MS = 2_000;

/** The `exp` claim of a JWT, in ms since the epoch; undefined when the token is not a readable JWT. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const exp = (JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that expires in `expiresInMs`: until
 * TOKEN_REFRESH_LEAD_MS before expiry, or half-way for a token with less than twice that left.
 * Undefined when too little time is left to bother.
 */
export function refreshDelay(expiresInMs: number): number | undefined {
  if (!(expiresInMs >= TOKEN_REFRESH_MIN_LEFT_MS)) return undefined;
  // setTimeout takes at most a signed 32-bit delay (~24.8 days); tokens live at most 7 days.
  return Math.min(expiresInMs - Math.min(TOKEN_REFRESH_LEAD_MS, expiresInMs / 2), 2 ** 31 - 1);
}
