/**
 * An exact O(n log n) decision for registers whose writes have unique values, after Gibbons &
 * Korach ("Testing shared memories", 1997) and Golab, Li & Shah ("Analyzing consistency
 * properties for fun and profit", 2011). The search stays the checker; this is its second
 * opinion: it cross-checks the search's answer, decides where the search ran out of budget, and
 * yields a witness of a handful of operations that is non-linearizable on its own.
 *
 * A value's cluster is its write and the reads that saw it; in any linearization the cluster
 * occupies one contiguous run (no other write can come between the write and its readers). Let
 * f = the earliest return and s = the latest invoke among the cluster's operations:
 *
 * ```
 *   forward zone (f < s): the run must cover all of [f, s]
 *       w ─────┤f                         the op that returned at f is linearized by f,
 *                   s├──── r ────         the one invoked at s after s
 *
 *   backward zone (s <= f): every op of the cluster is running throughout [s, f]; the run
 *       can sit at any instant there
 * ```
 *
 * Runs are disjoint, so the history is linearizable iff no two forward zones overlap and no
 * backward zone lies strictly inside a forward zone. Intervals that merely touch are fine:
 * operations touching at one instant are concurrent. The initial value (null) is a cluster whose
 * write is at -infinity. A read whose value has no write, or that returned before its write was
 * invoked, is a witness on its own.
 */

export interface ZoneOperation {
  readonly invokeTime: number;
  readonly returnTime: number;
  /** The value: the operations that wrote or read the same value share a cluster. */
  readonly cluster: number;
  readonly isWrite: boolean;
}

export type ZoneVerdict =
  | { readonly kind: 'not-applicable'; readonly reason: string }
  | { readonly kind: 'linearizable' }
  /** `witness`: indices of operations that, alone, are not linearizable. */
  | { readonly kind: 'not-linearizable'; readonly witness: readonly number[]; readonly conflict: ZoneConflict };

/** Where a cluster's run must be: all of [from, to] for a forward zone; somewhere in it for a backward one. */
export interface ZoneSpan {
  readonly cluster: number;
  readonly from: number;
  readonly to: number;
}

export type ZoneConflict =
  | { readonly kind: 'unwritten'; readonly read: number }
  | { readonly kind: 'read-before-write'; readonly write: number; readonly read: number }
  /** Two values that must each hold throughout overlapping intervals. */
  | { readonly kind: 'overlapping'; readonly first: ZoneSpan; readonly second: ZoneSpan }
  /** A value whose run must sit inside an interval where another value must hold. */
  | { readonly kind: 'inside'; readonly outer: ZoneSpan; readonly inner: ZoneSpan };

/** The same operations as columns, with clusters numbered densely from 0: how the register checker holds them. */
export interface ZoneColumns {
  readonly count: number;
  readonly invokeTimes: ArrayLike<number>;
  readonly returnTimes: ArrayLike<number>;
  readonly clusters: ArrayLike<number>;
  readonly isWrite: ArrayLike<number>;
  /** Clusters are 0 .. clusterCount - 1. */
  readonly clusterCount: number;
}

export function checkZones(ops: readonly ZoneOperation[], initialCluster: number): ZoneVerdict {
  // Clusters renumbered densely, then the verdict's clusters named as given.
  const dense = new Map<number, number>([[initialCluster, 0]]);
  const original = [initialCluster];
  const clusters = Int32Array.from(ops, (op) => {
    let id = dense.get(op.cluster);
    if (id === undefined) {
      id = original.length;
      dense.set(op.cluster, id);
      original.push(op.cluster);
    }
    return id;
  });
  const verdict = checkZoneColumns(
    {
      count: ops.length,
      invokeTimes: Float64Array.from(ops, (op) => op.invokeTime),
      returnTimes: Float64Array.from(ops, (op) => op.returnTime),
      clusters,
      isWrite: Uint8Array.from(ops, (op) => (op.isWrite ? 1 : 0)),
      clusterCount: original.length,
    },
    0,
  );
  if (verdict.kind !== 'not-linearizable' || (verdict.conflict.kind !== 'overlapping' && verdict.conflict.kind !== 'inside')) return verdict;
  const rename = (zone: ZoneSpan): ZoneSpan => ({ ...zone, cluster: original[zone.cluster]! });
  const conflict: ZoneConflict =
    verdict.conflict.kind === 'overlapping'
      ? { kind: 'overlapping', first: rename(verdict.conflict.first), second: rename(verdict.conflict.second) }
      : { kind: 'inside', outer: rename(verdict.conflict.outer), inner: rename(verdict.conflict.inner) };
  return { ...verdict, conflict };
}

/**
 * The zone check over columns: per cluster a handful of numbers in typed arrays, so a key with a
 * million values costs no object per value. Clusters are visited in order of first appearance,
 * and the first problem found in that order is the answer.
 */
export function checkZoneColumns(ops: ZoneColumns, initialCluster: number): ZoneVerdict {
  const n = ops.count;
  const m = ops.clusterCount;
  const NONE = -1;
  const first = new Int32Array(m).fill(NONE);
  const writes = new Int32Array(m);
  const write = new Int32Array(m).fill(NONE);
  const f = new Float64Array(m).fill(Infinity);
  const fOp = new Int32Array(m).fill(NONE);
  const s = new Float64Array(m).fill(-Infinity);
  const sOp = new Int32Array(m).fill(NONE);
  const readBeforeWrite = new Int32Array(m).fill(NONE);
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = ops.clusters[i]!;
    if (first[c] === NONE) {
      first[c] = i;
      order.push(c);
    }
    if (ops.isWrite[i]) {
      writes[c]!++;
      if (write[c] === NONE) write[c] = i;
    }
  }
  for (let i = 0; i < n; i++) {
    const c = ops.clusters[i]!;
    const w = write[c]!;
    if (w !== NONE && readBeforeWrite[c] === NONE && ops.returnTimes[i]! < ops.invokeTimes[w]!) readBeforeWrite[c] = i;
    if (ops.returnTimes[i]! < f[c]!) {
      f[c] = ops.returnTimes[i]!;
      fOp[c] = i;
    }
    if (ops.invokeTimes[i]! > s[c]!) {
      s[c] = ops.invokeTimes[i]!;
      sOp[c] = i;
    }
  }
  for (const c of order) {
    if (writes[c]! > 1) return { kind: 'not-applicable', reason: 'a value was written more than once' };
    if (c === initialCluster && writes[c]! > 0) return { kind: 'not-applicable', reason: 'the initial value was written' };
    const w = write[c]!;
    if (w === NONE && c !== initialCluster) {
      return { kind: 'not-linearizable', witness: [first[c]!], conflict: { kind: 'unwritten', read: first[c]! } };
    }
    if (w !== NONE && !Number.isFinite(ops.returnTimes[w]!)) {
      return { kind: 'not-applicable', reason: 'a write may take effect at any time' };
    }
    if (readBeforeWrite[c] !== NONE) {
      const read = readBeforeWrite[c]!;
      return { kind: 'not-linearizable', witness: [w, read], conflict: { kind: 'read-before-write', write: w, read } };
    }
  }
  // The initial value's write is at -infinity.
  if (first[initialCluster] !== NONE) {
    f[initialCluster] = -Infinity;
    fOp[initialCluster] = NONE;
  }
  const zone = (c: number): Zone => ({
    cluster: c,
    f: f[c]!,
    fOp: fOp[c] === NONE ? undefined : fOp[c]!,
    s: s[c]!,
    sOp: sOp[c]!,
    write: write[c] === NONE ? undefined : write[c]!,
  });

  // Forward zones by f; ties keep the order of first appearance.
  const rank = new Int32Array(m);
  order.forEach((c, i) => (rank[c] = i));
  const forward = Int32Array.from(order.filter((c) => f[c]! < s[c]!));
  forward.sort((a, b) => f[a]! - f[b]! || rank[a]! - rank[b]!);
  for (let i = 1; i < forward.length; i++) {
    // Sorted by f; each pair of neighbours disjoint means all are.
    const [a, b] = [forward[i - 1]!, forward[i]!];
    if (f[b]! < s[a]!) {
      const [earlier, later] = [zone(a), zone(b)];
      const conflict = { kind: 'overlapping', first: span(earlier), second: span(later) } as const;
      return { kind: 'not-linearizable', witness: witnessOf(earlier, later), conflict };
    }
  }
  for (const c of order) {
    if (f[c]! < s[c]!) continue;
    // The only forward zone that can contain it: the last one starting before it.
    let lo = 0;
    let hi = forward.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[forward[mid]!]! < s[c]!) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && f[c]! < s[forward[lo - 1]!]!) {
      const [around, backward] = [zone(forward[lo - 1]!), zone(c)];
      const conflict = { kind: 'inside', outer: span(around), inner: span(backward) } as const;
      return { kind: 'not-linearizable', witness: witnessOf(around, backward), conflict };
    }
  }
  return { kind: 'linearizable' };
}

interface Zone {
  readonly cluster: number;
  /** Earliest return (-infinity for the initial value), and the operation that returned then. */
  readonly f: number;
  readonly fOp: number | undefined;
  /** Latest invoke, and the operation invoked then. */
  readonly s: number;
  readonly sOp: number;
  readonly write: number | undefined;
}

function span(zone: Zone): ZoneSpan {
  return zone.f < zone.s ? { cluster: zone.cluster, from: zone.f, to: zone.s } : { cluster: zone.cluster, from: zone.s, to: zone.f };
}

/** The writes and the operations that set f and s of two conflicting zones: the same zones, so the same conflict. */
function witnessOf(a: Zone, b: Zone): number[] {
  const indices = [a.write, a.fOp, a.sOp, b.write, b.fOp, b.sOp].filter((i): i is number => i !== undefined);
  return [...new Set(indices)].sort((x, y) => x - y);
}
