import type { ClientMessage } from '@pulse/protocol/lite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { P2POutbound } from '../src/p2p/outbound.ts';
import { SendBudget } from '../src/send-budget.ts';

const piece = (index: number): ClientMessage => ({ type: 'p2p:chunk', id: 'c1', index, count: 30, data: 'x' });
const update: ClientMessage = { type: 'p2p:update', update: 'AA==' };

describe('P2POutbound', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends pieces within the budget at once, paces the rest, and keeps later frames behind them', async () => {
    const sent: ClientMessage[] = [];
    const out = new P2POutbound((m) => sent.push(m) > 0, new SendBudget(10, 10));
    out.push(Array.from({ length: 30 }, (_, i) => piece(i)));
    out.push([update]);
    expect(sent).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toHaveLength(20);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toHaveLength(31);
    expect(sent.at(-1)).toBe(update);
    expect(sent.slice(0, 30).map((m) => (m as { index: number }).index)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('sends what waits at once when the session ends, and forgets it when the connection is gone', async () => {
    const sent: ClientMessage[] = [];
    const out = new P2POutbound((m) => sent.push(m) > 0, new SendBudget(5, 10));
    out.push(Array.from({ length: 10 }, (_, i) => piece(i)));
    expect(out.waiting).toBe(5);
    expect(out.flushNow()).toBe(true);
    expect(sent).toHaveLength(10);
    out.push(Array.from({ length: 10 }, (_, i) => piece(i)));
    out.clear();
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(10); // the budget was spent: all ten waited, and were forgotten
    expect(out.waiting).toBe(0);
  });

  it('stops at the first frame the connection cannot take', () => {
    let open = 3;
    const out = new P2POutbound(() => open-- > 0, new SendBudget(10, 10));
    expect(out.push(Array.from({ length: 5 }, (_, i) => piece(i)))).toBe(false);
    expect(out.waiting).toBe(0);
  });

  it('tells when a frame has left, or was dropped unsent', async () => {
    const sent: ClientMessage[] = [];
    const told: [string, boolean][] = [];
    const out = new P2POutbound((m) => sent.push(m) > 0, new SendBudget(10, 10));
    out.push(Array.from({ length: 15 }, (_, i) => piece(i)));
    out.push([update], (ok) => told.push(['behind the pieces', ok]));
    expect(told).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(told).toEqual([['behind the pieces', true]]);
    expect(sent.at(-1)).toBe(update);
    out.push(Array.from({ length: 15 }, (_, i) => piece(i)));
    out.push([update], (ok) => told.push(['dropped', ok]));
    out.clear();
    expect(told.at(-1)).toEqual(['dropped', false]);
  });
});
