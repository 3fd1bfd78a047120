/**
 * The append workload: RPUSH (or APPEND) of unique elements to a few keys, and reads of the whole
 * list. The list is a log, so every read should show a prefix of one sequence that only grows:
 *
 * ```
 *   read #4:  [a b]
 *   read #7:  [a b c]        a prefix-extension of #4: fine
 *   read #9:  [a c]          not a prefix of #7 nor #7 of it: the reads diverge
 *   read #12: [a b]          began after #7 completed, shorter: the list went back in time
 * ```
 *
 * Checked, per key:
 * - `duplicate-element`: an element appears twice in one read;
 * - `phantom-element`: a read shows an element no append (ok or info) wrote;
 * - `read-from-future`: a read shows an element whose append began after the read completed;
 * - `divergent-reads`: two reads neither of which is a prefix of the other;
 * - `read-went-back`: a read that is not a prefix-extension of a read completed before it began;
 * - `lost-append`: an acknowledged element missing from the final read (the one invoked last);
 *   `stale-read`: missing from a read that began after it was acknowledged, though present later;
 * - `append-order`: appends ordered in real time appear in the other order.
 *
 * Reads whose result is a string (APPEND) are split with `separator`; null is the empty list.
 *
 * Time and memory are linear in what the reads returned (identical reads are stored once), plus
 * O(n log n) sorting: each acknowledged append is checked against the reads that must show it by
 * binary search over the reads that do, not by walking every read.
 */
import { Fn, type Json, type Operation, type OutcomeCounts } from '../history.js';
import { OperationLog, OutcomeCode } from '../oplog.js';
import { AnomalySink, BoundedList, MAX_EVIDENCE, findings, sliceOf, unsupportedFunction, valueKey, type WorkloadCheck } from './result.js';
import { Timeline } from './timeline.js';
import { WriterIndex } from './writers.js';

export interface AppendOptions {
  /** Splits string read results (the APPEND variant). Default a space. */
  readonly separator?: string;
  /** Anomalies (and reasons for unknown) kept; all are counted. Default 100. */
  readonly maxAnomalies?: number;
}

export interface AppendStats {
  readonly keys: number;
  readonly operations: OutcomeCounts;
  readonly reads: number;
  /** Per key: acknowledged appends, elements in the final read, acknowledged ones missing from it. */
  readonly lists: Readonly<Record<string, { acknowledged: number; finalLength: number | null; lost: number }>>;
}

/**
 * One key's ok reads that returned a list, in the key's order, each list as the key's element
 * numbers: read `r` is `elements[start[r] .. start[r] + length[r])`.
 */
interface ListReads {
  readonly count: number;
  readonly rows: Int32Array;
  readonly start: Int32Array;
  readonly length: Int32Array;
  readonly elements: Int32Array;
}

/** A key's elements as small integers, by canonical text (`valueKey`). */
class Elements {
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

  get size(): number {
    return this.texts.length;
  }
}

export function checkAppend(input: readonly Operation[] | OperationLog, options: AppendOptions = {}): WorkloadCheck<AppendStats> {
  const log = input instanceof OperationLog ? input : OperationLog.fromOperations(input);
  const separator = options.separator ?? ' ';
  const anomalies = new AnomalySink(options.maxAnomalies);
  const unknownReasons = new BoundedList<string>(options.maxAnomalies);
  const lists: Record<string, { acknowledged: number; finalLength: number | null; lost: number }> = {};
  const APPEND = log.functionId(Fn.append);
  const READ = log.functionId(Fn.read);
  let readCount = 0;
  // Each append's element, by row, in its key's numbering.
  const elementByRow = new Int32Array(log.length);

  const partitions = log.partitionByKey();
  for (const { key, rows } of partitions) {
    const unsupported = unsupportedFunction('append', log, key, rows, [Fn.read, Fn.append]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      continue;
    }
    const elements = new Elements();
    const appendElement = new Int32Array(rows.length).fill(-1);
    rows.forEach((row, i) => {
      if (log.fId(row) === APPEND) appendElement[i] = elements.idOf(log.values.text(log.argsId(row)));
    });
    const appends = rows.filter((row) => log.fId(row) === APPEND);
    const reads = readLists(log, key, rows, READ, separator, elements, anomalies);
    readCount += reads.count;

    const writers = new WriterIndex(log, rows, elements.size, (i) => appendElement[i]!);
    rows.forEach((row, i) => (elementByRow[row] = appendElement[i]!));
    const elementOf = (row: number): number => elementByRow[row]!;
    const byInvoke = readsByInvoke(log, reads);
    checkElements(log, key, reads, byInvoke, elements, writers, anomalies);
    checkPrefixOrder(log, key, reads, elements, anomalies);
    const lost = checkAcknowledged(log, key, appends, elementOf, reads, byInvoke, elements, anomalies);
    checkAppendOrder(log, key, appends, elementOf, reads, elements, anomalies);
    let acknowledged = 0;
    for (const row of appends) if (log.outcomeCode(row) === OutcomeCode.ok) acknowledged++;
    lists[key] = { acknowledged, finalLength: lost.finalLength, lost: lost.lostCount };
  }

  const smallest = anomalies.smallest;
  return {
    ...findings(anomalies, unknownReasons),
    stats: { keys: partitions.length, operations: log.counts(), reads: readCount, lists },
    ...(smallest ? { smallestFailingSlice: sliceOf(smallest) } : {}),
  };
}

/** The key's ok reads as lists; a result that is not a list is an `unexpected-result`. */
function readLists(log: OperationLog, key: string, rows: Int32Array, READ: number, separator: string, elements: Elements, anomalies: AnomalySink): ListReads {
  const readRows: number[] = [];
  const starts: number[] = [];
  const lengths: number[] = [];
  let arena = new Int32Array(1024);
  let used = 0;
  // Reads that returned the same list (the same value) share its elements.
  const stored = new Map<number, { start: number; length: number }>();
  for (const row of rows) {
    if (log.fId(row) !== READ || log.outcomeCode(row) !== OutcomeCode.ok) continue;
    const resultId = log.resultId(row);
    let list = stored.get(resultId);
    if (list === undefined) {
      const values = asList(log.result(row), separator);
      if (values === undefined) {
        anomalies.add('unexpected-result', 1, () => ({
          kind: 'unexpected-result',
          key,
          message: `#${log.id(row)} read ${log.values.text(resultId)}, not a list`,
          ops: [log.operation(row)],
        }));
        continue;
      }
      if (used + values.length > arena.length) {
        const bigger = new Int32Array(Math.max(2 * arena.length, used + values.length));
        bigger.set(arena.subarray(0, used));
        arena = bigger;
      }
      list = { start: used, length: values.length };
      for (const value of values) arena[used++] = elements.idOf(valueKey(value));
      stored.set(resultId, list);
    }
    readRows.push(row);
    starts.push(list.start);
    lengths.push(list.length);
  }
  return { count: readRows.length, rows: Int32Array.from(readRows), start: Int32Array.from(starts), length: Int32Array.from(lengths), elements: arena.subarray(0, used) };
}

/** Read indices ordered by invoke time, then id. */
function readsByInvoke(log: OperationLog, reads: ListReads): Int32Array {
  const order = Int32Array.from({ length: reads.count }, (_, r) => r);
  return order.sort((a, b) => log.invokeTime(reads.rows[a]!) - log.invokeTime(reads.rows[b]!) || log.id(reads.rows[a]!) - log.id(reads.rows[b]!));
}

/** Duplicates, phantoms and elements from the future; each element reported once per kind. */
function checkElements(
  log: OperationLog,
  key: string,
  reads: ListReads,
  byInvoke: Int32Array,
  elements: Elements,
  writers: WriterIndex,
  anomalies: AnomalySink,
): void {
  const sourceReported = new Uint8Array(elements.size);
  const duplicateReported = new Uint8Array(elements.size);
  // Where each element was first seen in the current read (`seenIn` says which read that was).
  const seenIn = new Int32Array(elements.size).fill(-1);
  const firstAt = new Int32Array(elements.size);
  for (const r of byInvoke) {
    const row = reads.rows[r]!;
    const start = reads.start[r]!;
    for (let index = 0; index < reads.length[r]!; index++) {
      const element = reads.elements[start + index]!;
      const text = elements.texts[element]!;
      if (seenIn[element] !== r) {
        seenIn[element] = r;
        firstAt[element] = index;
        if (!sourceReported[element]) {
          sourceReported[element] = writers.checkSource(row, element, text, 'element', { phantom: 'phantom-element', future: 'read-from-future' }, key, anomalies) ? 1 : 0;
        }
        continue;
      }
      if (duplicateReported[element]) continue;
      duplicateReported[element] = 1;
      const first = firstAt[element]!;
      anomalies.add('duplicate-element', Math.min(writers.possibleCount(element), MAX_EVIDENCE) + 1, () => ({
        kind: 'duplicate-element',
        key,
        message: `read #${log.id(row)} shows ${text} at positions ${first} and ${index}`,
        ops: [...writers.writersOf(element, MAX_EVIDENCE), row].map((w) => log.operation(w)),
      }));
    }
  }
}

/** Reads are totally ordered by prefix, and that order agrees with real time. */
function checkPrefixOrder(log: OperationLog, key: string, reads: ListReads, elements: Elements, anomalies: AnomalySink): void {
  // Prefix is transitive, so a total order means each read (by length) is a prefix of the next.
  const byLength = Int32Array.from({ length: reads.count }, (_, r) => r).sort(
    (a, b) => reads.length[a]! - reads.length[b]! || log.invokeTime(reads.rows[a]!) - log.invokeTime(reads.rows[b]!) || a - b,
  );
  for (let i = 1; i < byLength.length; i++) {
    const [shorter, longer] = [byLength[i - 1]!, byLength[i]!];
    const at = firstDifference(reads, shorter, longer);
    if (at === undefined) continue;
    const [shorterRow, longerRow] = [reads.rows[shorter]!, reads.rows[longer]!];
    anomalies.add('divergent-reads', 2, () => ({
      kind: 'divergent-reads',
      key,
      message:
        `reads #${log.id(shorterRow)} and #${log.id(longerRow)} disagree at position ${at}: ` +
        `${elementAt(reads, elements, shorter, at)} vs ${elementAt(reads, elements, longer, at)}; neither is a prefix of the other`,
      ops: [log.operation(shorterRow), log.operation(longerRow)],
    }));
  }

  const positions = Int32Array.from({ length: reads.count }, (_, r) => r);
  const completed = new Timeline(positions, (r) => log.completeTime(reads.rows[r]!));
  const longestSoFar = completed.prefixMax((r) => reads.length[r]!);
  for (let r = 0; r < reads.count; r++) {
    const earlier = longestSoFar[completed.countBefore(log.invokeTime(reads.rows[r]!))]!;
    if (earlier < 0 || firstDifference(reads, earlier, r) === undefined) continue;
    if (reads.length[earlier]! <= reads.length[r]!) continue; // diverged: reported above
    const [earlierRow, row] = [reads.rows[earlier]!, reads.rows[r]!];
    anomalies.add('read-went-back', 2, () => ({
      kind: 'read-went-back',
      key,
      message:
        `read #${log.id(row)} shows ${reads.length[r]} elements, but #${log.id(earlierRow)}, ` +
        `completed before it began, showed ${reads.length[earlier]}`,
      ops: [log.operation(earlierRow), log.operation(row)],
    }));
  }
}

/**
 * Every acknowledged element is in every read that began after the acknowledgement. One anomaly
 * per append: `lost-append` if the final read lacks it, else `stale-read` at the first read that
 * did.
 *
 * Reads in invoke order: the reads that must show an append are those from the first one that
 * began after it was acknowledged to the last. Each element's reads (the ones that show it) are a
 * sorted list, so the first read from there that lacks it is found by binary search: the first
 * place where that list stops counting up one read at a time.
 */
function checkAcknowledged(
  log: OperationLog,
  key: string,
  appends: Int32Array,
  elementOf: (row: number) => number,
  reads: ListReads,
  byInvoke: Int32Array,
  elements: Elements,
  anomalies: AnomalySink,
): { finalLength: number | null; lostCount: number } {
  const readCount = reads.count;
  const finalRead = readCount > 0 ? byInvoke[readCount - 1]! : -1;
  // For each element, the reads (by invoke order) that show it: `showing[from[e] .. from[e + 1])`.
  const from = new Int32Array(elements.size + 1);
  const mark = new Int32Array(elements.size).fill(-1);
  const eachDistinct = (visit: (element: number, order: number) => void): void => {
    mark.fill(-1);
    for (let order = 0; order < readCount; order++) {
      const r = byInvoke[order]!;
      for (let i = reads.start[r]!, end = i + reads.length[r]!; i < end; i++) {
        const element = reads.elements[i]!;
        if (mark[element] === order) continue;
        mark[element] = order;
        visit(element, order);
      }
    }
  };
  eachDistinct((element) => from[element + 1]!++);
  for (let e = 0; e < elements.size; e++) from[e + 1]! += from[e]!;
  const showing = new Int32Array(from[elements.size]!);
  const fill = from.slice(0, elements.size);
  eachDistinct((element, order) => (showing[fill[element]!++] = order));
  const invokeTimes = Float64Array.from(byInvoke, (r) => log.invokeTime(reads.rows[r]!));

  /** The first read (in invoke order) at or after `order` that does not show `element`, or -1. */
  const firstLacking = (element: number, order: number): number => {
    const [lo0, hi0] = [from[element]!, from[element + 1]!];
    // The element's first read at or after `order`.
    let lo = lo0;
    let hi = hi0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (showing[mid]! < order) lo = mid + 1;
      else hi = mid;
    }
    // showing[k] - (order + k - start) is 0 while the reads from `order` all show it, then positive.
    const start = lo;
    hi = hi0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (showing[mid]! === order + (mid - start)) lo = mid + 1;
      else hi = mid;
    }
    const lacking = order + (lo - start);
    return lacking < readCount ? lacking : -1;
  };
  const shows = (order: number, element: number): boolean => {
    const lacking = firstLacking(element, order);
    return lacking !== order;
  };

  const acknowledged = new Timeline(
    appends.filter((row) => log.outcomeCode(row) === OutcomeCode.ok),
    (row) => log.completeTime(row),
  );
  // (read, append) pairs, in the order the reads are checked and, per read, by acknowledgement.
  const foundRead: number[] = [];
  const foundAppend: number[] = [];
  for (let k = 0; k < acknowledged.length; k++) {
    // The first read that began after this append was acknowledged.
    let lo = 0;
    let hi = readCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (invokeTimes[mid]! <= acknowledged.times[k]!) lo = mid + 1;
      else hi = mid;
    }
    if (lo === readCount) continue;
    const lacking = firstLacking(elementOf(acknowledged.items[k]!), lo);
    if (lacking < 0) continue;
    foundRead.push(lacking);
    foundAppend.push(k);
  }
  const found = Int32Array.from(foundRead, (_, i) => i).sort((a, b) => foundRead[a]! - foundRead[b]! || foundAppend[a]! - foundAppend[b]!);

  let lostCount = 0;
  const finalRow = finalRead < 0 ? -1 : reads.rows[finalRead]!;
  for (const i of found) {
    const order = foundRead[i]!;
    const read = byInvoke[order]!;
    const readRow = reads.rows[read]!;
    const append = acknowledged.items[foundAppend[i]!]!;
    const element = elements.texts[elementOf(append)]!;
    const lost = !shows(readCount - 1, elementOf(append));
    if (lost) lostCount++;
    const withFinal = lost && read !== finalRead;
    anomalies.add(lost ? 'lost-append' : 'stale-read', withFinal ? 3 : 2, () => ({
      kind: lost ? 'lost-append' : 'stale-read',
      key,
      message: lost
        ? `${element} was acknowledged (#${log.id(append)}) but is missing from read #${log.id(readRow)} and from the final read #${log.id(finalRow)}`
        : `${element} was acknowledged (#${log.id(append)}) before read #${log.id(readRow)} began, which does not show it`,
      ops: (withFinal ? [append, readRow, finalRow] : [append, readRow]).map((row) => log.operation(row)),
    }));
  }
  return { finalLength: finalRead < 0 ? null : reads.length[finalRead]!, lostCount };
}

/** If append `a` completed before append `b` was invoked, `a` comes first in the list. */
function checkAppendOrder(
  log: OperationLog,
  key: string,
  appends: Int32Array,
  elementOf: (row: number) => number,
  reads: ListReads,
  elements: Elements,
  anomalies: AnomalySink,
): void {
  let longest = -1;
  for (let r = 0; r < reads.count; r++) if (longest < 0 || reads.length[r]! > reads.length[longest]!) longest = r;
  if (longest < 0) return;
  const position = new Int32Array(elements.size).fill(-1);
  for (let index = reads.length[longest]! - 1; index >= 0; index--) position[reads.elements[reads.start[longest]! + index]!] = index;
  const positionOf = (row: number): number => position[elementOf(row)]!;
  const present = appends.filter((row) => log.outcomeCode(row) !== OutcomeCode.fail && positionOf(row) >= 0);

  const completed = new Timeline(
    present.filter((row) => log.outcomeCode(row) === OutcomeCode.ok),
    (row) => log.completeTime(row),
  );
  const furthest = completed.prefixMax(positionOf);
  const longestRow = reads.rows[longest]!;
  for (const b of present) {
    const a = furthest[completed.countBefore(log.invokeTime(b))]!;
    if (a < 0 || positionOf(a) < positionOf(b)) continue;
    anomalies.add('append-order', 3, () => ({
      kind: 'append-order',
      key,
      message:
        `#${log.id(a)} (${elements.texts[elementOf(a)]}) completed before #${log.id(b)} (${elements.texts[elementOf(b)]}) began, ` +
        `yet read #${log.id(longestRow)} shows it later (position ${positionOf(a)} vs ${positionOf(b)})`,
      ops: [a, b, longestRow].map((row) => log.operation(row)),
    }));
  }
}

function asList(result: Json, separator: string): readonly Json[] | undefined {
  if (result === null) return [];
  if (Array.isArray(result)) return result as readonly Json[];
  if (typeof result === 'string') return result === '' ? [] : result.split(separator);
  return undefined;
}

/** The first index where read `a` and read `b` differ within the shorter; undefined when one is a prefix of the other. */
function prefixDifference(reads: ListReads, a: number, b: number): number | undefined {
  const length = Math.min(reads.length[a]!, reads.length[b]!);
  for (let i = 0; i < length; i++) if (reads.elements[reads.start[a]! + i] !== reads.elements[reads.start[b]! + i]) return i;
  return undefined;
}

/**
 * The first index where read `shorter` is not a prefix of read `longer`; undefined when it is one.
 * When `shorter` is in fact the longer one, it is never a prefix: its extra length counts.
 */
function firstDifference(reads: ListReads, shorter: number, longer: number): number | undefined {
  const at = prefixDifference(reads, shorter, longer);
  if (at !== undefined) return at;
  return reads.length[shorter]! > reads.length[longer]! ? reads.length[longer]! : undefined;
}

function elementAt(reads: ListReads, elements: Elements, read: number, index: number): string | undefined {
  return index < reads.length[read]! ? elements.texts[reads.elements[reads.start[read]! + index]!] : undefined;
}

