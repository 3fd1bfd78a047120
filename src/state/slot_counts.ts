import { slotCount } from './hash_slot.js';

/**
 * A count per hash slot with prefix sums in O(log slots): a Fenwick (binary indexed) tree, as
 * Redis's kvstore keeps one over its per-slot dicts. It answers the two questions a keyspace split
 * into per-slot tables asks without walking 16,384 slots:
 *
 *   - which slot holds the k-th key (`slotOf`): a uniform random key, or a uniform sample of keys
 *     with a TTL, drawn over all slots however unevenly the keys are spread;
 *   - which is the first slot at or after s holding any key (`nextNonEmpty`): a SCAN step or an
 *     image's walk moving on to the next table.
 */
export class SlotCounts {
  /** tree[i] (1-based) sums the counts of slots (i - lowbit(i), i]. */
  private readonly tree = new Int32Array(slotCount + 1);
  private sum = 0;

  get total(): number {
    return this.sum;
  }

  add(slot: number, delta: number): void {
    this.sum += delta;
    for (let i = slot + 1; i <= slotCount; i += i & -i) this.tree[i]! += delta;
  }

  /** The counts of slots 0..slot-1. */
  before(slot: number): number {
    let total = 0;
    for (let i = slot; i > 0; i -= i & -i) total += this.tree[i]!;
    return total;
  }

  /** The slot holding the k-th item (0-based) in slot order; k must be below `total`. */
  slotOf(k: number): number {
    let position = 0;
    let remaining = k;
    for (let step = slotCount; step > 0; step >>= 1) {
      const next = position + step;
      if (next <= slotCount && this.tree[next]! <= remaining) {
        position = next;
        remaining -= this.tree[next]!;
      }
    }
    return position;
  }

  /** The first slot at or after `slot` whose count is not zero, or -1. */
  nextNonEmpty(slot: number): number {
    if (slot >= slotCount) return -1;
    const before = this.before(slot);
    return before < this.sum ? this.slotOf(before) : -1;
  }
}
