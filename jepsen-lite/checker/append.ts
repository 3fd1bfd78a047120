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
 */
import { EventType, Fn, byKey, countOutcomes, type Json, type Operation, type OutcomeCounts } from '../history.js';
import { show, sliceOfSmallest, unsupportedFunction, validityOf, valueKey, type Anomaly, type WorkloadCheck } from './result.js';
import { Timeline } from './timeline.js';
import { WriterIndex } from './writers.js';

export interface AppendOptions {
  /** Splits string read results (the APPEND variant). Default a space. */
  readonly separator?: string;
}

export interface AppendStats {
  readonly keys: number;
  readonly operations: OutcomeCounts;
  readonly reads: number;
  /** Per key: acknowledged appends, elements in the final read, acknowledged ones missing from it. */
  readonly lists: Readonly<Record<string, { acknowledged: number; finalLength: number | null; lost: number }>>;
}

interface ListRead {
  readonly op: Operation;
  /** Elements as canonical text (`valueKey`), in list order. */
  readonly elements: readonly string[];
  readonly values: readonly Json[];
}

export function checkAppend(ops: readonly Operation[], options: AppendOptions = {}): WorkloadCheck<AppendStats> {
  const separator = options.separator ?? ' ';
  const anomalies: Anomaly[] = [];
  const unknownReasons: string[] = [];
  const lists: Record<string, { acknowledged: number; finalLength: number | null; lost: number }> = {};
  let readCount = 0;

  const groups = byKey(ops);
  for (const [key, keyOps] of groups) {
    const unsupported = unsupportedFunction('append', key, keyOps, [Fn.read, Fn.append]);
    if (unsupported) {
      unknownReasons.push(unsupported);
      continue;
    }
    const appends = keyOps.filter((op) => op.f === Fn.append);
    const reads: ListRead[] = [];
    for (const op of keyOps) {
      if (op.f !== Fn.read || op.outcome !== EventType.ok) continue;
      const values = asList(op.result, separator);
      if (values === undefined) {
        anomalies.push({ kind: 'unexpected-result', key, message: `#${op.id} read ${show(op.result)}, not a list`, ops: [op] });
        continue;
      }
      reads.push({ op, values, elements: values.map(valueKey) });
    }
    readCount += reads.length;

    const writers = new WriterIndex(appends, (op) => op.args);
    anomalies.push(...checkElements(key, reads, writers));
    anomalies.push(...checkPrefixOrder(key, reads));
    const lost = checkAcknowledged(key, appends, reads);
    anomalies.push(...lost.anomalies);
    anomalies.push(...checkAppendOrder(key, appends, reads));
    lists[key] = {
      acknowledged: appends.filter((op) => op.outcome === EventType.ok).length,
      finalLength: lost.finalRead?.elements.length ?? null,
      lost: lost.lostCount,
    };
  }

  const slice = sliceOfSmallest(anomalies);
  return {
    valid: validityOf(anomalies, unknownReasons),
    stats: { keys: groups.size, operations: countOutcomes(ops), reads: readCount, lists },
    anomalies,
    unknownReasons,
    ...(slice ? { smallestFailingSlice: slice } : {}),
  };
}

/** Duplicates, phantoms and elements from the future; each element reported once per kind. */
function checkElements(key: string, reads: readonly ListRead[], writers: WriterIndex): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const reported = new Set<string>();
  const once = (kind: string, element: string, make: () => Anomaly | undefined): void => {
    if (reported.has(`${kind} ${element}`)) return;
    const anomaly = make();
    if (anomaly) {
      reported.add(`${kind} ${element}`);
      anomalies.push(anomaly);
    }
  };
  for (const read of byInvokeTime(reads)) {
    const seen = new Map<string, number>();
    read.elements.forEach((element, index) => {
      const first = seen.get(element);
      if (first === undefined) {
        seen.set(element, index);
        once('source', element, () =>
          writers.sourceAnomaly(read.op, read.values[index]!, 'element', { phantom: 'phantom-element', future: 'read-from-future' }),
        );
        return;
      }
      once('duplicate', element, () => ({
        kind: 'duplicate-element',
        key,
        message: `read #${read.op.id} shows ${element} at positions ${first} and ${index}`,
        ops: [...writers.writersOf(read.values[index]!), read.op],
      }));
    });
  }
  return anomalies;
}

/** Reads are totally ordered by prefix, and that order agrees with real time. */
function checkPrefixOrder(key: string, reads: readonly ListRead[]): Anomaly[] {
  const anomalies: Anomaly[] = [];
  // Prefix is transitive, so a total order means each read (by length) is a prefix of the next.
  const byLength = [...reads].sort((a, b) => a.elements.length - b.elements.length || a.op.invokeTime - b.op.invokeTime);
  for (let i = 1; i < byLength.length; i++) {
    const shorter = byLength[i - 1]!;
    const longer = byLength[i]!;
    const at = firstDifference(shorter.elements, longer.elements);
    if (at === undefined) continue;
    anomalies.push({
      kind: 'divergent-reads',
      key,
      message:
        `reads #${shorter.op.id} and #${longer.op.id} disagree at position ${at}: ` +
        `${shorter.elements[at]} vs ${longer.elements[at]}; neither is a prefix of the other`,
      ops: [shorter.op, longer.op],
    });
  }

  const completed = new Timeline(reads, (read) => read.op.completeTime);
  const longestSoFar = completed.prefixMax((read) => read.elements.length);
  for (const read of reads) {
    const earlier = longestSoFar[completed.countBefore(read.op.invokeTime)];
    if (earlier === undefined || firstDifference(earlier.elements, read.elements) === undefined) continue;
    if (earlier.elements.length <= read.elements.length) continue; // diverged: reported above
    anomalies.push({
      kind: 'read-went-back',
      key,
      message:
        `read #${read.op.id} shows ${read.elements.length} elements, but #${earlier.op.id}, ` +
        `completed before it began, showed ${earlier.elements.length}`,
      ops: [earlier.op, read.op],
    });
  }
  return anomalies;
}

/**
 * Every acknowledged element is in every read that began after the acknowledgement. One anomaly
 * per element: `lost-append` if the final read lacks it, else `stale-read` at the first read that
 * did.
 */
function checkAcknowledged(
  key: string,
  appends: readonly Operation[],
  reads: readonly ListRead[],
): { anomalies: Anomaly[]; finalRead: ListRead | undefined; lostCount: number } {
  const acknowledged = new Timeline(
    appends.filter((op) => op.outcome === EventType.ok),
    (op) => op.completeTime,
  );
  const ordered = byInvokeTime(reads);
  const finalRead = ordered[ordered.length - 1];
  const finalElements = new Set(finalRead?.elements);
  const reported = new Set<Operation>();
  const anomalies: Anomaly[] = [];
  let lostCount = 0;
  for (const read of ordered) {
    const present = new Set(read.elements);
    const required = acknowledged.items.slice(0, acknowledged.countBefore(read.op.invokeTime));
    for (const append of required) {
      const element = valueKey(append.args);
      if (present.has(element) || reported.has(append)) continue;
      reported.add(append);
      const lost = !finalElements.has(element);
      if (lost) lostCount++;
      anomalies.push({
        kind: lost ? 'lost-append' : 'stale-read',
        key,
        message: lost
          ? `${element} was acknowledged (#${append.id}) but is missing from read #${read.op.id} and from the final read #${finalRead!.op.id}`
          : `${element} was acknowledged (#${append.id}) before read #${read.op.id} began, which does not show it`,
        ops: lost && read !== finalRead ? [append, read.op, finalRead!.op] : [append, read.op],
      });
    }
  }
  return { anomalies, finalRead, lostCount };
}

/** If append `a` completed before append `b` was invoked, `a` comes first in the list. */
function checkAppendOrder(key: string, appends: readonly Operation[], reads: readonly ListRead[]): Anomaly[] {
  let longest: ListRead | undefined;
  for (const read of reads) if (longest === undefined || read.elements.length > longest.elements.length) longest = read;
  if (longest === undefined) return [];
  const position = new Map<string, number>();
  longest.elements.forEach((element, index) => {
    if (!position.has(element)) position.set(element, index);
  });
  const positionOf = (op: Operation): number => position.get(valueKey(op.args)) ?? -1;
  const present = appends.filter((op) => op.outcome !== EventType.fail && positionOf(op) >= 0);

  const completed = new Timeline(
    present.filter((op) => op.outcome === EventType.ok),
    (op) => op.completeTime,
  );
  const furthest = completed.prefixMax(positionOf);
  const anomalies: Anomaly[] = [];
  for (const b of present) {
    const a = furthest[completed.countBefore(b.invokeTime)];
    if (a === undefined || positionOf(a) < positionOf(b)) continue;
    anomalies.push({
      kind: 'append-order',
      key,
      message:
        `#${a.id} (${valueKey(a.args)}) completed before #${b.id} (${valueKey(b.args)}) began, ` +
        `yet read #${longest.op.id} shows it later (position ${positionOf(a)} vs ${positionOf(b)})`,
      ops: [a, b, longest.op],
    });
  }
  return anomalies;
}

function asList(result: Json, separator: string): readonly Json[] | undefined {
  if (result === null) return [];
  if (Array.isArray(result)) return result as readonly Json[];
  if (typeof result === 'string') return result === '' ? [] : result.split(separator);
  return undefined;
}

/** The first index where `shorter` is not a prefix of `longer`; undefined when it is one. */
function firstDifference(shorter: readonly string[], longer: readonly string[]): number | undefined {
  if (shorter.length > longer.length) return firstDifference(longer, shorter) ?? longer.length;
  for (let i = 0; i < shorter.length; i++) if (shorter[i] !== longer[i]) return i;
  return undefined;
}

function byInvokeTime(reads: readonly ListRead[]): ListRead[] {
  return [...reads].sort((a, b) => a.op.invokeTime - b.op.invokeTime || a.op.id - b.op.id);
}
