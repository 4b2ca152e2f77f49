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

describe('ChunkAssembler.discard', () => {
  it('lets go of one unfinished frame and its pieces', () => {
    const chunks = new ChunkAssembler();
    const c = conn();
    chunks.add(c, piece('a', 0, 2, 'aaaa'), 100);
    chunks.add(c, piece('b', 0, 2, 'bb'), 100);
    chunks.discard(c, 'a');
    chunks.discard(c, 'unknown');
    expect(chunks.held).toBe(2);
    expect(chunks.add(c, piece('b', 1, 2, 'cc'), 100)).toBe('bbcc');
    expect(chunks.held).toBe(0);
  });
});
