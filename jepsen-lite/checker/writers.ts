/**
 * Which writes could have produced an observed value. Workloads write unique values, so a value
 * seen by a read names its write; a value no write could have produced proves the history wrong
 * without any search.
 *
 * One key at a time, over the key's values as small integers (its own numbering, 0 ..
 * valueCount - 1): per value, the writes that may have taken effect and those that failed, as
 * chains through one array, so a key of a million writes costs a few typed arrays, not a list
 * per value.
 */
import type { OperationLog } from '../oplog.js';
import { OutcomeCode } from '../oplog.js';
import { MAX_EVIDENCE, idList, type AnomalySink } from './result.js';

export class WriterIndex {
  private readonly possibleHead: Int32Array;
  private readonly failedHead: Int32Array;
  private readonly tail: Int32Array;
  private readonly possible: Int32Array;
  private readonly earliestInvoke: Float64Array;
  /** The next write of the same value and kind, by position in `rows`. */
  private readonly next: Int32Array;

  /**
   * `valueOf(i)`: the value the write at `rows[i]` writes, or -1 for an operation that is not a
   * write.
   */
  constructor(
    private readonly log: OperationLog,
    private readonly rows: Int32Array,
    valueCount: number,
    valueOf: (position: number) => number,
  ) {
    this.possibleHead = new Int32Array(valueCount).fill(-1);
    this.failedHead = new Int32Array(valueCount).fill(-1);
    this.tail = new Int32Array(2 * valueCount).fill(-1);
    this.possible = new Int32Array(valueCount);
    this.earliestInvoke = new Float64Array(valueCount).fill(Infinity);
    this.next = new Int32Array(rows.length).fill(-1);
    for (let i = 0; i < rows.length; i++) {
      const value = valueOf(i);
      if (value < 0) continue;
      const row = rows[i]!;
      const failed = log.outcomeCode(row) === OutcomeCode.fail;
      const heads = failed ? this.failedHead : this.possibleHead;
      const tailAt = 2 * value + (failed ? 1 : 0);
      if (heads[value] === -1) heads[value] = i;
      else this.next[this.tail[tailAt]!] = i;
      this.tail[tailAt] = i;
      if (!failed) {
        this.possible[value]!++;
        this.earliestInvoke[value] = Math.min(this.earliestInvoke[value]!, log.invokeTime(row));
      }
    }
  }

  /** How many `ok` and `info` writes wrote `value`. */
  possibleCount(value: number): number {
    return this.possible[value]!;
  }

  /** The rows of the `ok` and `info` writes of `value`, in order; the first `limit` of them. */
  writersOf(value: number, limit = Infinity): number[] {
    return this.chain(this.possibleHead[value]!, limit);
  }

  /** The rows of the failed writes of `value`, in order; the first `limit` of them. */
  failedWritersOf(value: number, limit = Infinity): number[] {
    return this.chain(this.failedHead[value]!, limit);
  }

  /** How many values more than one write (`ok` or `info`) wrote: the workload should not. */
  get duplicatedValues(): number {
    let count = 0;
    for (const n of this.possible) if (n > 1) count++;
    return count;
  }

  /**
   * When the ok read at `read` observed `value` and no write could have produced it: none wrote
   * it (`phantom`), or every write of it was invoked after the read completed (`future`), reports
   * that to `sink` and returns true. `text` is the value as the report shows it.
   */
  checkSource(read: number, value: number, text: string, noun: string, kinds: { phantom: string; future: string }, key: string, sink: AnomalySink): boolean {
    const log = this.log;
    if (this.possible[value] === 0) {
      let failedCount = 0;
      for (let i = this.failedHead[value]!; i !== -1; i = this.next[i]!) failedCount++;
      sink.add(kinds.phantom, Math.min(failedCount, MAX_EVIDENCE) + 1, () => {
        const failed = this.failedWritersOf(value, MAX_EVIDENCE);
        const why = failed.length > 0 ? `only by a write that failed (${idList(failed.map((w) => log.id(w)), failedCount)})` : 'by no operation';
        return {
          kind: kinds.phantom,
          key,
          message: `read #${log.id(read)} saw ${noun} ${text}, written ${why}`,
          ops: [...failed, read].map((row) => log.operation(row)),
        };
      });
      return true;
    }
    if (this.earliestInvoke[value]! > log.completeTime(read)) {
      sink.add(kinds.future, Math.min(this.possible[value]!, MAX_EVIDENCE) + 1, () => ({
        kind: kinds.future,
        key,
        message:
          `read #${log.id(read)} completed at ${log.completeTime(read)} having seen ${noun} ${text}, ` +
          `which was not written before ${this.earliestInvoke[value]}`,
        ops: [...this.writersOf(value, MAX_EVIDENCE), read].map((row) => log.operation(row)),
      }));
      return true;
    }
    return false;
  }

  private chain(first: number, limit: number): number[] {
    const rows: number[] = [];
    for (let i = first; i !== -1 && rows.length < limit; i = this.next[i]!) rows.push(this.rows[i]!);
    return rows;
  }
}
