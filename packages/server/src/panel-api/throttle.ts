import { PulseError } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import { ADDRESS_BACKOFF, EMAIL_BACKOFF, LOGIN_WINDOW_MS, type Backoff } from './limits.ts';

/** Thrown when a login is refused for too many failures; carries the Retry-After seconds. */
export class ThrottledError extends PulseError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super('rate_limited', message);
    this.retryAfterS = retryAfterS;
  }
}

/** How long after its latest failure a key must wait, given its failures in the window. */
export function backoffDelayMs(failures: number, policy: Backoff): number {
  if (failures < policy.freeFailures) return 0;
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (failures - policy.freeFailures));
}

/** What the login request proved before its password was checked (see known-good.ts). */
export interface KnownGood {
  /** The browser holds a signed cookie from an earlier successful login to this account. */
  device: boolean;
  /** This client address logged in to this account successfully before. */
  address: boolean;
}

/** Failures remembered in memory for the attempts whose database reads may have missed them. */
const RECENT_FAILURES = 1024;

/**
 * Login throttling by growing delays rather than a hard lock: after a few free failures, each
 * further failure doubles the wait before the next attempt (capped), per email and per client
 * address. Failures live in the database, so all nodes of a cluster share them; they are
 * forgotten after LOGIN_WINDOW_MS.
 *
 * A per-email lock would let anyone lock an admin out by failing on purpose; so the email's delay
 * does not apply to a browser or an address that signed in to that account before (the right
 * password from there still gets in; a wrong one still counts). A known browser also skips the
 * address delay (an office NAT shared with an attacker).
 *
 * Admitted attempts still being checked count as failures too: the password check is slow on
 * purpose, and a burst of concurrent guesses would otherwise all be admitted before the first
 * failure is recorded. And a failure this process records while another attempt is reading the
 * database counts for that attempt too: its read may have missed the write, and the failed
 * attempt stops counting as under way right after. (Per process: each node of a cluster lets
 * through at most its own burst.)
 */
export class LoginThrottle {
  readonly #store: Store;
  /** Admitted attempts under way in this process, per throttle key. */
  readonly #inFlight = new Map<string, number>();
  /** The latest failures this process recorded, numbered, oldest first (at most RECENT_FAILURES). */
  readonly #recent: { n: number; key: string }[] = [];
  #recorded = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Admits a login attempt, or throws ThrottledError when the email or the address must still
   * wait. An admitted attempt counts as a failure for the ones arriving while it is checked, until
   * the returned function is called: the decision and that count are made in one synchronous
   * step after the last database read, so concurrent attempts always see each other.
   */
  async admit(email: string, ip: string, known: KnownGood = { device: false, address: false }): Promise<() => void> {
    const checks = [
      { key: `email:${email}`, policy: EMAIL_BACKOFF, what: 'this account', skip: known.device || known.address },
      { key: `ip:${ip}`, policy: ADDRESS_BACKOFF, what: 'your address', skip: known.device },
    ];
    const now = Date.now();
    const recordedBefore = this.#recorded;
    const stored = await Promise.all(
      checks.map(async ({ key, policy, skip }) => {
        if (skip) return { count: 0, recent: 0 };
        const { count } = await this.#store.loginFailures(key, new Date(now - LOGIN_WINDOW_MS).toISOString());
        const delayMs = backoffDelayMs(count, policy);
        const recent = delayMs === 0 ? 0 : (await this.#store.loginFailures(key, new Date(now - delayMs).toISOString())).count;
        return { count, recent };
      }),
    );
    // From here on, synchronous. Failures recorded during the read may be missing from it (or
    // not: counting them twice errs on the safe side; so does counting one more when some of
    // them have already left the list of recent ones).
    const oldest = this.#recent[0]?.n;
    const overflowed = oldest !== undefined && oldest > recordedBefore + 1;
    const missed = checks.map(({ key }) => this.#recent.filter((f) => f.n > recordedBefore && f.key === key).length + (overflowed ? 1 : 0));
    checks.forEach(({ key, policy, what, skip }, i) => {
      if (skip) return;
      // Attempts under way and failures just recorded are as recent as it gets.
      const underWay = (this.#inFlight.get(key) ?? 0) + missed[i]!;
      const { count, recent } = stored[i]!;
      const delayMs = backoffDelayMs(count + underWay, policy);
      if (delayMs === 0 || (underWay === 0 && recent === 0)) return;
      const retryAfterS = Math.max(1, Math.ceil(delayMs / 1000));
      const wait = retryAfterS < 120 ? `${retryAfterS} second${retryAfterS === 1 ? '' : 's'}` : `${Math.ceil(retryAfterS / 60)} minutes`;
      throw new ThrottledError(`Too many failed logins for ${what}. Try again in ${wait}.`, retryAfterS);
    });
    const keys = checks.map((c) => c.key);
    for (const key of keys) this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const key of keys) {
        const left = (this.#inFlight.get(key) ?? 1) - 1;
        if (left > 0) this.#inFlight.set(key, left);
        else this.#inFlight.delete(key);
      }
    };
  }

  /** Records a failed attempt; call it before the attempt's release function. */
  async failed(email: string, ip: string): Promise<void> {
    const now = new Date();
    for (const key of [`email:${email}`, `ip:${ip}`]) {
      await this.#store.recordLoginFailure(key, now.toISOString());
      this.#recent.push({ n: ++this.#recorded, key });
      if (this.#recent.length > RECENT_FAILURES) this.#recent.shift();
    }
    await this.#store.pruneLoginFailures(new Date(now.getTime() - LOGIN_WINDOW_MS).toISOString());
  }
}
