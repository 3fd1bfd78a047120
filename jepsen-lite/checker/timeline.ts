/**
 * Questions about real-time order asked once per operation ("which operations had completed
 * before this one was invoked?"), answered by sorting once and binary searching, so a checker
 * stays O(n log n) on long histories. Items are numbers (positions or rows), held in typed arrays.
 */

/** Items sorted by a time (equal times in the order given), with the times alongside for binary search. */
export class Timeline {
  readonly items: Int32Array;
  readonly times: Float64Array;

  constructor(items: ArrayLike<number>, time: (item: number) => number) {
    const n = items.length;
    const given = new Float64Array(n);
    for (let i = 0; i < n; i++) given[i] = time(items[i]!);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => given[a]! - given[b]! || a - b);
    this.items = new Int32Array(n);
    this.times = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      this.items[k] = items[order[k]!]!;
      this.times[k] = given[order[k]!]!;
    }
  }

  get length(): number {
    return this.items.length;
  }

  /** How many items have a time strictly before `t`: they are the first ones. */
  countBefore(t: number): number {
    return this.count(t, false);
  }

  /** How many items have a time at or before `t`. */
  countAtOrBefore(t: number): number {
    return this.count(t, true);
  }

  private count(t: number, inclusive: boolean): number {
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const time = this.times[mid]!;
      if (time < t || (inclusive && time === t)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `sums[k]` = the sum of `weight` over the first k items. */
  prefixSums(weight: (item: number) => number): Float64Array {
    const sums = new Float64Array(this.items.length + 1);
    for (let k = 0; k < this.items.length; k++) sums[k + 1] = sums[k]! + weight(this.items[k]!);
    return sums;
  }

  /** `best[k]` = the item with the greatest `score` among the first k items (the earliest among equals; -1 for k = 0). */
  prefixMax(score: (item: number) => number): Int32Array {
    const best = new Int32Array(this.items.length + 1);
    best[0] = -1;
    let bestScore = -Infinity;
    for (let k = 0; k < this.items.length; k++) {
      const item = this.items[k]!;
      const s = score(item);
      if (best[k] === -1 || s > bestScore) {
        best[k + 1] = item;
        bestScore = s;
      } else {
        best[k + 1] = best[k]!;
      }
    }
    return best;
  }
}
