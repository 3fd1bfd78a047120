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
import { Fn, type Json, type Operation, type OutcomeCounts } from '../history.js';
import { OperationLog, OutcomeCode, ValueTable } from '../oplog.js';
import { AnomalySink, BoundedList, MAX_EVIDENCE, findings, idList, show, sliceOf, unsupportedFunction, type WorkloadCheck } from './result.js';
import { Timeline } from './timeline.js';

export interface CounterOptions {
  /** Anomalies (and reasons for unknown) kept; all are counted. Default 100. */
  readonly maxAnomalies?: number;
}

export interface CounterStats {
  readonly keys: number;
  readonly operations: OutcomeCounts;
  readonly observations: number;
  /** Per key: the sums of ok deltas and of ok + info deltas, and the final read if there was one. */
  readonly totals: Readonly<Record<string, { acknowledged: number; attempted: number; finalRead: number | null }>>;
}

/** One key's observations as columns: the observing row, the value seen, its own delta (0 for a read). */
interface Observations {
  readonly count: number;
  readonly rows: Int32Array;
  readonly values: Float64Array;
  readonly own: Float64Array;
}


export function checkCounter(input: readonly Operation[] | OperationLog, options: CounterOptions = {}): WorkloadCheck<CounterStats> {
  const log = input instanceof OperationLog ? input : OperationLog.fromOperations(input);
  const anomalies = new AnomalySink(options.maxAnomalies);
  const unknownReasons = new BoundedList<string>(options.maxAnomalies);
  const totals: Record<string, { acknowledged: number; attempted: number; finalRead: number | null }> = {};
  let observationCount = 0;
  const INCR = log.functionId(Fn.incr);
  const READ = log.functionId(Fn.read);
  // Deltas are few distinct values (mostly 1): parsed once per value.
  const deltaOfValue = new Map<number, number | undefined>();
  // Each increment's delta by row (0 when it is not an integer).
  const deltaByRow = new Float64Array(log.length);

  const partitions = log.partitionByKey();
  for (const { key, rows } of partitions) {
    const unsupported = unsupportedFunction('counter', log, key, rows, [Fn.read, Fn.incr]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      continue;
    }
    // Increments that may have happened, and each one's delta (0 when it is not an integer).
    const incrementList: number[] = [];
    let allNonNegative = true;
    let allPositive = true;
    let acknowledged = 0;
    let attempted = 0;
    for (const row of rows) {
      if (log.fId(row) !== INCR || log.outcomeCode(row) === OutcomeCode.fail) continue;
      incrementList.push(row);
      const argsId = log.argsId(row);
      if (!deltaOfValue.has(argsId)) deltaOfValue.set(argsId, argsId === ValueTable.NULL ? 1 : asInteger(log.values.value(argsId)));
      const delta = deltaOfValue.get(argsId);
      if (delta === undefined) {
        unknownReasons.push(`key ${show(key)}: #${log.id(row)} increments by ${log.values.text(argsId)}, not an integer`);
        continue;
      }
      deltaByRow[row] = delta;
      allNonNegative &&= delta >= 0;
      allPositive &&= delta > 0;
      attempted += delta;
      if (log.outcomeCode(row) === OutcomeCode.ok) acknowledged += delta;
    }
    const increments = Int32Array.from(incrementList);
    const delta = (row: number): number => deltaByRow[row]!;

    const observed = { rows: new Int32Array(rows.length), values: new Float64Array(rows.length), own: new Float64Array(rows.length) };
    let count = 0;
    for (const row of rows) {
      if (log.outcomeCode(row) !== OutcomeCode.ok) continue;
      const isIncr = log.fId(row) === INCR;
      if (isIncr && log.resultId(row) === ValueTable.NULL) continue;
      const value = !isIncr && log.resultId(row) === ValueTable.NULL ? 0 : asInteger(log.result(row));
      if (value === undefined) {
        anomalies.add('unexpected-result', 1, () => ({
          kind: 'unexpected-result',
          key,
          message: `#${log.id(row)} returned ${log.values.text(log.resultId(row))}, not an integer`,
          ops: [log.operation(row)],
        }));
        continue;
      }
      observed.rows[count] = row;
      observed.values[count] = value;
      observed.own[count] = isIncr ? delta(row) : 0;
      count++;
    }
    const observations: Observations = {
      count,
      rows: observed.rows.subarray(0, count),
      values: observed.values.subarray(0, count),
      own: observed.own.subarray(0, count),
    };
    observationCount += count;

    const finalRead = latestRead(log, observations, READ);
    checkBounds(log, key, increments, delta, observations, finalRead, anomalies);
    if (allNonNegative) checkMonotonic(log, key, observations, anomalies);
    if (allPositive) checkUniqueReplies(log, key, observations, INCR, anomalies);
    totals[key] = { acknowledged, attempted, finalRead: finalRead < 0 ? null : observations.values[finalRead]! };
  }

  const smallest = anomalies.smallest;
  return {
    ...findings(anomalies, unknownReasons),
    stats: { keys: partitions.length, operations: log.counts(), observations: observationCount, totals },
    ...(smallest ? { smallestFailingSlice: sliceOf(smallest) } : {}),
  };
}

/** Every observation within [certain + possible negatives, certain + possible positives]. */
function checkBounds(
  log: OperationLog,
  key: string,
  increments: Int32Array,
  delta: (row: number) => number,
  observations: Observations,
  finalRead: number,
  anomalies: AnomalySink,
): void {
  const positive = (row: number): number => Math.max(0, delta(row));
  const negative = (row: number): number => Math.min(0, delta(row));
  // Certain: ok increments, by completion. Invoked: ok and info increments, by invoke.
  const certain = new Timeline(
    increments.filter((row) => log.outcomeCode(row) === OutcomeCode.ok),
    (row) => log.completeTime(row),
  );
  const certainPositive = certain.prefixSums(positive);
  const certainNegative = certain.prefixSums(negative);
  const invoked = new Timeline(increments, (row) => log.invokeTime(row));
  const invokedPositive = invoked.prefixSums(positive);
  const invokedNegative = invoked.prefixSums(negative);

  for (let k = 0; k < observations.count; k++) {
    const row = observations.rows[k]!;
    const value = observations.values[k]!;
    const own = observations.own[k]!;
    const invokeTime = log.invokeTime(row);
    const c = certain.countBefore(invokeTime);
    const i = invoked.countAtOrBefore(log.completeTime(row));
    // Every certain increment was invoked before `op` completed, so it is among the invoked ones;
    // so is `op` itself when it is an increment, and it is certain for itself.
    const base = certainPositive[c]! + certainNegative[c]! + own;
    const lower = base + (invokedNegative[i]! - certainNegative[c]! - Math.min(0, own));
    const upper = base + (invokedPositive[i]! - certainPositive[c]! - Math.max(0, own));
    if (value >= lower && value <= upper) continue;

    const isFinal = k === finalRead && c === certain.length && i === invoked.length;
    // Those invoked before it completed, less the certain ones and itself (an increment among them).
    const inFlight = i - c - (log.fId(row) === log.functionId(Fn.incr) && log.outcomeCode(row) !== OutcomeCode.fail ? 1 : 0);
    const kind = isFinal ? 'final-read-out-of-range' : 'read-out-of-range';
    anomalies.add(kind, Math.min(MAX_EVIDENCE, inFlight) + 1, () => {
      // The first few in flight, in invoke order: a certain one completed before `op` began.
      const shown: Operation[] = [];
      for (let j = 0; j < i && shown.length < MAX_EVIDENCE; j++) {
        const inc = invoked.items[j]!;
        const isCertain = log.outcomeCode(inc) === OutcomeCode.ok && log.completeTime(inc) < invokeTime;
        if (inc !== row && !isCertain) shown.push(log.operation(inc));
      }
      return {
        kind,
        key,
        message:
          `#${log.id(row)} ${log.f(row) === Fn.incr ? 'replied' : 'read'} ${value}, but the counter could only be in ` +
          `[${lower}, ${upper}]: ${c} increments were acknowledged before it began, ${inFlight} more may have happened`,
        ops: [...shown, log.operation(row)],
      };
    });
  }
}

/**
 * With only non-negative deltas: an observation `b` invoked after `a` completed sees at least
 * `a`'s value, plus its own increment when `b` is an INCR.
 */
function checkMonotonic(log: OperationLog, key: string, observations: Observations, anomalies: AnomalySink): void {
  const positions = new Int32Array(observations.count);
  for (let k = 0; k < positions.length; k++) positions[k] = k;
  const completed = new Timeline(positions, (k) => log.completeTime(observations.rows[k]!));
  const highest = completed.prefixMax((k) => observations.values[k]!);
  for (let b = 0; b < observations.count; b++) {
    const bRow = observations.rows[b]!;
    const a = highest[completed.countBefore(log.invokeTime(bRow))]!;
    if (a < 0 || observations.values[b]! >= observations.values[a]! + observations.own[b]!) continue;
    const aRow = observations.rows[a]!;
    anomalies.add('non-monotonic', 2, () => ({
      kind: 'non-monotonic',
      key,
      message: `#${log.id(bRow)} saw ${observations.values[b]} after #${log.id(aRow)} had completed having seen ${observations.values[a]}: the counter went backwards`,
      ops: [log.operation(aRow), log.operation(bRow)],
    }));
  }
}

/** With only positive deltas every increment leaves a different value, so replies are unique. */
function checkUniqueReplies(log: OperationLog, key: string, observations: Observations, INCR: number, anomalies: AnomalySink): void {
  const incrs = Int32Array.from({ length: observations.count }, (_, k) => k).filter((k) => log.fId(observations.rows[k]!) === INCR);
  // Equal values side by side, each run in observation order; runs reported in the order their
  // value was first observed.
  const byValue = incrs.slice().sort((a, b) => observations.values[a]! - observations.values[b]! || a - b);
  const runs: { first: number; from: number; to: number }[] = [];
  for (let from = 0; from < byValue.length; ) {
    let to = from + 1;
    while (to < byValue.length && observations.values[byValue[to]!] === observations.values[byValue[from]!]) to++;
    if (to - from > 1) runs.push({ first: byValue[from]!, from, to });
    from = to;
  }
  runs.sort((a, b) => a.first - b.first);
  for (const { from, to } of runs) {
    const value = observations.values[byValue[from]!]!;
    anomalies.add('duplicate-incr-result', Math.min(to - from, MAX_EVIDENCE), () => {
      const ops = Array.from(byValue.subarray(from, Math.min(to, from + MAX_EVIDENCE)), (k) => log.operation(observations.rows[k]!));
      return {
        kind: 'duplicate-incr-result',
        key,
        message: `${idList(ops.map((op) => op.id), to - from)} all replied ${value}: an increment was lost or applied to a stale value`,
        ops,
      };
    });
  }
}

/** The read invoked last: the final read when the workload ends with one. -1 when there is none. */
function latestRead(log: OperationLog, observations: Observations, READ: number): number {
  let latest = -1;
  for (let k = 0; k < observations.count; k++) {
    const row = observations.rows[k]!;
    if (log.fId(row) !== READ) continue;
    if (latest < 0 || log.invokeTime(row) > log.invokeTime(observations.rows[latest]!)) latest = k;
  }
  return latest;
}

function asInteger(value: Json): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}
