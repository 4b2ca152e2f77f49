import { describe, expect, it } from 'vitest';
import { boundHeapGrowth, HEAP_GROWING_PERCENT } from './heap-growth.ts';

describe('boundHeapGrowth', () => {
  it("sets V8's heap growth for pulse start", () => {
    const set: string[] = [];
    expect(boundHeapGrowth(['--enable-source-maps'], (flags) => set.push(flags))).toBe(true);
    expect(set).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });

  it('keeps a value the process was started with', () => {
    for (const given of [['--heap-growing-percent=100'], ['--heap_growing_percent', '20']]) {
      const set: string[] = [];
      expect(boundHeapGrowth(given, (flags) => set.push(flags))).toBe(false);
      expect(set).toEqual([]);
    }
  });
});
