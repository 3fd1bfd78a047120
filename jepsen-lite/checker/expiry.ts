/**
 * The expiry workload: SET with short TTLs (`SET k v PX ttl`) and GETs. The gateway turns the TTL
 * into an absolute time when it receives the write, somewhere inside the write's window, so:
 *
 * ```
 *   write w (ttl)   invoke ─────── complete
 *                       └── expiry between invoke + ttl and complete + ttl ──┘
 *
 *   late:  a read invoked after   complete + ttl + bound   saw w's value          read-after-expiry
 *   early: a read completed before invoke + ttl - bound    did not see w's value, early-expiry
 *          although w is certainly the last write before it
 * ```
 *
 * `bound` is the stated slack: clock skew between the node that stamped the write and the one
 * that served the read, plus the time a read takes to reach its decision. A read may have taken
 * effect as early as its invoke, so only a read invoked after the deadline proves a late value.
 *
 * An `info` write may be received long after its client gave up (a paused node resumes, a queued
 * request proposes), so its expiry has no upper bound: reads of its value are counted in
 * `unboundedReads` and not checked, unless `infoWrites: 'bounded'` says the harness knows better.
 *
 * The early check applies only where no other write could have come between (every other write
 * completed before `w` began or began after the read completed); elsewhere ordering is the
 * register checker's business. Write arguments are `{ value, ttlMs }` (`expiringWrite`), or a
 * plain value for a write without a TTL.
 */
import { Fn, type Json, type Operation, type OutcomeCounts, type TimeUnit } from '../history.js';
import { OperationLog, OutcomeCode } from '../oplog.js';
import { AnomalySink, BoundedList, findings, show, sliceOf, unsupportedFunction, valueKey, type WorkloadCheck } from './result.js';
import { Timeline } from './timeline.js';
import { WriterIndex } from './writers.js';

export interface ExpiryOptions {
  /** The history's time unit; TTLs and the bound are in ms. Default `ms`. */
  readonly timeUnit?: TimeUnit;
  /** Slack past complete + ttl (and before invoke + ttl) in ms. Default 100. */
  readonly boundMs?: number;
  /** `unchecked` (default): info writes have no expiry deadline; `bounded`: use their recorded completion. */
  readonly infoWrites?: 'unchecked' | 'bounded';
  /** Also look for values that vanished before their TTL. Default true. */
  readonly checkEarlyExpiry?: boolean;
  /** Anomalies (and reasons for unknown) kept; all are counted. Default 100. */
  readonly maxAnomalies?: number;
}

export interface ExpiryStats {
  readonly keys: number;
  readonly operations: OutcomeCounts;
  /** Reads that saw a value with a deadline, and were checked against it. */
  readonly checkedReads: number;
  /** Reads of values written by info writes, not checked (see `infoWrites`). */
  readonly unboundedReads: number;
  /**
   * The most a read began after its value's nominal expiry (complete + ttl), in ms: how much of
   * `boundMs` the run used. Negative when every read came before.
   */
  readonly maxLatenessMs: number | null;
  readonly boundMs: number;
}

/** The arguments of a write with a TTL (a type alias, not an interface, so that it is `Json`). */
export type ExpiringWriteArgs = { readonly value: Json; readonly ttlMs: number };

export function expiringWrite(value: Json, ttlMs: number): ExpiringWriteArgs {
  return { value, ttlMs };
}

/** A key's values as small integers, by canonical text (`valueKey`). */
class Values {
  private readonly ids = new Map<string, number>();
  readonly texts: string[] = [];

  idOf(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.texts.length;
      this.ids.set(text, id);
      this.texts.push(text);
    }
    return id;
  }
}

/**
 * A key's writes with a usable TTL, by position in the key's rows: the value written (the key's
 * number for it; -1 for an operation that is not such a write) and the TTL in the history's time
 * unit (NaN for a write without one).
 */
interface ParsedWrites {
  readonly value: Int32Array;
  readonly ttl: Float64Array;
}

export function checkExpiry(input: readonly Operation[] | OperationLog, options: ExpiryOptions = {}): WorkloadCheck<ExpiryStats> {
  const log = input instanceof OperationLog ? input : OperationLog.fromOperations(input, options.timeUnit);
  const unit = options.timeUnit === 'ns' ? 1e6 : 1;
  const boundMs = options.boundMs ?? 100;
  const bound = boundMs * unit;
  const anomalies = new AnomalySink(options.maxAnomalies);
  const unknownReasons = new BoundedList<string>(options.maxAnomalies);
  const WRITE = log.functionId(Fn.write);
  const READ = log.functionId(Fn.read);
  let checkedReads = 0;
  let unboundedReads = 0;
  let maxLateness = -Infinity;
  // Each parsed write's position in its key's rows, by row.
  const positionByRow = new Int32Array(log.length);

  const partitions = log.partitionByKey();
  for (const { key, rows } of partitions) {
    const unsupported = unsupportedFunction('expiry', log, key, rows, [Fn.read, Fn.write]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      continue;
    }
    const values = new Values();
    const NULL = values.idOf('null');
    const writes: ParsedWrites = { value: new Int32Array(rows.length).fill(-1), ttl: new Float64Array(rows.length).fill(NaN) };
    rows.forEach((row, i) => {
      if (log.fId(row) !== WRITE) return;
      const parsed = parseWrite(log.args(row), unit);
      if (parsed === undefined) {
        unknownReasons.push(`key ${show(key)}: #${log.id(row)} has a TTL that is not a positive number`);
        return;
      }
      writes.value[i] = values.idOf(valueKey(parsed.value));
      writes.ttl[i] = parsed.ttl ?? NaN;
      positionByRow[row] = i;
    });
    const reads = rows.filter((row) => log.fId(row) === READ && log.outcomeCode(row) === OutcomeCode.ok);
    const readValue = Int32Array.from(reads, (row) => values.idOf(log.values.text(log.resultId(row))));
    const writers = new WriterIndex(log, rows, values.texts.length, (i) => writes.value[i]!);
    const ttlOf = (row: number): number => writes.ttl[positionByRow[row]!]!;
    // Per value, over the writes that may have written it (ok or info): whether one never expires,
    // whether one is info, and the one that expires last (the first among equals): computed once,
    // not for every read of the value.
    const valueCount = values.texts.length;
    const neverExpires = new Uint8Array(valueCount);
    const someInfo = new Uint8Array(valueCount);
    const latestWrite = new Int32Array(valueCount).fill(-1);
    const expiryOf = (w: number): number => log.completeTime(w) + ttlOf(w);
    rows.forEach((row, i) => {
      const value = writes.value[i]!;
      if (value < 0 || log.outcomeCode(row) === OutcomeCode.fail) return;
      if (Number.isNaN(writes.ttl[i]!)) neverExpires[value] = 1;
      if (log.outcomeCode(row) !== OutcomeCode.ok) someInfo[value] = 1;
      const latest = latestWrite[value]!;
      if (latest < 0 || expiryOf(row) > expiryOf(latest)) latestWrite[value] = row;
    });

    reads.forEach((read, r) => {
      const value = readValue[r]!;
      if (value === NULL) return;
      const text = values.texts[value]!;
      if (writers.checkSource(read, value, text, 'value', { phantom: 'phantom-read', future: 'read-from-future' }, key, anomalies)) return;
      if (neverExpires[value]) return;
      if (someInfo[value] && options.infoWrites !== 'bounded') {
        unboundedReads++;
        return;
      }
      checkedReads++;
      // With several writes of one value (the workload should not), the most lenient one decides.
      const latest = latestWrite[value]!;
      const expiry = expiryOf(latest);
      const invokeTime = log.invokeTime(read);
      maxLateness = Math.max(maxLateness, invokeTime - expiry);
      if (invokeTime <= expiry + bound) return;
      anomalies.add('read-after-expiry', 2, () => ({
        kind: 'read-after-expiry',
        key,
        message:
          `read #${log.id(read)} began at ${invokeTime} and saw ${text}, which #${log.id(latest)} set with a ` +
          `TTL of ${ttlOf(latest) / unit} ms and expired by ${expiry} at the latest: ` +
          `${(invokeTime - expiry) / unit} ms late, the bound is ${boundMs} ms`,
        ops: [log.operation(latest), log.operation(read)],
      }));
    });
    if (options.checkEarlyExpiry ?? true) checkEarly(log, key, rows, writes, reads, readValue, values, bound, unit, anomalies);
  }

  const smallest = anomalies.smallest;
  return {
    ...findings(anomalies, unknownReasons),
    stats: {
      keys: partitions.length,
      operations: log.counts(),
      checkedReads,
      unboundedReads,
      maxLatenessMs: maxLateness === -Infinity ? null : maxLateness / unit,
      boundMs,
    },
    ...(smallest ? { smallestFailingSlice: sliceOf(smallest) } : {}),
  };
}

/**
 * A read that completed before `w.invoke + ttl - bound`, where `w` is certainly the last write
 * before it, must see `w`'s value.
 */
function checkEarly(
  log: OperationLog,
  key: string,
  rows: Int32Array,
  writes: ParsedWrites,
  reads: Int32Array,
  readValue: Int32Array,
  values: Values,
  bound: number,
  unit: number,
  anomalies: AnomalySink,
): void {
  const livePositions: number[] = [];
  rows.forEach((row, i) => {
    if (writes.value[i]! >= 0 && log.outcomeCode(row) !== OutcomeCode.fail) livePositions.push(i);
  });
  const live = new Timeline(livePositions, (i) => log.invokeTime(rows[i]!));
  // settled[k]: the latest time any of the first k writes (by invoke) may take effect.
  const settled = new Float64Array(live.length + 1);
  settled[0] = -Infinity;
  for (let k = 0; k < live.length; k++) {
    const row = rows[live.items[k]!]!;
    const deadline = log.outcomeCode(row) === OutcomeCode.ok ? log.completeTime(row) : Infinity;
    settled[k + 1] = Math.max(settled[k]!, deadline);
  }
  reads.forEach((read, r) => {
    const k = live.countAtOrBefore(log.completeTime(read));
    if (k === 0) return;
    const last = live.items[k - 1]!;
    const lastRow = rows[last]!;
    const ttl = writes.ttl[last]!;
    if (Number.isNaN(ttl) || log.outcomeCode(lastRow) !== OutcomeCode.ok) return;
    if (log.completeTime(lastRow) >= log.invokeTime(read) || settled[k - 1]! >= log.invokeTime(lastRow)) return;
    if (log.completeTime(read) >= log.invokeTime(lastRow) + ttl - bound) return;
    if (readValue[r] === writes.value[last]) return;
    const kind = log.resultId(read) === 0 ? 'early-expiry' : 'stale-read';
    anomalies.add(kind, 2, () => ({
      kind,
      key,
      message:
        `read #${log.id(read)} completed at ${log.completeTime(read)} and saw ${values.texts[readValue[r]!]}, but #${log.id(lastRow)} ` +
        `(the last write before it) set ${values.texts[writes.value[last]!]} with a TTL of ${ttl / unit} ms, ` +
        `alive until at least ${log.invokeTime(lastRow) + ttl}`,
      ops: [log.operation(lastRow), log.operation(read)],
    }));
  });
}

function parseWrite(args: Json, unit: number): { value: Json; ttl: number | undefined } | undefined {
  if (typeof args !== 'object' || args === null || Array.isArray(args) || !('value' in args)) {
    return { value: args, ttl: undefined };
  }
  const { value, ttlMs } = args as { value: Json; ttlMs?: Json };
  if (ttlMs === undefined || ttlMs === null) return { value, ttl: undefined };
  if (typeof ttlMs !== 'number' || !(ttlMs > 0)) return undefined;
  return { value, ttl: ttlMs * unit };
}
