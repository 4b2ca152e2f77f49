import type { FastifyReply, FastifyRequest } from 'fastify';

/** The few cookie helpers the panel needs (no cookie plugin: two cookies, one path). */

export const SESSION_COOKIE = 'pulse_session';
export const CSRF_COOKIE = 'pulse_csrf';
/** Signed "this browser signed in to these accounts before" (known-good.ts); survives logout. */
export const KNOWN_DEVICE_COOKIE = 'pulse_known';
/** Both cookies live under /panel: the SPA and its API, nothing else on the origin. */
export const COOKIE_PATH = '/panel';

export function readCookies(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  const header = request.headers.cookie;
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name in out) continue; // the first (most specific path) wins
    try {
      out[name] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // a malformed value is no value
    }
  }
  return out;
}

export interface CookieOptions {
  httpOnly: boolean;
  /** Seconds; 0 deletes the cookie. */
  maxAge?: number;
}

/** Appends a Set-Cookie: SameSite=Strict always, Secure when the request came over https (directly, or per a trusted proxy). */
export function setCookie(request: FastifyRequest, reply: FastifyReply, name: string, value: string, options: CookieOptions): void {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${COOKIE_PATH}`, 'SameSite=Strict'];
  if (options.httpOnly) parts.push('HttpOnly');
  if (request.protocol === 'https') parts.push('Secure');
  if (options.maxAge !== undefined) parts.push(`Max-Age=${options.maxAge}`);
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
  // Fastify appends to Set-Cookie on every header() call: replace the whole list instead.
  reply.removeHeader('set-cookie');
  void reply.header('set-cookie', [...list.filter((c) => !c.startsWith(`${name}=`)), parts.join('; ')]);
}
