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
 * - A read of a value no write could have produced (never written, written only by failed writes,
 *   or written only after the read completed) is reported directly, with its writer. The search
 *   would find it too, less legibly.
 *
 * On failure the search reports its longest partial linearization, Porcupine-style: the operation
 * that returned before it could be linearized, the state the register held, and the operations
 * pending around it. That window is the printed failing slice.
 */
import { EventType, Fn, byKey, countOutcomes, formatOperation, type Json, type Operation, type OutcomeCounts } from '../history.js';
import { ILLEGAL, SearchBudget, searchLinearization, type SearchOutcome, type PartialLinearization } from './search.js';
import { show, smallestSlice, unsupportedFunction, validityOf, valueKey, type Anomaly, type FailingSlice, type WorkloadCheck } from './result.js';
import { WriterIndex } from './writers.js';

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

/** The register's sequential specification over interned values; state 0 is null (no value). */
interface RegisterOp {
  readonly op: Operation;
  readonly invokeTime: number;
  readonly returnTime: number;
  /** For a write, the value id it stores; for a read, the value id it must see. */
  readonly value: number;
  readonly isWrite: boolean;
}

const NULL_STATE = 0;

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
    anomalies.push(...prepared.anomalies);
    totals.searched += prepared.registerOps.length;
    totals.droppedInfoReads += prepared.droppedInfoReads;
    totals.droppedUnobservedInfoWrites += prepared.droppedUnobservedInfoWrites;
    totals.pinnedInfoWrites += prepared.pinnedInfoWrites;
    totals.duplicatedValues += prepared.duplicatedValues;

    const outcome = searchKey(prepared.registerOps, budget);
    totals.steps += outcome.stats.steps;
    totals.cacheEntries += outcome.stats.cacheEntries;
    totals.backtracks += outcome.stats.backtracks;
    if (outcome.kind === 'not-linearizable') {
      const slice = failingSlice(key, prepared, outcome.deepest, options.sliceContext ?? 3);
      slices.push(slice);
      anomalies.push({ kind: 'not-linearizable', key, message: slice.lines[0]!, ops: slice.ops });
      keyVerdicts[key] = false;
    } else if (outcome.kind === 'unknown') {
      const depth = outcome.deepest ? `; the longest partial linearization had ${outcome.deepest.order.length}` : '';
      unknownReasons.push(
        `key ${show(key)}: ${outcome.reason} after ${outcome.stats.steps} steps on ${prepared.registerOps.length} operations${depth}`,
      );
      keyVerdicts[key] = prepared.anomalies.length > 0 ? false : 'unknown';
    } else if (prepared.anomalies.length > 0) {
      // Only possible with inconsistent input (a value written twice); the direct anomaly stands.
      keyVerdicts[key] = false;
    }
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
  const values: Json[] = [null];
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
        registerOps.push({ op, invokeTime: op.invokeTime, returnTime: op.completeTime, value: idOf(op.result), isWrite: false });
      }
      continue;
    }
    const value = idOf(op.args);
    let returnTime = op.completeTime;
    if (op.outcome === EventType.info) {
      const seen = firstSeen.get(value);
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
    registerOps.push({ op, invokeTime: op.invokeTime, returnTime, value, isWrite: true });
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
      operations: registerOps,
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
  const held = show(values[deepest.state]!);
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
