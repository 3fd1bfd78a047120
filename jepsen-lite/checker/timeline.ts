/**
 * Questions about real-time order asked once per operation ("which operations had completed
 * before this one was invoked?"), answered by sorting once and binary searching, so a checker
 * stays O(n log n) on long histories.
 */

/** Items sorted by a time, with the times alongside for binary search. */
export class Timeline<T> {
  readonly items: readonly T[];
  readonly times: Float64Array;

  constructor(items: readonly T[], time: (item: T) => number) {
    const sorted = [...items].sort((a, b) => time(a) - time(b));
    this.items = sorted;
    this.times = Float64Array.from(sorted, time);
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
  prefixSums(weight: (item: T) => number): Float64Array {
    const sums = new Float64Array(this.items.length + 1);
    this.items.forEach((item, i) => (sums[i + 1] = sums[i]! + weight(item)));
    return sums;
  }

  /** `best[k]` = the item with the greatest `score` among the first k items (undefined for k = 0). */
  prefixMax(score: (item: T) => number): (T | undefined)[] {
    const best: (T | undefined)[] = [undefined];
    for (const item of this.items) {
      const last = best[best.length - 1];
      best.push(last === undefined || score(item) > score(last) ? item : last);
    }
    return best;
  }
}
