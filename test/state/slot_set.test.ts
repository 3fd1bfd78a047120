import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlotSet, divideSlots, formatSlotRanges, parseSlotRanges } from '../../src/state/slot_set.js';
import { propertySeed } from '../support/seed.js';

describe('SlotSet', () => {
  it('divides the slots as redis-cli --cluster create does', () => {
    expect(divideSlots(1)).toEqual([[0, 16383]]);
    expect(divideSlots(3)).toEqual([
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ]);
    for (const parts of [2, 5, 7, 64, 1000]) {
      const ranges = divideSlots(parts);
      expect(ranges).toHaveLength(parts);
      expect(ranges[0]![0]).toBe(0);
      expect(ranges[parts - 1]![1]).toBe(16383);
      for (let i = 1; i < parts; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);
      const sizes = ranges.map(([a, b]) => b - a + 1);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(() => divideSlots(0)).toThrow(RangeError);
  });

  it('formats and parses ranges, refusing what is not a range of slots', () => {
    const set = SlotSet.of([
      [0, 5],
      [7, 7],
      [100, 16383],
    ]);
    expect(set.toString()).toBe('0-5,7,100-16383');
    expect(parseSlotRanges('0-5,7,100-16383')).toEqual(set.ranges());
    expect(parseSlotRanges('')).toEqual([]);
    for (const bad of ['5-1', '16384', '-1', 'a', '1-2-3', '0-16384']) expect(() => parseSlotRanges(bad), bad).toThrow(RangeError);
    expect(formatSlotRanges([])).toBe('');
  });

  it('agrees with a plain Set of slots under adds and removes, and keeps ranges canonical', () => {
    const range = fc.tuple(fc.integer({ min: 0, max: 16383 }), fc.integer({ min: 0, max: 300 })).map(([a, n]) => [a, Math.min(16383, a + n)] as const);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), range), { maxLength: 30 }), (ops) => {
        const set = SlotSet.empty();
        const model = new Set<number>();
        for (const [add, [a, b]] of ops) {
          if (add) set.addRange([a, b]);
          else set.removeRange([a, b]);
          for (let s = a; s <= b; s++) {
            if (add) model.add(s);
            else model.delete(s);
          }
        }
        expect(set.size).toBe(model.size);
        for (let s = 0; s < 16384; s += 97) expect(set.has(s)).toBe(model.has(s));
        const expanded: number[] = [];
        const ranges = set.ranges();
        for (let i = 0; i < ranges.length; i++) {
          const [a, b] = ranges[i]!;
          if (i > 0) expect(a).toBeGreaterThan(ranges[i - 1]![1] + 1);
          for (let s = a; s <= b; s++) expanded.push(s);
        }
        expect(expanded).toEqual([...model].sort((x, y) => x - y));
        expect(SlotSet.of(ranges).equals(set)).toBe(true);
      }),
      propertySeed('slot set', 200),
    );
  });
});
