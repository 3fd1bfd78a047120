/**
 * The counter workload: INCR / INCRBY on a few keys, and GETs. A counter is not checked for full
 * linearizability (which increments a read saw is not recorded); instead every observed value is
 * bounded by what must and what may have happened, as Jepsen's counter checker does:
 *
 * ```
 *   read r:                      invoke ───────────── complete
 *   certain:  ok increments  ──┤ completed before r was invoked     (all of them took effect)
 *   possible: increments ok or info, invoked before r completed, not certain (any subset did)
 *
 *   certain + (negative possible deltas)  <=  r.value  <=  certain + (positive possible deltas)
 * ```
 *
 * The final read, taken once nothing is in flight, must lie between the acknowledged and the
 * attempted (ok + info) totals. An ok INCR's reply is an observation too: the value just after
 * its own increment, which is certain for it. With only positive deltas, observations also must
 * not go backwards in real time, and no two increments may reply the same value.
 *
 * Reads of a missing key (null) count as 0; numeric strings (a GET reply) as their number.
 */
import { EventType, Fn, byKey, countOutcomes, type Json, type Operation, type OutcomeCounts } from '../history.js';
import { show, sliceOfSmallest, unsupportedFunction, validityOf, type Anomaly, type WorkloadCheck } from './result.js';
import { Timeline } from './timeline.js';

export interface CounterStats {
  readonly keys: number;
  readonly operations: OutcomeCounts;
  readonly observations: number;
  /** Per key: the sums of ok deltas and of ok + info deltas, and the final read if there was one. */
  readonly totals: Readonly<Record<string, { acknowledged: number; attempted: number; finalRead: number | null }>>;
}

interface Observation {
  readonly op: Operation;
  readonly value: number;
  /** The observing INCR's own delta; 0 for a read. */
  readonly own: number;
}

export function checkCounter(ops: readonly Operation[]): WorkloadCheck<CounterStats> {
  const anomalies: Anomaly[] = [];
  const unknownReasons: string[] = [];
  const totals: Record<string, { acknowledged: number; attempted: number; finalRead: number | null }> = {};
  let observationCount = 0;

  const groups = byKey(ops);
  for (const [key, keyOps] of groups) {
    const unsupported = unsupportedFunction('counter', key, keyOps, [Fn.read, Fn.incr]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      continue;
    }
    const increments = keyOps.filter((op) => op.f === Fn.incr && op.outcome !== EventType.fail);
    const deltaOf = new Map<Operation, number>();
    for (const op of increments) {
      const delta = asInteger(op.args ?? 1);
      if (delta === undefined) {
        unknownReasons.push(`key ${show(key)}: #${op.id} increments by ${show(op.args)}, not an integer`);
      } else {
        deltaOf.set(op, delta);
      }
    }
    const delta = (op: Operation): number => deltaOf.get(op) ?? 0;
    const acknowledged = sum(increments.filter((op) => op.outcome === EventType.ok).map(delta));
    const attempted = sum(increments.map(delta));

    const observations: Observation[] = [];
    for (const op of keyOps) {
      if (op.outcome !== EventType.ok || (op.f === Fn.incr && op.result === null)) continue;
      const value = op.f === Fn.read && op.result === null ? 0 : asInteger(op.result);
      if (value === undefined) {
        anomalies.push({ kind: 'unexpected-result', key, message: `#${op.id} returned ${show(op.result)}, not an integer`, ops: [op] });
        continue;
      }
      observations.push({ op, value, own: op.f === Fn.incr ? delta(op) : 0 });
    }
    observationCount += observations.length;

    const finalRead = latestRead(observations);
    anomalies.push(...checkBounds(key, increments, delta, observations, finalRead));
    if ([...deltaOf.values()].every((d) => d >= 0)) anomalies.push(...checkMonotonic(key, observations));
    if ([...deltaOf.values()].every((d) => d > 0)) anomalies.push(...checkUniqueReplies(key, observations));
    totals[key] = { acknowledged, attempted, finalRead: finalRead?.value ?? null };
  }

  const slice = sliceOfSmallest(anomalies);
  return {
    valid: validityOf(anomalies, unknownReasons),
    stats: { keys: groups.size, operations: countOutcomes(ops), observations: observationCount, totals },
    anomalies,
    unknownReasons,
    ...(slice ? { smallestFailingSlice: slice } : {}),
  };
}

/** Every observation within [certain + possible negatives, certain + possible positives]. */
function checkBounds(
  key: string,
  increments: readonly Operation[],
  delta: (op: Operation) => number,
  observations: readonly Observation[],
  finalRead: Observation | undefined,
): Anomaly[] {
  const positive = (op: Operation): number => Math.max(0, delta(op));
  const negative = (op: Operation): number => Math.min(0, delta(op));
  // Certain: ok increments, by completion. Invoked: ok and info increments, by invoke.
  const certain = new Timeline(
    increments.filter((op) => op.outcome === EventType.ok),
    (op) => op.completeTime,
  );
  const certainPositive = certain.prefixSums(positive);
  const certainNegative = certain.prefixSums(negative);
  const invoked = new Timeline(increments, (op) => op.invokeTime);
  const invokedPositive = invoked.prefixSums(positive);
  const invokedNegative = invoked.prefixSums(negative);

  const anomalies: Anomaly[] = [];
  for (const observation of observations) {
    const { op, value, own } = observation;
    const c = certain.countBefore(op.invokeTime);
    const i = invoked.countAtOrBefore(op.completeTime);
    // Every certain increment was invoked before `op` completed, so it is among the invoked ones;
    // so is `op` itself when it is an increment, and it is certain for itself.
    const base = certainPositive[c]! + certainNegative[c]! + own;
    const lower = base + (invokedNegative[i]! - certainNegative[c]! - Math.min(0, own));
    const upper = base + (invokedPositive[i]! - certainPositive[c]! - Math.max(0, own));
    if (value >= lower && value <= upper) continue;

    const isFinal = observation === finalRead && c === certain.items.length && i === invoked.items.length;
    const certainOnes = new Set(certain.items.slice(0, c));
    const inFlight = invoked.items.slice(0, i).filter((inc) => inc !== op && !certainOnes.has(inc));
    anomalies.push({
      kind: isFinal ? 'final-read-out-of-range' : 'read-out-of-range',
      key,
      message:
        `#${op.id} ${op.f === Fn.incr ? 'replied' : 'read'} ${value}, but the counter could only be in ` +
        `[${lower}, ${upper}]: ${c} increments were acknowledged before it began, ${inFlight.length} more may have happened`,
      // The full evidence can be thousands of increments; the slice keeps those in flight.
      ops: [...inFlight.slice(0, 20), op],
    });
  }
  return anomalies;
}

/**
 * With only non-negative deltas: an observation `b` invoked after `a` completed sees at least
 * `a`'s value, plus its own increment when `b` is an INCR.
 */
function checkMonotonic(key: string, observations: readonly Observation[]): Anomaly[] {
  const completed = new Timeline(observations, (o) => o.op.completeTime);
  const highest = completed.prefixMax((o) => o.value);
  const anomalies: Anomaly[] = [];
  for (const b of observations) {
    const a = highest[completed.countBefore(b.op.invokeTime)];
    if (a === undefined || b.value >= a.value + b.own) continue;
    anomalies.push({
      kind: 'non-monotonic',
      key,
      message: `#${b.op.id} saw ${b.value} after #${a.op.id} had completed having seen ${a.value}: the counter went backwards`,
      ops: [a.op, b.op],
    });
  }
  return anomalies;
}

/** With only positive deltas every increment leaves a different value, so replies are unique. */
function checkUniqueReplies(key: string, observations: readonly Observation[]): Anomaly[] {
  const byValue = new Map<number, Operation[]>();
  for (const { op, value } of observations) {
    if (op.f !== Fn.incr) continue;
    const list = byValue.get(value);
    if (list) list.push(op);
    else byValue.set(value, [op]);
  }
  const anomalies: Anomaly[] = [];
  for (const [value, incrs] of byValue) {
    if (incrs.length < 2) continue;
    anomalies.push({
      kind: 'duplicate-incr-result',
      key,
      message: `${incrs.map((op) => `#${op.id}`).join(', ')} all replied ${value}: an increment was lost or applied to a stale value`,
      ops: incrs,
    });
  }
  return anomalies;
}

/** The read invoked last: the final read when the workload ends with one. */
function latestRead(observations: readonly Observation[]): Observation | undefined {
  let latest: Observation | undefined;
  for (const o of observations) {
    if (o.op.f === Fn.read && (latest === undefined || o.op.invokeTime > latest.op.invokeTime)) latest = o;
  }
  return latest;
}

function asInteger(value: Json): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
