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
import { EventType, Fn, byKey, countOutcomes, type Json, type Operation, type OutcomeCounts, type TimeUnit } from '../history.js';
import { show, sliceOfSmallest, unsupportedFunction, validityOf, valueKey, type Anomaly, type WorkloadCheck } from './result.js';
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

interface ParsedWrite {
  readonly op: Operation;
  readonly value: Json;
  /** TTL in the history's time unit; undefined for a write without one. */
  readonly ttl: number | undefined;
}

export function checkExpiry(ops: readonly Operation[], options: ExpiryOptions = {}): WorkloadCheck<ExpiryStats> {
  const unit = options.timeUnit === 'ns' ? 1e6 : 1;
  const boundMs = options.boundMs ?? 100;
  const bound = boundMs * unit;
  const anomalies: Anomaly[] = [];
  const unknownReasons: string[] = [];
  let checkedReads = 0;
  let unboundedReads = 0;
  let maxLateness = -Infinity;

  const groups = byKey(ops);
  for (const [key, keyOps] of groups) {
    const unsupported = unsupportedFunction('expiry', key, keyOps, [Fn.read, Fn.write]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      continue;
    }
    const writes: ParsedWrite[] = [];
    for (const op of keyOps) {
      if (op.f !== Fn.write) continue;
      const parsed = parseWrite(op, unit);
      if (parsed === undefined) unknownReasons.push(`key ${show(key)}: #${op.id} has a TTL that is not a positive number`);
      else writes.push(parsed);
    }
    const parsedOf = new Map(writes.map((w) => [w.op, w]));
    const writers = new WriterIndex(
      writes.map((w) => w.op),
      (op) => parsedOf.get(op)!.value,
    );
    const reads = keyOps.filter((op) => op.f === Fn.read && op.outcome === EventType.ok);

    for (const read of reads) {
      if (read.result === null) continue;
      const source = writers.sourceAnomaly(read, read.result, 'value', { phantom: 'phantom-read', future: 'read-from-future' });
      if (source) {
        anomalies.push(source);
        continue;
      }
      const sources = writers.writersOf(read.result).map((op) => parsedOf.get(op)!);
      if (sources.some((w) => w.ttl === undefined)) continue; // one of them never expires
      if (sources.some((w) => w.op.outcome === EventType.info) && options.infoWrites !== 'bounded') {
        unboundedReads++;
        continue;
      }
      checkedReads++;
      // With several writes of one value (the workload should not), the most lenient one decides.
      const latest = sources.reduce((a, b) => (b.op.completeTime + b.ttl! > a.op.completeTime + a.ttl! ? b : a));
      const expiry = latest.op.completeTime + latest.ttl!;
      maxLateness = Math.max(maxLateness, read.invokeTime - expiry);
      if (read.invokeTime <= expiry + bound) continue;
      anomalies.push({
        kind: 'read-after-expiry',
        key,
        message:
          `read #${read.id} began at ${read.invokeTime} and saw ${show(read.result)}, which #${latest.op.id} set with a ` +
          `TTL of ${latest.ttl! / unit} ms and expired by ${expiry} at the latest: ` +
          `${(read.invokeTime - expiry) / unit} ms late, the bound is ${boundMs} ms`,
        ops: [latest.op, read],
      });
    }
    if (options.checkEarlyExpiry ?? true) anomalies.push(...checkEarly(key, writes, reads, bound, unit));
  }

  const slice = sliceOfSmallest(anomalies);
  return {
    valid: validityOf(anomalies, unknownReasons),
    stats: {
      keys: groups.size,
      operations: countOutcomes(ops),
      checkedReads,
      unboundedReads,
      maxLatenessMs: maxLateness === -Infinity ? null : maxLateness / unit,
      boundMs,
    },
    anomalies,
    unknownReasons,
    ...(slice ? { smallestFailingSlice: slice } : {}),
  };
}

/**
 * A read that completed before `w.invoke + ttl - bound`, where `w` is certainly the last write
 * before it, must see `w`'s value.
 */
function checkEarly(key: string, writes: readonly ParsedWrite[], reads: readonly Operation[], bound: number, unit: number): Anomaly[] {
  const live = new Timeline(
    writes.filter((w) => w.op.outcome !== EventType.fail),
    (w) => w.op.invokeTime,
  );
  // settled[k]: the latest time any of the first k writes (by invoke) may take effect.
  const settled = [-Infinity];
  for (const w of live.items) {
    const deadline = w.op.outcome === EventType.info ? Infinity : w.op.completeTime;
    settled.push(Math.max(settled[settled.length - 1]!, deadline));
  }
  const anomalies: Anomaly[] = [];
  for (const read of reads) {
    const k = live.countAtOrBefore(read.completeTime);
    const last = live.items[k - 1];
    if (last === undefined || last.ttl === undefined || last.op.outcome !== EventType.ok) continue;
    if (last.op.completeTime >= read.invokeTime || settled[k - 1]! >= last.op.invokeTime) continue;
    if (read.completeTime >= last.op.invokeTime + last.ttl - bound) continue;
    if (valueKey(read.result) === valueKey(last.value)) continue;
    anomalies.push({
      kind: read.result === null ? 'early-expiry' : 'stale-read',
      key,
      message:
        `read #${read.id} completed at ${read.completeTime} and saw ${show(read.result)}, but #${last.op.id} ` +
        `(the last write before it) set ${show(last.value)} with a TTL of ${last.ttl / unit} ms, ` +
        `alive until at least ${last.op.invokeTime + last.ttl}`,
      ops: [last.op, read],
    });
  }
  return anomalies;
}

function parseWrite(op: Operation, unit: number): ParsedWrite | undefined {
  const args = op.args;
  if (typeof args !== 'object' || args === null || Array.isArray(args) || !('value' in args)) {
    return { op, value: args, ttl: undefined };
  }
  const { value, ttlMs } = args as { value: Json; ttlMs?: Json };
  if (ttlMs === undefined || ttlMs === null) return { op, value, ttl: undefined };
  if (typeof ttlMs !== 'number' || !(ttlMs > 0)) return undefined;
  return { op, value, ttl: ttlMs * unit };
}
