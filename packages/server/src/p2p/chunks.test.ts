import { describe, expect, it } from 'vitest';
import type { Connection } from '../realtime/connection.ts';
import { ChunkAssembler } from './chunks.ts';

const conn = () => ({}) as Connection;
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
    const chunks = new ChunkAssembler(10);
    const [a, b] = [conn(), conn()];
    chunks.add(a, piece('x', 0, 3, 'aaaaaa'), 100);
    expect(() => chunks.add(b, piece('y', 0, 3, 'bbbbbb'), 100)).toThrow(expect.objectContaining({ code: 'service_unavailable' }));
    expect(chunks.held).toBe(6);
    chunks.release(a);
    expect(chunks.held).toBe(0);
    expect(chunks.add(b, piece('y', 0, 2, 'bbbbbb'), 100)).toBeUndefined();
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
