import { timingSafeEqual } from 'node:crypto';
import { PulseError } from '@pulse/protocol';
import { hashPassword, verifyPassword } from '../auth/passwords.ts';
import { newAdminId, nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { AdminRow } from '../store/types.ts';
import { audit } from './audit.ts';
import { body, email, password, text } from './input.ts';
import { ADMIN_NAME_MAX_LENGTH, EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH } from './limits.ts';
import { Status, type Call, type PanelRouter } from './routing.ts';
import { adminView, type PanelSessions } from './session.ts';
import type { KnownGoodLogins } from './known-good.ts';
import { ThrottledError, type LoginThrottle } from './throttle.ts';

/** Compared against when the email is unknown, so both cases take as long. */
const dummyHash = hashPassword('not a real password');

export interface SetupState {
  /** The one-time first-run token; cleared once used. */
  token: string | undefined;
}

/** First-run setup, login, logout and "who am I". */
export function registerAuthRoutes(
  router: PanelRouter,
  store: Store,
  sessions: PanelSessions,
  throttle: LoginThrottle,
  known: KnownGoodLogins,
  setup: SetupState,
): void {
  const signIn = async (call: Call, admin: AdminRow) => {
    known.remember(call.request, call.reply, admin.id, call.request.ip);
    const csrfToken = await sessions.start(call.request, call.reply, admin);
    return { admin: adminView(admin), csrfToken };
  };

  router.route('GET', '/setup', 'public', async ({ request, reply, signedIn }) => {
    sessions.ensureCsrfCookie(request, reply, signedIn);
    return { required: (await store.countAdmins()) === 0 };
  });

  router.route('POST', '/setup', 'public', async (call) => {
    const input = body(call.request.body, ['token', 'email', 'name', 'password']);
    const token = text(input, 'token', { max: 200 });
    const address = email(input);
    const name = text(input, 'name', { max: ADMIN_NAME_MAX_LENGTH });
    const secret = password(input);
    if ((await store.countAdmins()) > 0) throw new PulseError('already_exists', 'Setup is already done: log in with an existing account.');
    const expected = setup.token;
    if (!expected || token.length !== expected.length || !timingSafeEqual(Buffer.from(token), Buffer.from(expected))) {
      throw new PulseError('forbidden', 'The setup token is not valid: use the setup link printed on the server console.');
    }
    setup.token = undefined; // one time only
    const admin: AdminRow = { id: newAdminId(), email: address, name, role: 'admin', passwordHash: await hashPassword(secret), createdAt: nowIso() };
    // Another node may have taken its own copy of the token meanwhile: the store creates one account.
    if (!(await store.createFirstAdmin(admin))) throw new PulseError('already_exists', 'Setup is already done: log in with an existing account.');
    await audit(store, admin, null, 'team.setup', `${admin.email} created the first admin account`);
    return new Status(201, await signIn(call, admin));
  });

  router.route('POST', '/login', 'public', async (call) => {
    const input = body(call.request.body, ['email', 'password']);
    const address = text(input, 'email', { max: EMAIL_MAX_LENGTH }).toLowerCase();
    const secret = text(input, 'password', { max: PASSWORD_MAX_LENGTH, trim: false });
    // The client's address: the socket's peer, or what a trusted proxy says (PULSE_TRUST_PROXY).
    const ip = call.request.ip;
    const admin = await store.findAdminByEmail(address);
    let attempt: () => void;
    try {
      attempt = await throttle.admit(address, ip, known.check(call.request, admin?.id, ip));
    } catch (err) {
      if (err instanceof ThrottledError) void call.reply.header('retry-after', String(err.retryAfterS));
      throw err;
    }
    try {
      const ok = await verifyPassword(secret, admin?.passwordHash ?? (await dummyHash));
      if (!admin || !ok) {
        await throttle.failed(address, ip);
        throw new PulseError('unauthorized', 'Wrong email or password.');
      }
      return await signIn(call, admin);
    } finally {
      attempt();
    }
  });

  router.route('POST', '/logout', 'member', async ({ request, reply }) => {
    await sessions.end(request, reply);
    return new Status(204);
  });

  // What the app needs to start, always 200: who is signed in (or null) and whether setup is needed.
  router.route('GET', '/session', 'public', async ({ request, reply, signedIn }) => {
    const csrfToken = sessions.ensureCsrfCookie(request, reply, signedIn);
    if (signedIn) return { admin: adminView(signedIn.admin), setupRequired: false, csrfToken };
    return { admin: null, setupRequired: (await store.countAdmins()) === 0, csrfToken };
  });

  router.route('GET', '/me', 'public', async ({ request, reply, signedIn }) => {
    const csrfToken = sessions.ensureCsrfCookie(request, reply, signedIn);
    if (!signedIn) throw new PulseError('unauthorized', 'Not logged in.');
    return { admin: adminView(signedIn.admin), csrfToken };
  });
}
