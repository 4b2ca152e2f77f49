import { RetryLaterError } from './retry-later.ts';
import { KeyedBuckets } from './token-bucket.ts';

/**
 * A token bucket per environment + user for one kind of request, charged when a request
 * arrives, before any work. Per process: N nodes allow N times the rate.
 */
export class UserRateLimiter {
  /** What is limited, plural, for the error message ("uploads"). */
  readonly #what: string;
  readonly #buckets: KeyedBuckets;

  constructor(what: string, burst: number, perMinute: number) {
    this.#what = what;
    this.#buckets = new KeyedBuckets(burst, perMinute / 60);
  }

  get burst(): number {
    return this.#buckets.burst;
  }
  set burst(value: number) {
    this.#buckets.burst = value;
  }
  get perMinute(): number {
    return this.#buckets.perSecond * 60;
  }
  set perMinute(value: number) {
    this.#buckets.perSecond = value / 60;
  }

  /** Takes `count` (one request, or the users it notifies) from the user's allowance, or throws 429 rate_limited with the wait. */
  take(envId: string, userId: string, now = Date.now(), count = 1): void {
    const bucket = this.#buckets.get(`${envId}\u0000${userId}`, now);
    if (bucket.take(now, count)) return;
    const waitS = bucket.secondsUntilNext(now, count);
    throw new RetryLaterError('rate_limited', `Too many ${this.#what}: at most ${this.burst} at once, then ${this.perMinute} a minute. Try again in ${Math.ceil(waitS)} s.`, waitS);
  }
}

/**
 * WebSocket sign-ins (auth) of one user on one server: every tab of a user reconnecting at once
 * (a restart) fits the burst; a loop joining room after room (each stores a room and the user)
 * does not.
 */
export const SIGN_IN_BURST = 100;
export const SIGN_INS_PER_MINUTE = 300;
/** ...of which sign-ins to rooms that do not exist yet (each stores a room for good, and `room.created`). */
export const NEW_ROOM_BURST = 50;
export const NEW_ROOMS_PER_MINUTE = 60;
/** Uploads one user may start in a burst, per environment, and how fast that allowance refills. */
export const UPLOAD_BURST = 20;
export const UPLOADS_PER_MINUTE = 20;
/** Directory searches (`?q=`, the widget's @mention suggestions: one per keystroke) likewise. */
export const DIRECTORY_SEARCH_BURST = 30;
export const DIRECTORY_SEARCHES_PER_MINUTE = 120;
/**
 * Directory searches under way at once in one process: a search that finds few matches reads
 * every user of the environment (0.8 s of CPU over a million), and users' own limits add up. At
 * most one per user (the next keystroke's makes the last one's stale; more: `429 rate_limited`),
 * two per environment and four in all (more: `503 service_unavailable`), so that no user or
 * environment can take every slot.
 */
export const DIRECTORY_SEARCHES_AT_ONCE = { perUser: 1, perEnvironment: 2, total: 4 } as const;
