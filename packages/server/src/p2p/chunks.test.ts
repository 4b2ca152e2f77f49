import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Connection } from '../realtime/connection.ts';
import { CHUNK_IDLE_MS, ChunkAssembler } from './chunks.ts';

const conn = (envId = 'env', userId = 'u1') => ({ identity: { envId, user: { id: userId } } }) as Connection;
const piece = (id: string, index: number, count: number, data: string) => ({ type: 'p2p:chunk' as const, id, index, count, data });

describe('ChunkAssembler', () => {
  it('joins the pieces of a frame in any order and forgets them', () => {
    const chunks = new ChunkAssembler();
    const c = conn();
    expect(chunks.add(c, piece('a', 1, 2, 'world'), 100)).toBeUndefined();
    expect(chunks.held).toBe(5);
    expect(chunks.add(c, piece('a', 0, 2, 'hello '), 100)).toBe('hello world');
    expect(chunks.held).toBe(0);
  });

  it('refuses pieces past the process budget, whoever sends them, until others are released', () => {
    const chunks = new ChunkAssembler(10, 1);
    const [a, b] = [conn('env', 'u1'), conn('env', 'u2')];
    chunks.add(a, piece('x', 0, 3, 'aaaaaa'), 100);
    expect(() => chunks.add(b, piece('y', 0, 3, 'bbbbbb'), 100)).toThrow(expect.objectContaining({ code: 'service_unavailable' }));
    expect(chunks.held).toBe(6);
    chunks.release(a);
    expect(chunks.held).toBe(0);
    expect(chunks.add(b, piece('y', 0, 2, 'bbbbbb'), 100)).toBeUndefined();
  });
});

describe('ChunkAssembler: shares', () => {
  afterEach(() => vi.useRealTimers());

  it("holds one user's frames, on all their connections, to two connections' allowance", () => {
    const chunks = new ChunkAssembler(1000);
    const tabs = [conn('env', 'mallory'), conn('env', 'mallory'), conn('env', 'mallory')];
    chunks.add(tabs[0]!, piece('a', 0, 2, 'x'.repeat(10)), 10);
    chunks.add(tabs[1]!, piece('a', 0, 2, 'x'.repeat(10)), 10);
    expect(() => chunks.add(tabs[2]!, piece('a', 0, 2, 'x'), 10)).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    // Another user of the same environment is not held back by it.
    expect(chunks.add(conn('env', 'alice'), piece('a', 0, 2, 'x'.repeat(10)), 10)).toBeUndefined();
  });

  it("holds one environment's frames to its share of the budget: other environments still get theirs", () => {
    const chunks = new ChunkAssembler(100, 0.25);
    for (let u = 0; u < 2; u++) chunks.add(conn('tenant', `u${u}`), piece('a', 0, 2, 'x'.repeat(10)), 10);
    chunks.add(conn('tenant', 'u2'), piece('a', 0, 2, 'x'.repeat(5)), 10);
    expect(() => chunks.add(conn('tenant', 'u3'), piece('a', 0, 2, 'x'), 10)).toThrow(expect.objectContaining({ code: 'service_unavailable' }));
    expect(chunks.add(conn('other', 'u0'), piece('a', 0, 2, 'x'.repeat(10)), 10)).toBeUndefined();
  });

  it('lets go of frames left unfinished for a while once memory runs short, and ignores their later pieces', () => {
    vi.useFakeTimers();
    const chunks = new ChunkAssembler(20, 1);
    const idle = conn('env', 'mallory');
    const bob = conn('env', 'bob');
    chunks.add(idle, piece('a', 0, 2, 'x'.repeat(10)), 10);
    chunks.add(bob, piece('b', 0, 3, 'x'.repeat(10)), 10);
    // Short of memory, nothing idle yet: refused.
    expect(() => chunks.add(conn('env', 'carol'), piece('c', 0, 2, 'x'), 10)).toThrow(expect.objectContaining({ code: 'service_unavailable' }));
    vi.advanceTimersByTime(CHUNK_IDLE_MS / 2);
    chunks.add(bob, piece('b', 1, 3, ''), 10); // bob's frame is still coming
    vi.advanceTimersByTime(CHUNK_IDLE_MS / 2 + 1);
    expect(chunks.add(conn('env', 'carol'), piece('c', 0, 2, 'x'.repeat(10)), 10)).toBeUndefined();
    expect(chunks.held).toBe(20);
    expect(chunks.add(idle, piece('a', 1, 2, 'y'), 10)).toBeUndefined();
    expect(chunks.held).toBe(20);
  });
});

describe('ChunkAssembler: frames let go', () => {
  it('ignores the later pieces of a frame refused, so they neither hold memory nor a slot', () => {
    const chunks = new ChunkAssembler();
    const c = conn();
    chunks.add(c, piece('a', 0, 3, 'aa'), 100, 1);
    expect(() => chunks.add(c, piece('a', 0, 3, 'aa'), 100, 1)).toThrow(expect.objectContaining({ code: 'invalid_message' }));
    expect(chunks.add(c, piece('a', 2, 3, 'zz'), 100, 1)).toBeUndefined();
    expect(chunks.held).toBe(0);
    // The one slot allowed is still free.
    expect(chunks.add(c, piece('c', 0, 2, 'he'), 100, 1)).toBeUndefined();
    expect(chunks.add(c, piece('c', 1, 2, 'y'), 100, 1)).toBe('hey');
  });

  it('ignores the rest of a frame refused for its size', () => {
    const chunks = new ChunkAssembler();
    const c = conn();
    chunks.add(c, piece('a', 0, 3, 'aaaa'), 6);
    expect(() => chunks.add(c, piece('a', 1, 3, 'aaaa'), 6)).toThrow(expect.objectContaining({ code: 'p2p_state_too_large' }));
    expect(chunks.add(c, piece('a', 2, 3, 'a'), 6)).toBeUndefined();
    expect(chunks.held).toBe(0);
  });

  it('ignores the rest of a frame refused for want of a free slot', () => {
    const chunks = new ChunkAssembler();
    const c = conn();
    chunks.add(c, piece('a', 0, 2, 'aa'), 100, 1);
    expect(() => chunks.add(c, piece('b', 0, 3, 'bb'), 100, 1)).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    expect(chunks.add(c, piece('a', 1, 2, 'a'), 100, 1)).toBe('aaa');
    // "b" can never be whole: its later pieces neither open a frame nor take the slot.
    expect(chunks.add(c, piece('b', 1, 3, 'bb'), 100, 1)).toBeUndefined();
    expect(chunks.held).toBe(0);
    expect(chunks.add(c, piece('c', 0, 1, 'c'), 100, 1)).toBe('c');
  });
});
