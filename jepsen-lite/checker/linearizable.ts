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
import { EventType, Fn, byKey, countOutcomes, formatOperation, type Json, type Operation, type OutcomeCounts } from '../history.js';
import { ILLEGAL, SearchBudget, searchLinearization, type PartialLinearization, type SearchOutcome } from './search.js';
import { show, smallestSlice, unsupportedFunction, validityOf, valueKey, type Anomaly, type FailingSlice, type Validity, type WorkloadCheck } from './result.js';
import { WriterIndex } from './writers.js';
import { checkZones, type ZoneConflict, type ZoneSpan, type ZoneVerdict } from './zones.js';

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

/** The register's sequential specification over interned values (see NULL_STATE, UNOBSERVED). */
interface RegisterOp {
  readonly op: Operation;
  readonly invokeTime: number;
  readonly returnTime: number;
  /** For a write, the state it sets; for a read, the state it must see. */
  readonly value: number;
  /** The value's own id, even for a write merged into UNOBSERVED: its cluster for the zone check. */
  readonly cluster: number;
  readonly isWrite: boolean;
}

/** No value: the initial state, and what a read of a missing key saw. */
const NULL_STATE = 0;
/** Any value that no ok read saw. */
const UNOBSERVED = 1;

export function checkRegister(ops: readonly Operation[], options: RegisterOptions = {}): WorkloadCheck<RegisterStats> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const budget = options.budget ?? new SearchBudget(options.now ? { now: options.now } : {});
  const anomalies: Anomaly[] = [];
  const unknownReasons: string[] = [];
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

  const groups = byKey(ops);
  for (const [key, keyOps] of groups) {
    const unsupported = unsupportedFunction('register', key, keyOps, [Fn.read, Fn.write]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      keyVerdicts[key] = 'unknown';
      continue;
    }
    const prepared = prepareKey(keyOps, options.precheck ?? true);
    totals.searched += prepared.registerOps.length;
    totals.droppedInfoReads += prepared.droppedInfoReads;
    totals.droppedUnobservedInfoWrites += prepared.droppedUnobservedInfoWrites;
    totals.pinnedInfoWrites += prepared.pinnedInfoWrites;
    totals.duplicatedValues += prepared.duplicatedValues;

    const outcome = searchKey(prepared.registerOps, budget);
    totals.steps += outcome.stats.steps;
    totals.cacheEntries += outcome.stats.cacheEntries;
    totals.backtracks += outcome.stats.backtracks;
    const zones: ZoneVerdict =
      (options.zoneCheck ?? true) ? checkZones(prepared.registerOps, NULL_STATE) : { kind: 'not-applicable', reason: 'turned off' };
    const witness = zones.kind === 'not-linearizable' ? witnessSlice(key, prepared, zones) : undefined;

    const verdict = combine(key, prepared, outcome, zones, witness !== undefined);
    if (verdict.unknownReason !== undefined) unknownReasons.push(verdict.unknownReason);
    if (verdict.decidedByZones) totals.decidedByZones++;
    anomalies.push(...prepared.anomalies);
    if (verdict.valid === false) {
      const partial = outcome.kind === 'not-linearizable' ? failingSlice(key, prepared, outcome.deepest, options.sliceContext ?? 3) : undefined;
      const shown = partial ?? witness!;
      anomalies.push({ kind: 'not-linearizable', key, message: shown.lines[0]!, ops: shown.ops });
      slices.push(smallestSlice([witness, partial].filter((slice) => slice !== undefined))!);
    }
    const keyValid = prepared.anomalies.length > 0 ? false : verdict.valid;
    if (keyValid !== true) keyVerdicts[key] = keyValid;
  }

  const smallest = smallestSlice(slices);
  return {
    valid: validityOf(anomalies, unknownReasons),
    stats: {
      keys: groups.size,
      operations: countOutcomes(ops),
      ...totals,
      elapsedMs: Math.round(now() - started),
      keyVerdicts,
    },
    anomalies,
    unknownReasons,
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
    unknownReason: `key ${show(key)}: ${outcome.reason} after ${outcome.stats.steps} steps on ${prepared.registerOps.length} operations${depth}${why}`,
  };
}

interface PreparedKey {
  readonly registerOps: readonly RegisterOp[];
  /** Value id -> the value, for messages. */
  readonly values: readonly Json[];
  readonly anomalies: readonly Anomaly[];
  readonly droppedInfoReads: number;
  readonly droppedUnobservedInfoWrites: number;
  readonly pinnedInfoWrites: number;
  readonly duplicatedValues: number;
}

/** Applies the reductions described at the top of this file to one key's operations. */
function prepareKey(keyOps: readonly Operation[], precheck: boolean): PreparedKey {
  const writes = keyOps.filter((op) => op.f === Fn.write);
  const reads = keyOps.filter((op) => op.f === Fn.read && op.outcome === EventType.ok);
  const writers = new WriterIndex(writes, (write) => write.args);
  const anomalies: Anomaly[] = [];

  const valueIds = new Map<string, number>([[valueKey(null), NULL_STATE]]);
  const values: Json[] = [null, null]; // UNOBSERVED's slot; `describeState` names it
  const idOf = (value: Json): number => {
    const k = valueKey(value);
    let id = valueIds.get(k);
    if (id === undefined) {
      id = values.length;
      valueIds.set(k, id);
      values.push(value);
    }
    return id;
  };

  // The earliest completion of an ok read of each value.
  const firstSeen = new Map<number, number>();
  for (const read of reads) {
    const id = idOf(read.result);
    firstSeen.set(id, Math.min(firstSeen.get(id) ?? Infinity, read.completeTime));
    if (precheck && read.result !== null) {
      const anomaly = writers.sourceAnomaly(read, read.result, 'value', { phantom: 'phantom-read', future: 'read-from-future' });
      if (anomaly) anomalies.push(anomaly);
    }
  }

  const registerOps: RegisterOp[] = [];
  let droppedUnobservedInfoWrites = 0;
  let pinnedInfoWrites = 0;
  for (const op of keyOps) {
    if (op.outcome === EventType.fail) continue;
    if (op.f === Fn.read) {
      if (op.outcome === EventType.ok) {
        const value = idOf(op.result);
        registerOps.push({ op, invokeTime: op.invokeTime, returnTime: op.completeTime, value, cluster: value, isWrite: false });
      }
      continue;
    }
    const observed = idOf(op.args);
    const seen = firstSeen.get(observed);
    const value = seen === undefined ? UNOBSERVED : observed;
    let returnTime = op.completeTime;
    if (op.outcome === EventType.info) {
      if (seen === undefined) {
        droppedUnobservedInfoWrites++;
        continue;
      }
      if (writers.writersOf(op.args).length === 1) {
        returnTime = Math.max(op.invokeTime, seen);
        pinnedInfoWrites++;
      } else {
        returnTime = Infinity;
      }
    }
    registerOps.push({ op, invokeTime: op.invokeTime, returnTime, value, cluster: observed, isWrite: true });
  }

  return {
    registerOps,
    values,
    anomalies,
    droppedInfoReads: keyOps.filter((op) => op.f === Fn.read && op.outcome === EventType.info).length,
    droppedUnobservedInfoWrites,
    pinnedInfoWrites,
    duplicatedValues: writers.duplicatedValues,
  };
}

function searchKey(registerOps: readonly RegisterOp[], budget: SearchBudget): SearchOutcome {
  return searchLinearization(
    {
      count: registerOps.length,
      invokeTimes: Float64Array.from(registerOps, (op) => op.invokeTime),
      returnTimes: Float64Array.from(registerOps, (op) => op.returnTime),
      initialState: NULL_STATE,
      step: (state, index) => {
        const op = registerOps[index]!;
        if (op.isWrite) return op.value;
        return op.value === state ? state : ILLEGAL;
      },
      isObserver: (index) => !registerOps[index]!.isWrite,
    },
    budget,
  );
}

/**
 * The operations around the point where the longest partial linearization stopped: the last
 * `context` operations it linearized, the one that returned before it could be linearized, and
 * every other operation pending then.
 */
function failingSlice(key: string, prepared: PreparedKey, deepest: PartialLinearization, context: number): FailingSlice {
  const { registerOps, values } = prepared;
  const total = registerOps.length;
  const stuck = registerOps[deepest.stuck]!;
  // The last write linearized names the value held, even one merged into UNOBSERVED.
  const lastWrite = deepest.order.map((i) => registerOps[i]!).findLast((r) => r.isWrite);
  const held = lastWrite ? show(lastWrite.op.args) : 'null';
  const recent = deepest.order.slice(Math.max(0, deepest.order.length - context)).map((i) => registerOps[i]!);
  const others = deepest.pending.filter((i) => i !== deepest.stuck).map((i) => registerOps[i]!);

  const why = stuck.isWrite
    ? 'every way of placing it led to a configuration already ruled out'
    : `it saw ${show(values[stuck.value]!)} but the register held ${held}`;
  const lines = [
    `key ${show(key)}: not linearizable; the longest partial linearization orders ${deepest.order.length} of ` +
      `${total} operations, then #${stuck.op.id} returned before it could be linearized: ${why}`,
    `  register after the partial linearization: ${held}`,
    ...recent.map((r, i) => `  linearized ${deepest.order.length - recent.length + i + 1}: ${formatOperation(r.op)}`),
    `  cannot linearize: ${formatOperation(stuck.op)}`,
    ...others.map((r) => `  also pending:     ${formatOperation(r.op)}`),
  ];
  const ops = [...recent, stuck, ...others].map((r) => r.op).sort((a, b) => a.invokeTime - b.invokeTime || a.id - b.id);
  return { key, lines, ops };
}

/**
 * The zone check's witness as a slice, once the search confirms that those few operations alone
 * are not linearizable (so a bug in the zone check cannot produce a false slice).
 */
function witnessSlice(key: string, prepared: PreparedKey, zones: Extract<ZoneVerdict, { kind: 'not-linearizable' }>): FailingSlice | undefined {
  const witness = zones.witness.map((i) => prepared.registerOps[i]!);
  if (searchKey(witness, new SearchBudget()).kind !== 'not-linearizable') return undefined;
  const ops = witness.map((r) => r.op).sort((a, b) => a.invokeTime - b.invokeTime || a.id - b.id);
  const lines = [
    `key ${show(key)}: not linearizable; these ${ops.length} operations alone are not: ${explainConflict(zones.conflict, prepared)}`,
    ...ops.map((op) => `  ${formatOperation(op)}`),
  ];
  return { key, lines, ops };
}

function explainConflict(conflict: ZoneConflict, prepared: PreparedKey): string {
  const { registerOps, values } = prepared;
  const value = (cluster: number): string => show(values[cluster]!);
  const when = (t: number): string => (t === -Infinity ? 'the start' : String(t));
  const holds = (zone: ZoneSpan): string => `${value(zone.cluster)} must hold from ${when(zone.from)} to ${zone.to}`;
  switch (conflict.kind) {
    case 'unwritten':
      return `read #${registerOps[conflict.read]!.op.id} saw ${value(registerOps[conflict.read]!.cluster)}, which nothing wrote`;
    case 'read-before-write': {
      const read = registerOps[conflict.read]!;
      const write = registerOps[conflict.write]!;
      return `read #${read.op.id} returned at ${read.returnTime}, before #${write.op.id} wrote its value (invoked at ${write.invokeTime})`;
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
