import { describe, expect, it } from 'vitest';
import { PulseError } from '@pulse/protocol';
import type { Store } from '../store/index.ts';
import { EMAIL_BACKOFF } from './limits.ts';
import { LoginThrottle } from './throttle.ts';

/** A store whose failure counts answer as of the moment they were asked, after `gate` opens. */
function slowReadStore() {
  const failures: { key: string; at: string }[] = [];
  let open: () => void = () => {};
  let gate = Promise.resolve();
  const store = {
    recordLoginFailure: async (key: string, at: string) => {
      failures.push({ key, at });
    },
    loginFailures: async (key: string, since: string) => {
      const count = failures.filter((f) => f.key === key && f.at >= since).length; // read now…
      await gate; // …answered later
      return { count, oldest: null };
    },
    pruneLoginFailures: async () => {},
  } as unknown as Store;
  return {
    store,
    holdReads() {
      gate = new Promise((resolve) => (open = resolve));
    },
    releaseReads: () => open(),
  };
}

describe('LoginThrottle', () => {
  it('counts a failure recorded while a concurrent attempt was reading the database', async () => {
    const db = slowReadStore();
    const throttle = new LoginThrottle(db.store);
    const email = 'a@example.com';
    // The free failures are admitted and under way.
    const releases = await Promise.all(Array.from({ length: EMAIL_BACKOFF.freeFailures }, (_, i) => throttle.admit(email, `10.0.0.${i}`)));
    // Another attempt reads the counts before any failure is written, and gets its answer after.
    db.holdReads();
    const late = throttle.admit(email, '10.0.1.1');
    for (const [i, release] of releases.entries()) {
      await throttle.failed(email, `10.0.0.${i}`);
      release();
    }
    db.releaseReads();
    const refused = await late.then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(PulseError);
    expect((refused as PulseError).code).toBe('rate_limited');
  });

  it('does not count a failure twice for attempts that start after it', async () => {
    const db = slowReadStore();
    const throttle = new LoginThrottle(db.store);
    const email = 'b@example.com';
    for (let i = 0; i < EMAIL_BACKOFF.freeFailures - 1; i++) {
      const release = await throttle.admit(email, `10.0.0.${i}`);
      await throttle.failed(email, `10.0.0.${i}`);
      release();
    }
    // One free failure left: this attempt is admitted.
    const release = await throttle.admit(email, '10.0.2.1');
    release();
  });
});
