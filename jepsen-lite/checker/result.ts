/**
 * What every checker returns: a validity, the anomalies that prove a history invalid, and the
 * smallest slice of the history that shows the first of them.
 */
import { formatOperation, type Json, type Operation } from '../history.js';
import type { OperationLog } from '../oplog.js';

/** `'unknown'`: the checker could not decide (a budget ran out, or the history is unusable). */
export type Validity = true | false | 'unknown';

/** One proven violation. `kind` is stable (tests and reports match on it); `message` is prose. */
export interface Anomaly {
  readonly kind: string;
  readonly key: string;
  readonly message: string;
  /** The operations that together show the violation, in invoke order. */
  readonly ops: readonly Operation[];
}

/** A few operations around a violation. `lines` are its printable form, operations included. */
export interface FailingSlice {
  readonly key: string;
  readonly lines: readonly string[];
  /** The same operations as data, in invoke order. */
  readonly ops: readonly Operation[];
}

/** What one workload's checker found. */
export interface WorkloadCheck<Stats> {
  readonly valid: Validity;
  readonly stats: Stats;
  /** The first anomalies found (at most the checker's `maxAnomalies`). */
  readonly anomalies: readonly Anomaly[];
  /** All anomalies found, and how many of each kind, kinds in the order first found. */
  readonly anomalyCount: number;
  readonly anomalyKinds: readonly (readonly [kind: string, count: number])[];
  /** Why the result is `unknown`, when it is: the first few reasons, and how many there were. */
  readonly unknownReasons: readonly string[];
  readonly unknownReasonCount: number;
  readonly smallestFailingSlice?: FailingSlice;
}

/**
 * Operations an anomaly carries as evidence, at most: a value written by a million operations, or
 * a million increments that replied the same, would otherwise make one anomaly the size of the
 * history. Messages still give the full count.
 */
export const MAX_EVIDENCE = 20;

/** `#3, #7, #9` of the ids shown, and how many there were in all when not all are shown. */
export function idList(ids: readonly number[], total: number): string {
  const shown = ids.map((id) => `#${id}`).join(', ');
  return total > ids.length ? `${shown}, … (${total} in all)` : shown;
}

/** How many anomalies a checker keeps when not told. */
export const DEFAULT_MAX_ANOMALIES = 100;

/**
 * The anomalies of one check, in bounded memory: a history that is wrong everywhere can hold
 * millions, and each carries operations and prose. All are counted (by kind); the first `limit`
 * are kept, and the one with the fewest operations (the first among equals), for the smallest
 * failing slice. An anomaly is built (`make`) only when it is kept, so evidence that is costly to
 * gather is gathered a bounded number of times.
 */
export class AnomalySink {
  private readonly kept: Anomaly[] = [];
  private readonly kinds = new Map<string, number>();
  private smallestAnomaly: Anomaly | undefined;
  private smallestSize = Infinity;
  count = 0;

  constructor(readonly limit = DEFAULT_MAX_ANOMALIES) {}

  /** `size` is how many operations `make()` puts in the anomaly's `ops`. */
  add(kind: string, size: number, make: () => Anomaly): void {
    this.count++;
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    const keep = this.kept.length < this.limit;
    const smaller = size < this.smallestSize;
    if (!keep && !smaller) return;
    const anomaly = make();
    if (keep) this.kept.push(anomaly);
    if (smaller) {
      this.smallestAnomaly = anomaly;
      this.smallestSize = size;
    }
  }

  /** Adds an anomaly already built. */
  push(anomaly: Anomaly): void {
    this.add(anomaly.kind, anomaly.ops.length, () => anomaly);
  }

  get anomalies(): readonly Anomaly[] {
    return this.kept;
  }

  get byKind(): readonly (readonly [string, number])[] {
    return [...this.kinds];
  }

  /** The anomaly with the fewest operations, the first among equals. */
  get smallest(): Anomaly | undefined {
    return this.smallestAnomaly;
  }
}

/** The first `limit` items of a list that may grow without bound, and how many there were. */
export class BoundedList<T> {
  readonly items: T[] = [];
  count = 0;

  constructor(readonly limit = DEFAULT_MAX_ANOMALIES) {}

  push(item: T): void {
    this.count++;
    if (this.items.length < this.limit) this.items.push(item);
  }
}

/** The parts of a check that the sink and the reasons hold, for a checker's result. */
export function findings(anomalies: AnomalySink, unknownReasons: BoundedList<string>): Pick<WorkloadCheck<unknown>, 'valid' | 'anomalies' | 'anomalyCount' | 'anomalyKinds' | 'unknownReasons' | 'unknownReasonCount'> {
  return {
    valid: validityOf(anomalies.count, unknownReasons.count),
    anomalies: anomalies.anomalies,
    anomalyCount: anomalies.count,
    anomalyKinds: anomalies.byKind,
    unknownReasons: unknownReasons.items,
    unknownReasonCount: unknownReasons.count,
  };
}

/** Invalid when anything was proven wrong; else unknown when anything was left undecided. */
export function validityOf(anomalyCount: number, unknownReasonCount: number): Validity {
  if (anomalyCount > 0) return false;
  return unknownReasonCount > 0 ? 'unknown' : true;
}

/** The slice that shows an anomaly: its operations and its message. */
export function sliceOf(anomaly: Anomaly): FailingSlice {
  const ops = byInvoke(anomaly.ops);
  return { key: anomaly.key, lines: [`${anomaly.kind}: ${anomaly.message}`, ...ops.map((op) => `  ${formatOperation(op)}`)], ops };
}

/** Of several slices, the one with the fewest operations (the first among equals). */
export function smallestSlice(slices: readonly FailingSlice[]): FailingSlice | undefined {
  let best: FailingSlice | undefined;
  for (const slice of slices) if (best === undefined || slice.ops.length < best.ops.length) best = slice;
  return best;
}

export function formatSlice(slice: FailingSlice): string {
  return slice.lines.join('\n');
}

export function byInvoke(ops: readonly Operation[]): Operation[] {
  return [...ops].sort((a, b) => a.invokeTime - b.invokeTime || a.id - b.id);
}

/**
 * Why a key cannot be checked by a workload's checker: it holds an operation the workload has no
 * model for (a harness bug, so `unknown` rather than invalid). Undefined when all are known.
 */
export function unsupportedFunction(workload: string, log: OperationLog, key: string, rows: Int32Array, known: readonly string[]): string | undefined {
  const knownIds = new Set(known.map((name) => log.functionId(name)));
  for (const row of rows) {
    if (knownIds.has(log.fId(row))) continue;
    return `key ${show(key)}: the ${workload} workload has no function ${show(log.f(row))} (#${log.id(row)})`;
  }
  return undefined;
}

/** A canonical text for a value, for maps keyed by value. */
export function valueKey(value: Json): string {
  return JSON.stringify(value);
}

export function show(value: Json): string {
  return JSON.stringify(value);
}
