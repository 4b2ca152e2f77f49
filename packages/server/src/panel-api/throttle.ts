import { PulseError } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import { LOGIN_MAX_FAILURES_PER_EMAIL, LOGIN_MAX_FAILURES_PER_IP, LOGIN_WINDOW_MS } from './limits.ts';

/** Thrown when a login is refused for too many failures; carries the Retry-After seconds. */
export class ThrottledError extends PulseError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super('rate_limited', message);
    this.retryAfterS = retryAfterS;
  }
}

/**
 * Login throttling by failures in a sliding window, per email and per client address. Counts
 * live in the database, so all nodes of a cluster share them.
 */
export class LoginThrottle {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  #keys(email: string, ip: string) {
    return [
      { key: `email:${email}`, max: LOGIN_MAX_FAILURES_PER_EMAIL, what: 'this account' },
      { key: `ip:${ip}`, max: LOGIN_MAX_FAILURES_PER_IP, what: 'your address' },
    ];
  }

  /** Throws ThrottledError when either the email or the address has used up its failures. */
  async check(email: string, ip: string): Promise<void> {
    const now = Date.now();
    const since = new Date(now - LOGIN_WINDOW_MS).toISOString();
    for (const { key, max, what } of this.#keys(email, ip)) {
      const { count, oldest } = await this.#store.loginFailures(key, since);
      if (count >= max) {
        const freeAt = (oldest ? Date.parse(oldest) : now) + LOGIN_WINDOW_MS;
        const retryAfterS = Math.max(1, Math.ceil((freeAt - now) / 1000));
        const minutes = Math.ceil(retryAfterS / 60);
        throw new ThrottledError(
          `Too many failed logins for ${what}. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
          retryAfterS,
        );
      }
    }
  }

  async failed(email: string, ip: string): Promise<void> {
    const now = new Date();
    for (const { key } of this.#keys(email, ip)) await this.#store.recordLoginFailure(key, now.toISOString());
    await this.#store.pruneLoginFailures(new Date(now.getTime() - LOGIN_WINDOW_MS).toISOString());
  }

  /** A successful login forgets the account's failures (not the address's). */
  async succeeded(email: string): Promise<void> {
    await this.#store.clearLoginFailures(`email:${email}`);
  }
}
