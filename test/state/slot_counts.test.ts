import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { slotCount } from '../../src/state/hash_slot.js';
import { SlotCounts } from '../../src/state/slot_counts.js';
import { propertyParameters } from '../storage/support.js';

/** SlotCounts against a plain array of counts. Replay a failure with QKV_SEED=<seed printed below>. */
describe('SlotCounts', () => {
  test('total, prefix sums, the k-th item\'s slot and the next non-empty slot agree with a plain array', () => {
    const { seed, numRuns } = propertyParameters('slot counts', 100);
    // Slots near the edges and a few in the middle, so that runs hit empty stretches and the last slot.
    const slotArb = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 8190, max: 8194 }), fc.integer({ min: slotCount - 4, max: slotCount - 1 }), fc.integer({ min: 0, max: slotCount - 1 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(slotArb, fc.integer({ min: 1, max: 5 }), fc.boolean()), { maxLength: 60 }), fc.array(slotArb, { minLength: 1, maxLength: 10 }), (ops, probes) => {
        const counts = new SlotCounts();
        const model = new Array<number>(slotCount).fill(0);
        for (const [slot, n, remove] of ops) {
          const delta = remove ? -Math.min(n, model[slot]!) : n;
          counts.add(slot, delta);
          model[slot]! += delta;
        }
        const total = model.reduce((a, b) => a + b, 0);
        expect(counts.total).toBe(total);
        for (const slot of probes) {
          expect(counts.before(slot)).toBe(model.slice(0, slot).reduce((a, b) => a + b, 0));
          const next = model.findIndex((c, s) => s >= slot && c > 0);
          expect(counts.nextNonEmpty(slot)).toBe(next);
        }
        let k = 0;
        model.forEach((c, slot) => {
          for (let i = 0; i < c; i++) expect(counts.slotOf(k++)).toBe(slot);
        });
        expect(counts.nextNonEmpty(slotCount)).toBe(-1);
      }),
      { seed, numRuns },
    );
  });
});
