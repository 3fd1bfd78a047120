/**
 * The scan workload: keys are added (SET, each name once), some deleted (DEL, at most once, only
 * after their SET was acknowledged), and full SCANs (the cursor followed from 0 back to 0) return
 * sets of keys. What Redis promises of SCAN, made exact with real-time bounds:
 *
 * ```
 *   scan s:                    invoke ─────────────────── complete
 *   required:  SET ok ──┤ (completed before s was invoked)      ├── DEL invoked after s completed
 *              (or never deleted): present for the whole SCAN, so it must be returned
 *   forbidden: a key with no SET invoked before s completed, or whose SET failed: it never existed;
 *              a key whose SET was acknowledged before its DEL was invoked, and whose DEL was
 *              acknowledged before s was invoked: gone for the whole SCAN
 * ```
 *
 * Anything else (a key added or deleted while the SCAN ran, a SET whose outcome is unknown) may be
 * returned or not. A key returned twice is allowed (SCAN may repeat keys).
 *
 * Cost: the scans are swept in invoke order against the keys acknowledged before each one was
 * invoked and not deleted before then, so each scan costs the keys live around it, not every key
 * of the run.
 */
import { Fn, type OutcomeCounts } from '../history.js';
import { OperationLog, OutcomeCode } from '../oplog.js';
import { AnomalySink, BoundedList, findings, show, sliceOf, type WorkloadCheck } from './result.js';

export interface ScanOptions {
  /** Anomalies (and reasons for unknown) kept; all are counted. Default 100. */
  readonly maxAnomalies?: number;
}

export interface ScanStats {
  readonly operations: OutcomeCounts;
  /** Keys added (SETs invoked). */
  readonly keys: number;
  /** Full SCANs that completed ok, and how many keys each had to return, on average and at most. */
  readonly scans: number;
  readonly requiredPerScan: { readonly mean: number; readonly max: number };
  /** Keys the last ok SCAN returned (the final read's, after the faults). */
  readonly lastScanKeys: number | null;
}

/** One key's SET and DEL rows (-1: none). */
interface KeyOps {
  add: number;
  del: number;
}

export function checkScan(input: OperationLog, options: ScanOptions = {}): WorkloadCheck<ScanStats> {
  const log = input;
  const anomalies = new AnomalySink(options.maxAnomalies);
  const unknownReasons = new BoundedList<string>(options.maxAnomalies);
  const WRITE = log.functionId(Fn.write);
  const DEL = log.functionId(Fn.del);
  const SCAN = log.functionId(Fn.scan);
  const ok = (row: number): boolean => log.outcomeCode(row) === OutcomeCode.ok;

  const keys = new Map<string, KeyOps>();
  const scans: number[] = [];
  for (let row = 0; row < log.length; row++) {
    const f = log.fId(row);
    if (f === SCAN) {
      if (ok(row)) scans.push(row);
      continue;
    }
    if (f !== WRITE && f !== DEL) {
      unknownReasons.push(`key ${show(log.key(row))}: the scan workload has no function ${show(log.f(row))} (#${log.id(row)})`);
      continue;
    }
    const key = log.key(row);
    let k = keys.get(key);
    if (!k) keys.set(key, (k = { add: -1, del: -1 }));
    if (f === WRITE) {
      if (k.add >= 0) unknownReasons.push(`key ${show(key)} is SET twice (#${log.id(k.add)}, #${log.id(row)}): the checker relies on each name being added once`);
      else k.add = row;
    } else if (k.del >= 0) unknownReasons.push(`key ${show(key)} is deleted twice (#${log.id(k.del)}, #${log.id(row)})`);
    else k.del = row;
  }

  // When each key certainly stops being there: its DEL's invoke (+inf: never deleted, or the DEL failed).
  const goneFrom = (k: KeyOps): number => (k.del >= 0 && log.outcomeCode(k.del) !== OutcomeCode.fail ? log.invokeTime(k.del) : Infinity);
  // Keys acknowledged, in the order they were acknowledged.
  const acknowledged = [...keys.entries()].filter(([, k]) => k.add >= 0 && ok(k.add)).sort((a, b) => log.completeTime(a[1].add) - log.completeTime(b[1].add));
  scans.sort((a, b) => log.invokeTime(a) - log.invokeTime(b));

  const candidates = new Map<string, KeyOps>();
  let next = 0;
  let requiredTotal = 0;
  let requiredMax = 0;
  let lastScanKeys: number | null = null;
  let lastScanTime = -Infinity;
  for (const scan of scans) {
    const invoked = log.invokeTime(scan);
    const completed = log.completeTime(scan);
    const result = log.result(scan);
    if (!Array.isArray(result) || !result.every((k): k is string => typeof k === 'string')) {
      anomalies.add('unexpected-result', 1, () => ({ kind: 'unexpected-result', key: '*', message: `#${log.id(scan)} returned ${log.values.text(log.resultId(scan))}, not a list of keys`, ops: [log.operation(scan)] }));
      continue;
    }
    if (completed > lastScanTime) {
      lastScanTime = completed;
      lastScanKeys = result.length;
    }
    const returned = new Set(result);
    // Keys acknowledged before this scan began: candidates from now on (scans go in invoke order).
    while (next < acknowledged.length && log.completeTime(acknowledged[next]![1].add) < invoked) {
      const [name, k] = acknowledged[next++]!;
      candidates.set(name, k);
    }
    let required = 0;
    for (const [name, k] of candidates) {
      const gone = goneFrom(k);
      // Deleted before this scan began: not there for any later scan either.
      if (gone < invoked) {
        candidates.delete(name);
        continue;
      }
      if (gone <= completed) continue;
      required++;
      if (!returned.has(name)) {
        anomalies.add('missing-key', k.del >= 0 ? 3 : 2, () => ({
          kind: 'missing-key',
          key: name,
          message:
            `full SCAN #${log.id(scan)} (${invoked}..${completed}) did not return ${show(name)}, acknowledged by #${log.id(k.add)} at ${log.completeTime(k.add)}` +
            (k.del >= 0 ? ` and not deleted until #${log.id(k.del)} was invoked at ${log.invokeTime(k.del)}` : ' and never deleted'),
          ops: [log.operation(k.add), log.operation(scan), ...(k.del >= 0 ? [log.operation(k.del)] : [])],
        }));
      }
    }
    requiredTotal += required;
    requiredMax = Math.max(requiredMax, required);

    for (const name of returned) {
      const k = keys.get(name);
      if (!k || k.add < 0 || log.invokeTime(k.add) > completed || log.outcomeCode(k.add) === OutcomeCode.fail) {
        anomalies.add('phantom-key', k && k.add >= 0 ? 2 : 1, () => ({
          kind: 'phantom-key',
          key: name,
          message: `full SCAN #${log.id(scan)} returned ${show(name)}, which ${!k || k.add < 0 ? 'no operation added' : log.outcomeCode(k.add) === OutcomeCode.fail ? `#${log.id(k.add)} certainly did not add` : `#${log.id(k.add)} added only after the SCAN`}`,
          ops: [...(k && k.add >= 0 ? [log.operation(k.add)] : []), log.operation(scan)],
        }));
        continue;
      }
      if (k.del >= 0 && ok(k.add) && ok(k.del) && log.completeTime(k.add) < log.invokeTime(k.del) && log.completeTime(k.del) < invoked) {
        anomalies.add('deleted-key-returned', 3, () => ({
          kind: 'deleted-key-returned',
          key: name,
          message: `full SCAN #${log.id(scan)} (${invoked}..${completed}) returned ${show(name)}, deleted by #${log.id(k.del)} (acknowledged at ${log.completeTime(k.del)}) before the SCAN began`,
          ops: [log.operation(k.add), log.operation(k.del), log.operation(scan)],
        }));
      }
    }
  }

  const found = findings(anomalies, unknownReasons);
  return {
    ...found,
    stats: {
      operations: log.counts(),
      keys: keys.size,
      scans: scans.length,
      requiredPerScan: { mean: scans.length === 0 ? 0 : Math.round((requiredTotal / scans.length) * 10) / 10, max: requiredMax },
      lastScanKeys,
    },
    ...(anomalies.smallest ? { smallestFailingSlice: sliceOf(anomalies.smallest) } : {}),
  };
}
