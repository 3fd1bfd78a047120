/**
 * A run's report: `report.json`, `report.txt` and `latency.html` in the run's directory (the
 * history, `history.jsonl`, is written during the run by the recorder). Each is written piece by
 * piece, and each is bounded whatever the run's length: anomalies and reasons for unknown are the
 * first few with their counts, and the plot summarises long runs per time slice.
 */
import { join } from 'node:path';
import type { CheckResult } from './checker/index.js';
import { TextFileWriter } from './files.js';
import type { OutcomeCounts } from './history.js';
import type { FaultRecord } from './nemesis.js';
import type { OperationLog } from './oplog.js';
import { writeLatencyHtml, type TextSink } from './plot.js';

/** Anomalies and reasons for unknown shown in a report; all are counted. */
export const REPORTED_ANOMALIES = 20;

export interface RunSummary {
  readonly workload: string;
  readonly nemeses: readonly string[];
  readonly schedule: string;
  /** Data groups the cluster was made with, and the keys the workload used (its final reads). */
  readonly groups?: number;
  readonly keys?: number;
  readonly seed: number;
  readonly timeSeconds: number;
  readonly clients: number;
  readonly startedAt: string;
  readonly faults: readonly FaultRecord[];
  /** Why the cluster was not healthy after the final heal; null when it was. */
  readonly settleProblem: string | null;
  readonly snapshots: { readonly taken: number; readonly installed: number };
  readonly checker: CheckerCost;
}

/** What the check cost: its wall time, and the process's memory after it and at its peak. */
export interface CheckerCost {
  readonly elapsedMs: number;
  readonly rssMB: number;
  readonly peakRssMB: number;
}

/** Runs `check` and measures it. */
export function measureCheck<T>(check: () => T): { result: T; cost: CheckerCost } {
  const started = performance.now();
  const result = check();
  const elapsedMs = Math.round(performance.now() - started);
  return { result, cost: { elapsedMs, rssMB: Math.round(process.memoryUsage().rss / 2 ** 20), peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) } };
}

export async function writeRunFiles(dir: string, summary: RunSummary, log: OperationLog, check: CheckResult): Promise<void> {
  const outcomes = log.counts();
  const injected = summary.faults.filter((f) => f.action === 'inject' && f.error === undefined).length;

  const json = new TextFileWriter(join(dir, 'report.json'));
  writeJsonObject(json, {
    workload: summary.workload,
    nemeses: summary.nemeses,
    schedule: summary.schedule,
    ...(summary.groups !== undefined ? { groups: summary.groups } : {}),
    ...(summary.keys !== undefined ? { keys: summary.keys } : {}),
    seed: summary.seed,
    timeSeconds: summary.timeSeconds,
    clients: summary.clients,
    startedAt: summary.startedAt,
    operations: outcomes,
    faults: summary.faults,
    faultsInjected: injected,
    settled: summary.settleProblem === null ? true : summary.settleProblem,
    valid: check.valid,
    anomalyCount: check.anomalyCount,
    anomalyKinds: Object.fromEntries(check.anomalyKinds),
    anomalies: check.anomalies.slice(0, REPORTED_ANOMALIES),
    unknownReasonCount: check.unknownReasonCount,
    unknownReasons: check.unknownReasons.slice(0, REPORTED_ANOMALIES),
    smallestFailingSlice: check.smallestFailingSlice ?? null,
    stats: boundedStats(check.stats),
    snapshots: summary.snapshots,
    checker: summary.checker,
    verdict: check.verdict,
  });
  await json.close();

  const text = new TextFileWriter(join(dir, 'report.txt'));
  for (const line of reportLines(summary, outcomes, injected, check)) text.write(line + '\n');
  await text.close();

  const html = new TextFileWriter(join(dir, 'latency.html'));
  const title = `jepsen-lite: ${summary.workload}, ${summary.nemeses.join(',') || 'no nemesis'}, seed ${summary.seed}`;
  writeLatencyHtml(html, title, log, summary.faults, check.verdict);
  await html.close();
}

function* reportLines(summary: RunSummary, outcomes: OutcomeCounts, injected: number, check: CheckResult): Generator<string> {
  const { checker, snapshots } = summary;
  yield `jepsen-lite run: ${summary.workload}, nemeses ${summary.nemeses.join(',') || 'none'}, seed ${summary.seed}, ${summary.timeSeconds} s, ${summary.clients} clients`;
  yield `operations: ${outcomes.total} (${outcomes.ok} ok, ${outcomes.fail} fail, ${outcomes.info} info)`;
  yield `faults (${injected} injected):`;
  for (const f of summary.faults) yield `  ${(f.time / 1000).toFixed(2)}s ${f.nemesis} ${f.action}: ${f.detail}${f.error ? ` (error: ${f.error})` : ''}`;
  yield `settled: ${summary.settleProblem ?? 'yes'}`;
  yield `snapshots: ${snapshots.taken} taken, ${snapshots.installed} installed from a leader (INFO raft, sampled before each fault and at the end)`;
  yield `checker: ${(checker.elapsedMs / 1000).toFixed(1)} s; memory ${checker.rssMB} MB resident after the check, ${checker.peakRssMB} MB at the process's peak`;
  if (check.anomalyCount > REPORTED_ANOMALIES) yield `anomalies: ${check.anomalyCount} (the first ${REPORTED_ANOMALIES} in report.json)`;
  if (check.unknownReasonCount > REPORTED_ANOMALIES) yield `reasons for unknown: ${check.unknownReasonCount} (the first ${REPORTED_ANOMALIES} in report.json)`;
  yield `verdict: ${check.verdict}`;
}

/** Keys listed per statistic in a report (append moves to fresh keys as it goes: thousands in an hour). */
export const REPORTED_KEYS = 20;

/** The check's statistics, each per-key table cut to its first REPORTED_KEYS keys and a count. */
function boundedStats(stats: object): Record<string, unknown> {
  const bounded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(stats)) {
    const entries = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : [];
    bounded[name] = entries.length > REPORTED_KEYS ? { ...Object.fromEntries(entries.slice(0, REPORTED_KEYS)), '…': `${entries.length} keys in all` } : value;
  }
  return bounded;
}

/**
 * `JSON.stringify(value, null, 2) + '\n'` for an object, written a member at a time and its array
 * members an element at a time.
 */
export function writeJsonObject(out: TextSink, value: Record<string, unknown>): void {
  const indent = (text: string, by: string): string => text.replace(/\n/g, `\n${by}`);
  const entries = Object.entries(value).filter(([, member]) => member !== undefined);
  out.write('{');
  entries.forEach(([name, member], i) => {
    out.write(`${i === 0 ? '' : ','}\n  ${JSON.stringify(name)}: `);
    if (Array.isArray(member) && member.length > 0) {
      out.write('[');
      member.forEach((element, j) => out.write(`${j === 0 ? '' : ','}\n    ${indent(JSON.stringify(element, null, 2) ?? 'null', '    ')}`));
      out.write('\n  ]');
    } else {
      out.write(indent(JSON.stringify(member, null, 2), '  '));
    }
  });
  out.write(entries.length > 0 ? '\n}\n' : '}\n');
}
