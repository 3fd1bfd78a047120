/**
 * Which writes could have produced an observed value. Workloads write unique values, so a value
 * seen by a read names its write; a value no write could have produced proves the history wrong
 * without any search.
 */
import { EventType, type Json, type Operation } from '../history.js';
import { show, valueKey, type Anomaly } from './result.js';

export class WriterIndex {
  /** Writes that may have taken effect (`ok` or `info`), by value. */
  private readonly possible = new Map<string, Operation[]>();
  /** Writes that certainly did not (`fail`), by value: only to explain a phantom. */
  private readonly failed = new Map<string, Operation[]>();

  constructor(writes: readonly Operation[], valueOf: (write: Operation) => Json) {
    for (const write of writes) {
      const map = write.outcome === EventType.fail ? this.failed : this.possible;
      const key = valueKey(valueOf(write));
      const list = map.get(key);
      if (list) list.push(write);
      else map.set(key, [write]);
    }
  }

  /** The `ok` and `info` writes of `value`. */
  writersOf(value: Json): readonly Operation[] {
    return this.possible.get(valueKey(value)) ?? [];
  }

  /** How many values more than one write (`ok` or `info`) wrote: the workload should not. */
  get duplicatedValues(): number {
    let count = 0;
    for (const list of this.possible.values()) if (list.length > 1) count++;
    return count;
  }

  /**
   * An anomaly when `read` (ok) observed `value` and no write could have produced it: none wrote
   * it (`phantom`), or every write of it was invoked after the read completed (`from-future`).
   */
  sourceAnomaly(read: Operation, value: Json, noun: string, kinds: { phantom: string; future: string }): Anomaly | undefined {
    const writers = this.writersOf(value);
    if (writers.length === 0) {
      const failed = this.failed.get(valueKey(value)) ?? [];
      const why = failed.length > 0 ? `only by a write that failed (${failed.map((w) => `#${w.id}`).join(', ')})` : 'by no operation';
      return {
        kind: kinds.phantom,
        key: read.key,
        message: `read #${read.id} saw ${noun} ${show(value)}, written ${why}`,
        ops: [...failed, read],
      };
    }
    if (writers.every((write) => write.invokeTime > read.completeTime)) {
      return {
        kind: kinds.future,
        key: read.key,
        message:
          `read #${read.id} completed at ${read.completeTime} having seen ${noun} ${show(value)}, ` +
          `which was not written before ${Math.min(...writers.map((w) => w.invokeTime))}`,
        ops: [...writers, read],
      };
    }
    return undefined;
  }
}
