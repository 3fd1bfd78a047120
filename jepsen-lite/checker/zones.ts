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

export function checkZones(ops: readonly ZoneOperation[], initialCluster: number): ZoneVerdict {
  const members = new Map<number, number[]>();
  ops.forEach((op, index) => {
    const list = members.get(op.cluster);
    if (list) list.push(index);
    else members.set(op.cluster, [index]);
  });

  const zones: Zone[] = [];
  for (const [cluster, indices] of members) {
    const writes = indices.filter((i) => ops[i]!.isWrite);
    if (writes.length > 1) return { kind: 'not-applicable', reason: 'a value was written more than once' };
    if (cluster === initialCluster && writes.length > 0) return { kind: 'not-applicable', reason: 'the initial value was written' };
    const write = writes[0];
    if (write === undefined && cluster !== initialCluster) {
      return { kind: 'not-linearizable', witness: [indices[0]!], conflict: { kind: 'unwritten', read: indices[0]! } };
    }
    if (write !== undefined && !Number.isFinite(ops[write]!.returnTime)) {
      return { kind: 'not-applicable', reason: 'a write may take effect at any time' };
    }
    let f = write === undefined ? -Infinity : Infinity;
    let fOp: number | undefined;
    let s = -Infinity;
    let sOp = indices[0]!;
    for (const i of indices) {
      const op = ops[i]!;
      if (write !== undefined && op.returnTime < ops[write]!.invokeTime) {
        return { kind: 'not-linearizable', witness: [write, i], conflict: { kind: 'read-before-write', write, read: i } };
      }
      if (op.returnTime < f) [f, fOp] = [op.returnTime, i];
      if (op.invokeTime > s) [s, sOp] = [op.invokeTime, i];
    }
    zones.push({ cluster, f, fOp, s, sOp, write });
  }

  const forward = zones.filter((z) => z.f < z.s).sort((a, b) => a.f - b.f);
  for (let i = 1; i < forward.length; i++) {
    // Sorted by f; each pair of neighbours disjoint means all are.
    const [first, second] = [forward[i - 1]!, forward[i]!];
    if (second.f < first.s) {
      const conflict = { kind: 'overlapping', first: span(first), second: span(second) } as const;
      return { kind: 'not-linearizable', witness: witnessOf(first, second), conflict };
    }
  }
  for (const backward of zones) {
    if (backward.f < backward.s) continue;
    // The only forward zone that can contain it: the last one starting before it.
    let lo = 0;
    let hi = forward.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (forward[mid]!.f < backward.s) lo = mid + 1;
      else hi = mid;
    }
    const around = forward[lo - 1];
    if (around !== undefined && backward.f < around.s) {
      const conflict = { kind: 'inside', outer: span(around), inner: span(backward) } as const;
      return { kind: 'not-linearizable', witness: witnessOf(around, backward), conflict };
    }
  }
  return { kind: 'linearizable' };
}

function span(zone: Zone): ZoneSpan {
  return zone.f < zone.s ? { cluster: zone.cluster, from: zone.f, to: zone.s } : { cluster: zone.cluster, from: zone.s, to: zone.f };
}

/** The writes and the operations that set f and s of two conflicting zones: the same zones, so the same conflict. */
function witnessOf(a: Zone, b: Zone): number[] {
  const indices = [a.write, a.fOp, a.sOp, b.write, b.fOp, b.sOp].filter((i): i is number => i !== undefined);
  return [...new Set(indices)].sort((x, y) => x - y);
}
