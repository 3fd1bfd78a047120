/**
 * The checkers' one entry: `checkHistory(workload, history, options)` pairs the events into
 * operations, runs the workload's checker, and returns its findings with a one-line verdict,
 * the line `npm run jepsen` ends with.
 */
import { HistoryError, countOutcomes, operations, type History, type Operation, type OutcomeCounts } from '../history.js';
import { checkAppend, type AppendStats } from './append.js';
import { checkCounter, type CounterStats } from './counter.js';
import { checkExpiry, type ExpiryStats } from './expiry.js';
import { checkRegister, type RegisterStats } from './linearizable.js';
import { type Anomaly, type FailingSlice, type Validity, type WorkloadCheck } from './result.js';
import { SearchBudget, type SearchBudgetOptions } from './search.js';

export { formatSlice, type Anomaly, type FailingSlice, type Validity } from './result.js';
export { expiringWrite, type ExpiringWriteArgs } from './expiry.js';

export const Workload = {
  register: 'register',
  counter: 'counter',
  append: 'append',
  expiry: 'expiry',
} as const;
export type Workload = (typeof Workload)[keyof typeof Workload];

export interface CheckOptions {
  /** register: the search's limits for the whole history. */
  readonly budget?: SearchBudgetOptions;
  /** register: linearized operations shown before the failure point. Default 3. */
  readonly sliceContext?: number;
  /** append: splits string reads (APPEND). Default a space. */
  readonly separator?: string;
  /** expiry: the stated bound in ms. Default 100. */
  readonly expiryBoundMs?: number;
  /** expiry: how to treat info writes' deadlines. Default `unchecked`. */
  readonly infoWrites?: 'unchecked' | 'bounded';
  /** At most this many anomalies are returned (all are counted). Default 100. */
  readonly maxAnomalies?: number;
}

export type WorkloadStats = RegisterStats | CounterStats | AppendStats | ExpiryStats | { readonly operations: OutcomeCounts };

export interface CheckResult {
  readonly valid: Validity;
  readonly workload: Workload;
  readonly stats: WorkloadStats;
  /** The first `maxAnomalies` anomalies. */
  readonly anomalies: readonly Anomaly[];
  readonly anomalyCount: number;
  readonly unknownReasons: readonly string[];
  readonly smallestFailingSlice?: FailingSlice;
  /** One line: workload, VALID / INVALID / UNKNOWN, and why. */
  readonly verdict: string;
}

export function checkHistory(workload: Workload, history: History, options: CheckOptions = {}): CheckResult {
  let ops: Operation[];
  try {
    ops = operations(history);
  } catch (error) {
    if (!(error instanceof HistoryError)) throw error;
    const reason = `the history is malformed (${error.code}): ${error.message}`;
    return finish(workload, { valid: 'unknown', stats: { operations: countOutcomes([]) }, anomalies: [], unknownReasons: [reason] }, options);
  }
  return finish(workload, runChecker(workload, ops, history, options), options);
}

function runChecker(workload: Workload, ops: readonly Operation[], history: History, options: CheckOptions): WorkloadCheck<WorkloadStats> {
  switch (workload) {
    case Workload.register:
      return checkRegister(ops, {
        budget: new SearchBudget(options.budget),
        ...(options.sliceContext !== undefined ? { sliceContext: options.sliceContext } : {}),
        ...(options.budget?.now ? { now: options.budget.now } : {}),
      });
    case Workload.counter:
      return checkCounter(ops);
    case Workload.append:
      return checkAppend(ops, options.separator !== undefined ? { separator: options.separator } : {});
    case Workload.expiry:
      return checkExpiry(ops, {
        timeUnit: history.timeUnit,
        ...(options.expiryBoundMs !== undefined ? { boundMs: options.expiryBoundMs } : {}),
        ...(options.infoWrites !== undefined ? { infoWrites: options.infoWrites } : {}),
      });
  }
}

function finish(workload: Workload, check: WorkloadCheck<WorkloadStats>, options: CheckOptions): CheckResult {
  const maxAnomalies = options.maxAnomalies ?? 100;
  return {
    valid: check.valid,
    workload,
    stats: check.stats,
    anomalies: check.anomalies.slice(0, maxAnomalies),
    anomalyCount: check.anomalies.length,
    unknownReasons: check.unknownReasons,
    ...(check.smallestFailingSlice ? { smallestFailingSlice: check.smallestFailingSlice } : {}),
    verdict: verdict(workload, check),
  };
}

/** `register: INVALID — 2 anomalies (not-linearizable ×1, phantom-read ×1); first: ...` */
export function verdict(workload: string, check: Pick<WorkloadCheck<WorkloadStats>, 'valid' | 'stats' | 'anomalies' | 'unknownReasons'>): string {
  const counts = check.stats.operations;
  const summary = `${counts.total} operations (${counts.ok} ok, ${counts.fail} fail, ${counts.info} info)`;
  if (check.valid === true) return `${workload}: VALID — ${summary}`;
  if (check.valid === 'unknown') {
    return oneLine(`${workload}: UNKNOWN — ${summary}; ${check.unknownReasons[0] ?? 'undecided'}`);
  }
  const byKind = new Map<string, number>();
  for (const anomaly of check.anomalies) byKind.set(anomaly.kind, (byKind.get(anomaly.kind) ?? 0) + 1);
  const kinds = [...byKind].map(([kind, n]) => `${kind} ×${n}`).join(', ');
  const n = check.anomalies.length;
  return oneLine(`${workload}: INVALID — ${n} ${n === 1 ? 'anomaly' : 'anomalies'} (${kinds}) in ${summary}; first: ${check.anomalies[0]!.message}`);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  return flat.length > 400 ? `${flat.slice(0, 399)}…` : flat;
}
