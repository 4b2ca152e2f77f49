import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SyncPacer } from '../src/p2p/sync-pacer.ts';

describe('P2P sync pacer', () => {
  const asked: string[] = [];
  const answered: [string, number][] = [];
  let busy = false;
  /** While true, requests stay queued: their `sent` callbacks wait here. */
  let holdRequests = false;
  const held: ((sent: boolean) => void)[] = [];
  const present = new Set(['a', 'b']);
  let pacer: SyncPacer;
  beforeEach(() => {
    vi.useFakeTimers();
    asked.length = 0;
    answered.length = 0;
    busy = false;
    holdRequests = false;
    held.length = 0;
    present.clear();
    present.add('a').add('b');
    pacer = new SyncPacer({ ask: (to, sent) => {
          asked.push(to);
          if (holdRequests) held.push(sent);
          else sent(true);
        }, answer: (to, v) => answered.push([to, v[0]!]), busy: () => busy, present: (id) => present.has(id) }, 2000);
  });
  afterEach(() => {
    pacer.clear();
    vi.useRealTimers();
  });

  it('asks a peer at once, then at most once per interval; what was asked sooner goes once, at its end', () => {
    pacer.ask('a');
    pacer.ask('b');
    expect(asked).toEqual(['a', 'b']);
    for (let i = 0; i < 5; i++) pacer.ask('a');
    expect(asked).toEqual(['a', 'b']);
    vi.advanceTimersByTime(1999);
    expect(asked).toEqual(['a', 'b']);
    vi.advanceTimersByTime(1);
    expect(asked).toEqual(['a', 'b', 'a']);
    // Its interval over, b is asked at once; asked again sooner, it goes at the end of the new
    // interval, unless b is gone by then.
    pacer.ask('b');
    pacer.ask('b');
    expect(asked).toEqual(['a', 'b', 'a', 'b']);
    present.delete('b');
    vi.advanceTimersByTime(5000);
    expect(asked).toEqual(['a', 'b', 'a', 'b']);
  });

  it('answers a flood of requests from one peer once per interval, to the latest request', () => {
    pacer.answer('a', new Uint8Array([1]));
    for (let i = 2; i <= 50; i++) pacer.answer('a', new Uint8Array([i]));
    expect(answered).toEqual([['a', 1]]);
    vi.advanceTimersByTime(2000);
    expect(answered).toEqual([['a', 1], ['a', 50]]);
    vi.advanceTimersByTime(10_000);
    expect(answered).toHaveLength(2);
    // Another peer is not held up by the first one's interval.
    pacer.answer('b', new Uint8Array([7]));
    expect(answered.at(-1)).toEqual(['b', 7]);
  });

  it('makes no answer while an earlier one still waits to be sent', () => {
    busy = true;
    pacer.answer('a', new Uint8Array([1]));
    pacer.answer('b', new Uint8Array([2]));
    vi.advanceTimersByTime(1000);
    expect(answered).toEqual([]);
    busy = false;
    vi.advanceTimersByTime(250);
    expect(answered.map(([to]) => to).sort()).toEqual(['a', 'b']);
  });

  it('counts the interval from when a request left, not from when it was queued', () => {
    holdRequests = true;
    pacer.ask('a');
    expect(asked).toEqual(['a']);
    // Still queued behind a large answer after its interval: no second request joins it.
    vi.advanceTimersByTime(2500);
    pacer.ask('a');
    vi.advanceTimersByTime(1000);
    expect(asked).toEqual(['a']);
    held.shift()!(true); // it leaves now, at 3.5 s
    vi.advanceTimersByTime(1999);
    expect(asked).toEqual(['a']);
    vi.advanceTimersByTime(1); // 5.5 s: an interval after it left
    expect(asked).toEqual(['a', 'a']);
    // A request dropped unsent (the socket went) does not hold the next one back.
    held.shift()!(false);
    holdRequests = false;
    vi.advanceTimersByTime(2000);
    pacer.ask('a');
    expect(asked).toEqual(['a', 'a', 'a']);
  });

  it('forgets a peer that left, and everything when the session ends', () => {
    pacer.answer('a', new Uint8Array([1]));
    pacer.answer('a', new Uint8Array([2]));
    pacer.forget('a');
    pacer.ask('b');
    pacer.ask('b');
    pacer.clear();
    vi.advanceTimersByTime(10_000);
    expect(answered).toEqual([['a', 1]]);
    expect(asked).toEqual(['b']);
  });
});
