import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ADMIN_SESSION_TTL_MS, PulseError } from '@pulse/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/index.ts';
import type { AdminRow, AdminSessionRow } from '../store/types.ts';
import { CSRF_COOKIE, readCookies, SESSION_COOKIE, setCookie } from './cookies.ts';

export const CSRF_HEADER = 'x-csrf-token';

/** What the API says about an account: never the password hash. */
export interface AdminView {
  id: string;
  email: string;
  name: string;
  role: AdminRow['role'];
  createdAt: string;
}

export const adminView = (a: AdminRow): AdminView => ({ id: a.id, email: a.email, name: a.name, role: a.role, createdAt: a.createdAt });

export interface SignedIn {
  admin: AdminRow;
  session: AdminSessionRow;
}

const randomToken = () => randomBytes(32).toString('base64url');
/** Sessions are stored by the hash of their cookie: a leaked database holds no usable session. */
const sessionId = (cookie: string) => createHash('sha256').update(cookie).digest('hex');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Panel sessions (in the database, so every node of a cluster knows them) and CSRF protection:
 * a double-submit token. The `pulse_csrf` cookie holds a random token that the panel's script
 * reads and sends back in the `X-CSRF-Token` header on every state-changing call; another site
 * can neither read the cookie nor set the header. Signed in, the token is also bound to the session.
 */
export class PanelSessions {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** The signed-in account of the request, read fresh (role changes apply at once), or undefined. */
  async current(request: FastifyRequest): Promise<SignedIn | undefined> {
    const cookie = readCookies(request)[SESSION_COOKIE];
    if (!cookie || cookie.length > 200) return undefined;
    return this.#store.findAdminSession(sessionId(cookie), new Date().toISOString());
  }

  async require(request: FastifyRequest): Promise<SignedIn> {
    const signedIn = await this.current(request);
    if (!signedIn) throw new PulseError('unauthorized', 'Log in to the admin panel first (or your session has expired).');
    return signedIn;
  }

  /** Starts a session for the account and sets both cookies; returns the CSRF token. */
  async start(request: FastifyRequest, reply: FastifyReply, admin: AdminRow): Promise<string> {
    const cookie = randomToken();
    const csrfToken = randomToken();
    const now = Date.now();
    await this.#store.createAdminSession({
      id: sessionId(cookie),
      adminId: admin.id,
      csrfToken,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ADMIN_SESSION_TTL_MS).toISOString(),
    });
    // Now and then, forget sessions that ran out.
    void this.#store.deleteExpiredAdminSessions(new Date(now).toISOString()).catch(() => {});
    const maxAge = Math.floor(ADMIN_SESSION_TTL_MS / 1000);
    setCookie(request, reply, SESSION_COOKIE, cookie, { httpOnly: true, maxAge });
    setCookie(request, reply, CSRF_COOKIE, csrfToken, { httpOnly: false, maxAge });
    return csrfToken;
  }

  async end(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const cookie = readCookies(request)[SESSION_COOKIE];
    if (cookie) await this.#store.deleteAdminSession(sessionId(cookie));
    setCookie(request, reply, SESSION_COOKIE, '', { httpOnly: true, maxAge: 0 });
    setCookie(request, reply, CSRF_COOKIE, randomToken(), { httpOnly: false });
  }

  /**
   * Makes sure the browser holds a CSRF cookie: the session's token when signed in, a fresh
   * random one otherwise (so the login and setup forms can be protected too). Returns it.
   */
  ensureCsrfCookie(request: FastifyRequest, reply: FastifyReply, signedIn?: SignedIn): string {
    const present = readCookies(request)[CSRF_COOKIE];
    const wanted = signedIn?.session.csrfToken ?? (present && present.length >= 32 && present.length <= 100 ? present : randomToken());
    if (present !== wanted) {
      setCookie(request, reply, CSRF_COOKIE, wanted, signedIn ? { httpOnly: false, maxAge: Math.floor(ADMIN_SESSION_TTL_MS / 1000) } : { httpOnly: false });
    }
    return wanted;
  }

  /** Throws `csrf_failed` unless the header matches the cookie (and, signed in, the session). */
  checkCsrf(request: FastifyRequest, signedIn?: SignedIn): void {
    const header = request.headers[CSRF_HEADER];
    const sent = typeof header === 'string' ? header : undefined;
    const cookie = readCookies(request)[CSRF_COOKIE];
    if (!sent || !cookie || !sameSecret(sent, cookie) || (signedIn && !sameSecret(sent, signedIn.session.csrfToken))) {
      throw new PulseError('csrf_failed', `Missing or wrong CSRF token: send the ${CSRF_COOKIE} cookie's value in the X-CSRF-Token header.`);
    }
  }
}
