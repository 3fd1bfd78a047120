/**
 * The checkers' one entry: `checkHistory(workload, history, options)` pairs the events into
 * operations, runs the workload's checker, and returns its findings with a one-line verdict,
 * the line `npm run jepsen` ends with.
 */
import type { History, OutcomeCounts } from '../history.js';
import { OperationLog } from '../oplog.js';
import { checkAppend, type AppendStats } from './append.js';
import { checkCounter, type CounterStats } from './counter.js';
import { checkExpiry, type ExpiryStats } from './expiry.js';
import { checkRegister, type RegisterStats } from './linearizable.js';
import { checkScan, type ScanStats } from './scan.js';
import { DEFAULT_MAX_ANOMALIES, type Anomaly, type FailingSlice, type Validity, type WorkloadCheck } from './result.js';
import { SearchBudget, type SearchBudgetOptions } from './search.js';

export { formatSlice, type Anomaly, type FailingSlice, type Validity } from './result.js';
export { expiringWrite, type ExpiringWriteArgs } from './expiry.js';

export const Workload = {
  register: 'register',
  counter: 'counter',
  append: 'append',
  expiry: 'expiry',
  scan: 'scan',
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
  /** At most this many anomalies (and reasons for unknown) are returned; all are counted. Default 100. */
  readonly maxAnomalies?: number;
}

export type WorkloadStats = RegisterStats | CounterStats | AppendStats | ExpiryStats | ScanStats | { readonly operations: OutcomeCounts };

export interface CheckResult {
  readonly valid: Validity;
  readonly workload: Workload;
  readonly stats: WorkloadStats;
  /** The first `maxAnomalies` anomalies. */
  readonly anomalies: readonly Anomaly[];
  readonly anomalyCount: number;
  /** How many anomalies of each kind, kinds in the order first found. */
  readonly anomalyKinds: readonly (readonly [kind: string, count: number])[];
  /** The first `maxAnomalies` reasons for unknown, and how many there were. */
  readonly unknownReasons: readonly string[];
  readonly unknownReasonCount: number;
  readonly smallestFailingSlice?: FailingSlice;
  /** One line: workload, VALID / INVALID / UNKNOWN, and why. */
  readonly verdict: string;
}

/**
 * Checks a history: events (`History`, paired here) or operations already paired into a log as
 * the harness records them (`OperationLog`).
 */
export function checkHistory(workload: Workload, history: History | OperationLog, options: CheckOptions = {}): CheckResult {
  const log = history instanceof OperationLog ? history : OperationLog.fromHistory(history);
  if (log.malformed !== undefined) {
    const reason = `the history is malformed (${log.malformed.code}): ${log.malformed.message}`;
    const check: WorkloadCheck<WorkloadStats> = {
      valid: 'unknown',
      stats: { operations: { total: 0, ok: 0, fail: 0, info: 0 } },
      anomalies: [],
      anomalyCount: 0,
      anomalyKinds: [],
      unknownReasons: [reason],
      unknownReasonCount: 1,
    };
    return finish(workload, check);
  }
  return finish(workload, runChecker(workload, log, options));
}

function runChecker(workload: Workload, log: OperationLog, options: CheckOptions): WorkloadCheck<WorkloadStats> {
  const maxAnomalies = options.maxAnomalies ?? DEFAULT_MAX_ANOMALIES;
  switch (workload) {
    case Workload.register:
      return checkRegister(log, {
        budget: new SearchBudget(options.budget),
        maxAnomalies,
        ...(options.sliceContext !== undefined ? { sliceContext: options.sliceContext } : {}),
        ...(options.budget?.now ? { now: options.budget.now } : {}),
      });
    case Workload.counter:
      return checkCounter(log, { maxAnomalies });
    case Workload.append:
      return checkAppend(log, { maxAnomalies, ...(options.separator !== undefined ? { separator: options.separator } : {}) });
    case Workload.expiry:
      return checkExpiry(log, {
        maxAnomalies,
        timeUnit: log.timeUnit,
        ...(options.expiryBoundMs !== undefined ? { boundMs: options.expiryBoundMs } : {}),
        ...(options.infoWrites !== undefined ? { infoWrites: options.infoWrites } : {}),
      });
    case Workload.scan:
      return checkScan(log, { maxAnomalies });
  }
}

function finish(workload: Workload, check: WorkloadCheck<WorkloadStats>): CheckResult {
  return {
    valid: check.valid,
    workload,
    stats: check.stats,
    anomalies: check.anomalies,
    anomalyCount: check.anomalyCount,
    anomalyKinds: check.anomalyKinds,
    unknownReasons: check.unknownReasons,
    unknownReasonCount: check.unknownReasonCount,
    ...(check.smallestFailingSlice ? { smallestFailingSlice: check.smallestFailingSlice } : {}),
    verdict: verdict(workload, check),
  };
}

/** `register: INVALID — 2 anomalies (not-linearizable ×1, phantom-read ×1); first: ...` */
export function verdict(
  workload: string,
  check: Pick<WorkloadCheck<WorkloadStats>, 'valid' | 'stats' | 'anomalies' | 'anomalyCount' | 'anomalyKinds' | 'unknownReasons'>,
): string {
  const counts = check.stats.operations;
  const summary = `${counts.total} operations (${counts.ok} ok, ${counts.fail} fail, ${counts.info} info)`;
  if (check.valid === true) return `${workload}: VALID — ${summary}`;
  if (check.valid === 'unknown') {
    return oneLine(`${workload}: UNKNOWN — ${summary}; ${check.unknownReasons[0] ?? 'undecided'}`);
  }
  const kinds = check.anomalyKinds.map(([kind, n]) => `${kind} ×${n}`).join(', ');
  const n = check.anomalyCount;
  const first = check.anomalies[0]?.message ?? 'none kept (maxAnomalies 0)';
  return oneLine(`${workload}: INVALID — ${n} ${n === 1 ? 'anomaly' : 'anomalies'} (${kinds}) in ${summary}; first: ${first}`);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  return flat.length > 400 ? `${flat.slice(0, 399)}…` : flat;
}
