/**
 * What every checker returns: a validity, the anomalies that prove a history invalid, and the
 * smallest slice of the history that shows the first of them.
 */
import { formatOperation, type Json, type Operation } from '../history.js';

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
  readonly anomalies: readonly Anomaly[];
  /** Why the result is `unknown`, when it is. */
  readonly unknownReasons: readonly string[];
  readonly smallestFailingSlice?: FailingSlice;
}

/** Invalid when anything was proven wrong; else unknown when anything was left undecided. */
export function validityOf(anomalies: readonly Anomaly[], unknownReasons: readonly string[]): Validity {
  if (anomalies.length > 0) return false;
  return unknownReasons.length > 0 ? 'unknown' : true;
}

/** The slice that shows an anomaly: its operations and its message. */
export function sliceOf(anomaly: Anomaly): FailingSlice {
  const ops = byInvoke(anomaly.ops);
  return { key: anomaly.key, lines: [`${anomaly.kind}: ${anomaly.message}`, ...ops.map((op) => `  ${formatOperation(op)}`)], ops };
}

/** The slice of the anomaly with the fewest operations (the first among equals). */
export function sliceOfSmallest(anomalies: readonly Anomaly[]): FailingSlice | undefined {
  let best: Anomaly | undefined;
  for (const anomaly of anomalies) if (best === undefined || anomaly.ops.length < best.ops.length) best = anomaly;
  return best && sliceOf(best);
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
export function unsupportedFunction(workload: string, key: string, keyOps: readonly Operation[], known: readonly string[]): string | undefined {
  const op = keyOps.find((candidate) => !known.includes(candidate.f));
  return op && `key ${show(key)}: the ${workload} workload has no function ${show(op.f)} (#${op.id})`;
}

/** A canonical text for a value, for maps keyed by value. */
export function valueKey(value: Json): string {
  return JSON.stringify(value);
}

export function show(value: Json): string {
  return JSON.stringify(value);
}
