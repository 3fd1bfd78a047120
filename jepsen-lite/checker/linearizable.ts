/**
 * Linearizability of a register per key: GET returns the value or null, SET writes a value no
 * other SET writes. Keys are independent objects, so the history is partitioned by key and each
 * part searched alone (P-compositionality, as Porcupine does); a history is linearizable exactly
 * when every part is.
 *
 * Before the search each part is reduced, without changing its answer:
 *
 * - `fail` operations are dropped: they certainly did not happen.
 * - `info` reads are dropped: a read with no result constrains nothing.
 * - An `info` write may take effect at any time after its invoke, or never, so its return time is
 *   +infinity. Because values are unique:
 *   - one that no read observed is dropped: any linearization without it extends to one with it
 *     placed last, where it changes nothing;
 *   - one that a read observed did take effect, and before every read that observed it, so its
 *     return time becomes the earliest completion among those reads. Every linearization already
 *     satisfies that constraint; making it explicit turns an op that would stay a candidate to
 *     the end into an ordinary one. (etcd's robustness tests patch Porcupine histories the same
 *     way.) When a value was written more than once the write keeps its infinite return time.
 * - Every value no read observed is the same state, `UNOBSERVED`: reads only compare the state
 *   with what they saw, so such values are indistinguishable, and merging them lets memoization
 *   treat configurations that differ only in which unread write came last as one.
 * - A read of a value no write could have produced (never written, written only by failed writes,
 *   or written only after the read completed) is reported directly, with its writer. The search
 *   would find it too, less legibly.
 *
 * Beside the search runs the zone check (`zones.ts`), exact for unique values in O(n log n). The
 * search decides; the zones cross-check it (a disagreement is a checker bug, reported as unknown),
 * decide a key the search ran out of budget on, and name a witness of a few operations.
 *
 * On failure the anomaly carries the search's longest partial linearization, Porcupine-style: the
 * operation that returned before it could be linearized, the value the register held, and the
 * operations pending around it. The failing slice is the smaller of that window and the zone
 * witness, which is used only once the search confirms those operations alone are not
 * linearizable.
 */
import { Fn, formatOperation, type Operation, type OutcomeCounts } from '../history.js';
import { OperationLog, OutcomeCode, ValueTable } from '../oplog.js';
import { ILLEGAL, SearchBudget, searchLinearization, type PartialLinearization, type SearchOutcome } from './search.js';
import {
  AnomalySink,
  BoundedList,
  MAX_EVIDENCE,
  byInvoke,
  findings,
  show,
  smallestSlice,
  unsupportedFunction,
  type FailingSlice,
  type Validity,
  type WorkloadCheck,
} from './result.js';
import { WriterIndex } from './writers.js';
import { checkZoneColumns, type ZoneConflict, type ZoneSpan, type ZoneVerdict } from './zones.js';

export interface RegisterOptions {
  /** Shared by every key's search; one is made from the defaults when absent. */
  readonly budget?: SearchBudget;
  /** How many linearized operations before the failure point the slice shows. Default 3. */
  readonly sliceContext?: number;
  /**
   * Report reads no write could have produced before searching. Default true; tests turn it off
   * to exercise the search alone.
   */
  readonly precheck?: boolean;
  /**
   * Run the zone check beside the search (a cross-check, a decision when the search runs out of
   * budget, and a minimal witness). Default true; tests turn it off to exercise the search alone.
   */
  readonly zoneCheck?: boolean;
  /** Clock for `elapsedMs`; `performance.now` by default. */
  readonly now?: () => number;
  /** Anomalies (and reasons for unknown) kept; all are counted. Default 100. */
  readonly maxAnomalies?: number;
}

export interface RegisterStats {
  readonly keys: number;
  readonly operations: OutcomeCounts;
  /** Operations given to the searches, after the reductions above. */
  readonly searched: number;
  readonly droppedInfoReads: number;
  readonly droppedUnobservedInfoWrites: number;
  /** Keys the zone check decided after the search ran out of budget. */
  readonly decidedByZones: number;
  /** `info` writes whose return time was set to the first completion of a read that saw them. */
  readonly pinnedInfoWrites: number;
  /** Values written by more than one operation (the workload should write unique values). */
  readonly duplicatedValues: number;
  readonly steps: number;
  readonly cacheEntries: number;
  readonly backtracks: number;
  readonly elapsedMs: number;
  /** The keys whose verdict is not `true`, with it. */
  readonly keyVerdicts: Readonly<Record<string, false | 'unknown'>>;
}

/**
 * One key's operations after the reductions, as columns (the register's sequential specification
 * over the key's values as small integers, see NULL_STATE and UNOBSERVED).
 */
interface RegisterOps {
  readonly count: number;
  /** The log row of each operation. */
  readonly rows: Int32Array;
  readonly invokeTimes: Float64Array;
  readonly returnTimes: Float64Array;
  /** For a write, the state it sets; for a read, the state it must see. */
  readonly values: Int32Array;
  /** The value's own id, even for a write merged into UNOBSERVED: its cluster for the zone check. */
  readonly clusters: Int32Array;
  readonly isWrite: Uint8Array;
}

/** No value: the initial state, and what a read of a missing key saw. */
const NULL_STATE = 0;
/** Any value that no ok read saw. */
const UNOBSERVED = 1;

export function checkRegister(input: readonly Operation[] | OperationLog, options: RegisterOptions = {}): WorkloadCheck<RegisterStats> {
  const log = input instanceof OperationLog ? input : OperationLog.fromOperations(input);
  const now = options.now ?? (() => performance.now());
  const started = now();
  const budget = options.budget ?? new SearchBudget(options.now ? { now: options.now } : {});
  const anomalies = new AnomalySink(options.maxAnomalies);
  const unknownReasons = new BoundedList<string>(options.maxAnomalies);
  const slices: FailingSlice[] = [];
  const keyVerdicts: Record<string, false | 'unknown'> = {};
  const totals = {
    searched: 0,
    droppedInfoReads: 0,
    droppedUnobservedInfoWrites: 0,
    pinnedInfoWrites: 0,
    duplicatedValues: 0,
    decidedByZones: 0,
    steps: 0,
    cacheEntries: 0,
    backtracks: 0,
  };
  // A key's own number for each value of the log, -1 when the key has not seen it; reset after each key.
  const localIds = new Int32Array(log.values.size).fill(-1);

  const partitions = log.partitionByKey();
  for (const { key, rows } of partitions) {
    const unsupported = unsupportedFunction('register', log, key, rows, [Fn.read, Fn.write]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      keyVerdicts[key] = 'unknown';
      continue;
    }
    const precheckBefore = anomalies.count;
    const prepared = prepareKey(log, key, rows, localIds, options.precheck ?? true, anomalies);
    const registerOps = prepared.registerOps;
    totals.searched += registerOps.count;
    totals.droppedInfoReads += prepared.droppedInfoReads;
    totals.droppedUnobservedInfoWrites += prepared.droppedUnobservedInfoWrites;
    totals.pinnedInfoWrites += prepared.pinnedInfoWrites;
    totals.duplicatedValues += prepared.duplicatedValues;
    const precheckFound = anomalies.count > precheckBefore;

    const outcome = searchKey(registerOps, budget);
    totals.steps += outcome.stats.steps;
    totals.cacheEntries += outcome.stats.cacheEntries;
    totals.backtracks += outcome.stats.backtracks;
    const zones: ZoneVerdict =
      (options.zoneCheck ?? true)
        ? checkZoneColumns({ ...registerOps, clusters: registerOps.clusters, clusterCount: prepared.values.length }, NULL_STATE)
        : { kind: 'not-applicable', reason: 'turned off' };
    const witness = zones.kind === 'not-linearizable' ? witnessSlice(log, key, prepared, zones) : undefined;

    const verdict = combine(key, prepared, outcome, zones, witness !== undefined);
    if (verdict.unknownReason !== undefined) unknownReasons.push(verdict.unknownReason);
    if (verdict.decidedByZones) totals.decidedByZones++;
    if (verdict.valid === false) {
      const partial = outcome.kind === 'not-linearizable' ? failingSlice(log, key, prepared, outcome.deepest, options.sliceContext ?? 3) : undefined;
      const shown = partial ?? witness!;
      anomalies.push({ kind: 'not-linearizable', key, message: shown.lines[0]!, ops: shown.ops });
      slices.push(smallestSlice([witness, partial].filter((slice) => slice !== undefined))!);
    }
    const keyValid = precheckFound ? false : verdict.valid;
    if (keyValid !== true) keyVerdicts[key] = keyValid;
    for (const id of prepared.values) if (id >= 0) localIds[id] = -1;
  }

  const smallest = smallestSlice(slices);
  return {
    ...findings(anomalies, unknownReasons),
    stats: {
      keys: partitions.length,
      operations: log.counts(),
      ...totals,
      elapsedMs: Math.round(now() - started),
      keyVerdicts,
    },
    ...(smallest ? { smallestFailingSlice: smallest } : {}),
  };
}

/**
 * One key's verdict from the search and the zone check. The search decides; the zones decide
 * only where the search ran out of budget, and a disagreement (a bug in one of them) is reported
 * as unknown rather than trusted either way.
 */
function combine(
  key: string,
  prepared: PreparedKey,
  outcome: SearchOutcome,
  zones: ZoneVerdict,
  witnessConfirmed: boolean,
): { valid: Validity; unknownReason?: string; decidedByZones?: boolean } {
  const searchSays = outcome.kind === 'linearizable' ? true : outcome.kind === 'not-linearizable' ? false : undefined;
  const zonesSay = zones.kind === 'linearizable' ? true : zones.kind === 'not-linearizable' && witnessConfirmed ? false : undefined;
  if (searchSays !== undefined && zones.kind !== 'not-applicable' && searchSays !== (zones.kind === 'linearizable')) {
    return {
      valid: 'unknown',
      unknownReason:
        `key ${show(key)}: the search says ${searchSays ? '' : 'not '}linearizable but the zone check disagrees; ` +
        'this is a checker bug, please keep the history',
    };
  }
  if (searchSays !== undefined) return { valid: searchSays };
  if (zonesSay !== undefined) return { valid: zonesSay, decidedByZones: true };
  if (outcome.kind !== 'unknown') throw new Error('unreachable: the search decided');
  const depth = outcome.deepest ? `; the longest partial linearization had ${outcome.deepest.order.length}` : '';
  const why = zones.kind === 'not-applicable' ? ` (the zone check does not apply: ${zones.reason})` : '';
  return {
    valid: 'unknown',
    unknownReason: `key ${show(key)}: ${outcome.reason} after ${outcome.stats.steps} steps on ${prepared.registerOps.count} operations${depth}${why}`,
  };
}

interface PreparedKey {
  readonly registerOps: RegisterOps;
  /** The key's value number -> the log's value id (-1 for UNOBSERVED), for messages. */
  readonly values: readonly number[];
  readonly droppedInfoReads: number;
  readonly droppedUnobservedInfoWrites: number;
  readonly pinnedInfoWrites: number;
  readonly duplicatedValues: number;
}

/**
 * Applies the reductions described at the top of this file to one key's operations; reports the
 * reads no write could have produced to `anomalies` (when `precheck`).
 */
function prepareKey(log: OperationLog, key: string, rows: Int32Array, localIds: Int32Array, precheck: boolean, anomalies: AnomalySink): PreparedKey {
  const n = rows.length;
  const READ = log.functionId(Fn.read);
  const WRITE = log.functionId(Fn.write);
  const values: number[] = [ValueTable.NULL, -1];
  localIds[ValueTable.NULL] = NULL_STATE;
  const local = (id: number): number => {
    let value = localIds[id]!;
    if (value === -1) {
      value = values.length;
      localIds[id] = value;
      values.push(id);
    }
    return value;
  };

  // The value each operation wrote, or each ok read saw; -1 for the others.
  const opValue = new Int32Array(n).fill(-1);
  let droppedInfoReads = 0;
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const f = log.fId(row);
    if (f === WRITE) opValue[i] = local(log.argsId(row));
    else if (log.outcomeCode(row) === OutcomeCode.ok) opValue[i] = local(log.resultId(row));
    else if (log.outcomeCode(row) !== OutcomeCode.fail) droppedInfoReads++;
  }
  const isWrite = (i: number): boolean => log.fId(rows[i]!) === WRITE;
  const isOkRead = (i: number): boolean => log.fId(rows[i]!) === READ && log.outcomeCode(rows[i]!) === OutcomeCode.ok;
  const writers = new WriterIndex(log, rows, values.length, (i) => (isWrite(i) ? opValue[i]! : -1));

  // The earliest completion of an ok read of each value.
  const firstSeen = new Float64Array(values.length).fill(Infinity);
  for (let i = 0; i < n; i++) {
    if (!isOkRead(i)) continue;
    const row = rows[i]!;
    const value = opValue[i]!;
    firstSeen[value] = Math.min(firstSeen[value]!, log.completeTime(row));
    if (precheck && value !== NULL_STATE) {
      writers.checkSource(row, value, log.values.text(values[value]!), 'value', { phantom: 'phantom-read', future: 'read-from-future' }, key, anomalies);
    }
  }

  const out = {
    rows: new Int32Array(n),
    invokeTimes: new Float64Array(n),
    returnTimes: new Float64Array(n),
    values: new Int32Array(n),
    clusters: new Int32Array(n),
    isWrite: new Uint8Array(n),
  };
  let count = 0;
  const push = (row: number, returnTime: number, value: number, cluster: number, write: boolean): void => {
    out.rows[count] = row;
    out.invokeTimes[count] = log.invokeTime(row);
    out.returnTimes[count] = returnTime;
    out.values[count] = value;
    out.clusters[count] = cluster;
    out.isWrite[count] = write ? 1 : 0;
    count++;
  };
  let droppedUnobservedInfoWrites = 0;
  let pinnedInfoWrites = 0;
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const outcome = log.outcomeCode(row);
    if (outcome === OutcomeCode.fail) continue;
    if (!isWrite(i)) {
      if (outcome === OutcomeCode.ok) push(row, log.completeTime(row), opValue[i]!, opValue[i]!, false);
      continue;
    }
    const observed = opValue[i]!;
    const seen = firstSeen[observed]!;
    const value = seen === Infinity ? UNOBSERVED : observed;
    let returnTime = log.completeTime(row);
    if (outcome !== OutcomeCode.ok) {
      if (seen === Infinity) {
        droppedUnobservedInfoWrites++;
        continue;
      }
      if (writers.possibleCount(observed) === 1) {
        returnTime = Math.max(log.invokeTime(row), seen);
        pinnedInfoWrites++;
      } else {
        returnTime = Infinity;
      }
    }
    push(row, returnTime, value, observed, true);
  }

  return {
    registerOps: {
      count,
      rows: out.rows.subarray(0, count),
      invokeTimes: out.invokeTimes.subarray(0, count),
      returnTimes: out.returnTimes.subarray(0, count),
      values: out.values.subarray(0, count),
      clusters: out.clusters.subarray(0, count),
      isWrite: out.isWrite.subarray(0, count),
    },
    values,
    droppedInfoReads,
    droppedUnobservedInfoWrites,
    pinnedInfoWrites,
    duplicatedValues: writers.duplicatedValues,
  };
}

function searchKey(ops: RegisterOps, budget: SearchBudget): SearchOutcome {
  const { values, isWrite } = ops;
  return searchLinearization(
    {
      count: ops.count,
      invokeTimes: ops.invokeTimes,
      returnTimes: ops.returnTimes,
      initialState: NULL_STATE,
      step: (state, index) => {
        if (isWrite[index]) return values[index]!;
        return values[index] === state ? state : ILLEGAL;
      },
      isObserver: (index) => isWrite[index] === 0,
    },
    budget,
  );
}

/** Some of a key's operations (by index), as a problem of their own. */
function subset(ops: RegisterOps, indices: readonly number[]): RegisterOps {
  const pick = <A extends Float64Array | Int32Array | Uint8Array>(column: A, make: (n: number) => A): A => {
    const out = make(indices.length);
    indices.forEach((index, i) => (out[i] = column[index]!));
    return out;
  };
  return {
    count: indices.length,
    rows: pick(ops.rows, (n) => new Int32Array(n)),
    invokeTimes: pick(ops.invokeTimes, (n) => new Float64Array(n)),
    returnTimes: pick(ops.returnTimes, (n) => new Float64Array(n)),
    values: pick(ops.values, (n) => new Int32Array(n)),
    clusters: pick(ops.clusters, (n) => new Int32Array(n)),
    isWrite: pick(ops.isWrite, (n) => new Uint8Array(n)),
  };
}

/** How a report shows a value of the key. */
function showValue(log: OperationLog, prepared: PreparedKey, value: number): string {
  const id = prepared.values[value]!;
  return id < 0 ? 'an unobserved value' : log.values.text(id);
}

/**
 * The operations around the point where the longest partial linearization stopped: the last
 * `context` operations it linearized, the one that returned before it could be linearized, and
 * every other operation pending then.
 */
function failingSlice(log: OperationLog, key: string, prepared: PreparedKey, deepest: PartialLinearization, context: number): FailingSlice {
  const ops = prepared.registerOps;
  const total = ops.count;
  const operation = (index: number): Operation => log.operation(ops.rows[index]!);
  const stuck = deepest.stuck;
  // The last write linearized names the value held, even one merged into UNOBSERVED.
  const lastWrite = deepest.order.findLast((i) => ops.isWrite[i] === 1);
  const held = lastWrite === undefined ? 'null' : log.values.text(log.argsId(ops.rows[lastWrite]!));
  const recent = deepest.order.slice(Math.max(0, deepest.order.length - context));
  const pending = deepest.pending.filter((i) => i !== stuck);
  const others = pending.slice(0, MAX_EVIDENCE);

  const why = ops.isWrite[stuck]
    ? 'every way of placing it led to a configuration already ruled out'
    : `it saw ${showValue(log, prepared, ops.values[stuck]!)} but the register held ${held}`;
  const lines = [
    `key ${show(key)}: not linearizable; the longest partial linearization orders ${deepest.order.length} of ` +
      `${total} operations, then #${log.id(ops.rows[stuck]!)} returned before it could be linearized: ${why}`,
    `  register after the partial linearization: ${held}`,
    ...recent.map((i, k) => `  linearized ${deepest.order.length - recent.length + k + 1}: ${formatOperation(operation(i))}`),
    `  cannot linearize: ${formatOperation(operation(stuck))}`,
    ...others.map((i) => `  also pending:     ${formatOperation(operation(i))}`),
    ...(pending.length > others.length ? [`  also pending:     ${pending.length - others.length} more`] : []),
  ];
  return { key, lines, ops: byInvoke([...recent, stuck, ...others].map(operation)) };
}

/**
 * The zone check's witness as a slice, once the search confirms that those few operations alone
 * are not linearizable (so a bug in the zone check cannot produce a false slice).
 */
function witnessSlice(log: OperationLog, key: string, prepared: PreparedKey, zones: Extract<ZoneVerdict, { kind: 'not-linearizable' }>): FailingSlice | undefined {
  const witness = subset(prepared.registerOps, zones.witness);
  if (searchKey(witness, new SearchBudget()).kind !== 'not-linearizable') return undefined;
  const ops = byInvoke(Array.from(witness.rows, (row) => log.operation(row)));
  const lines = [
    `key ${show(key)}: not linearizable; these ${ops.length} operations alone are not: ${explainConflict(log, zones.conflict, prepared)}`,
    ...ops.map((op) => `  ${formatOperation(op)}`),
  ];
  return { key, lines, ops };
}

function explainConflict(log: OperationLog, conflict: ZoneConflict, prepared: PreparedKey): string {
  const ops = prepared.registerOps;
  const value = (cluster: number): string => showValue(log, prepared, cluster);
  const when = (t: number): string => (t === -Infinity ? 'the start' : String(t));
  const holds = (zone: ZoneSpan): string => `${value(zone.cluster)} must hold from ${when(zone.from)} to ${zone.to}`;
  switch (conflict.kind) {
    case 'unwritten':
      return `read #${log.id(ops.rows[conflict.read]!)} saw ${value(ops.clusters[conflict.read]!)}, which nothing wrote`;
    case 'read-before-write': {
      const [read, write] = [conflict.read, conflict.write];
      return `read #${log.id(ops.rows[read]!)} returned at ${ops.returnTimes[read]}, before #${log.id(ops.rows[write]!)} wrote its value (invoked at ${ops.invokeTimes[write]})`;
    }
    case 'overlapping':
      return `${holds(conflict.first)}, and ${holds(conflict.second)}: both cannot`;
    case 'inside':
      return (
        `${holds(conflict.outer)}, but of the operations on ${value(conflict.inner.cluster)} one was invoked at ` +
        `${conflict.inner.from} and one had returned at ${conflict.inner.to}, so they fit neither before nor after`
      );
  }
}
