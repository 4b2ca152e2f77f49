import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket.suspend', () => {
  it('lets through the backlog sent during a pause, as it was within the rate when sent', () => {
    const bucket = new TokenBucket(40, 10, 0);
    while (bucket.take(0)); // a client spending evenly has an almost empty bucket
    bucket.suspend(0);
    // It keeps sending during 5 s of pause: 50 frames wait in TCP and are read at once.
    bucket.resume(5_000);
    let taken = 0;
    while (bucket.take(5_000)) taken++;
    expect(taken).toBe(50);
  });

  it('banks one more burst at most, however long the pause', () => {
    const bucket = new TokenBucket(40, 10, 0);
    bucket.suspend(0);
    bucket.resume(3_600_000);
    let taken = 0;
    while (bucket.take(3_600_000)) taken++;
    expect(taken).toBe(80);
  });

  it('keeps to its burst outside pauses, and only banks what a pause accrued', () => {
    const bucket = new TokenBucket(40, 10, 0);
    let taken = 0;
    while (bucket.take(60_000)) taken++;
    expect(taken).toBe(40);
    bucket.suspend(60_000);
    bucket.resume(62_000); // 20 accrued
    taken = 0;
    while (bucket.take(62_000)) taken++;
    expect(taken).toBe(20);
  });
});
