import { describe, expect, it } from 'vitest';
import { PeriodicPass } from './periodic-pass.ts';

describe('PeriodicPass', () => {
  it('runs one pass at a time, reports a failure and runs again, and waits for the pass under way on close', async () => {
    let runs = 0;
    let release!: () => void;
    const errors: unknown[] = [];
    const pass = new PeriodicPass(
      () => {
        runs++;
        if (runs === 2) return Promise.reject(new Error('boom'));
        return new Promise<void>((resolve) => (release = resolve));
      },
      60_000,
      (err) => errors.push(err),
    );
    pass.kick();
    pass.kick(); // still running: no second pass
    expect(runs).toBe(1);
    release();
    await new Promise((r) => setImmediate(r));
    pass.kick();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(2);
    expect(errors).toHaveLength(1);
    pass.kick();
    expect(runs).toBe(3);
    let closed = false;
    const closing = pass.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    expect(pass.closed).toBe(true);
    expect(closed).toBe(false);
    release();
    await closing;
    pass.kick();
    expect(runs).toBe(3);
  });
});
