import type { Reply } from '../resp/reply.js';

/**
 * Replies of recent retriable writes, by request id, in the replicated state: a follower that
 * retries a forwarded write after a timeout (same request id) gets the first reply instead of a
 * second application (the RedisRaft follower-proxy bug Jepsen found).
 *
 * Pruning is deterministic: by the entries' own timestamps, never a local clock, so every
 * replica keeps the same set. A retry is only ever made within a client's deadline (seconds), so
 * a window of `retentionMs` of entry time is plenty.
 */
interface Remembered {
  readonly id: string;
  readonly timeMs: number;
  readonly reply: Reply;
}

export class DedupTable {
  private readonly replies = new Map<string, Reply>();
  /**
   * Insertion order with entry times (near-monotonic: one leader at a time) and replies. Entries
   * are never changed in place, and the array is only ever appended to or replaced (never
   * spliced), so a range of it captured by `image()` stays what it was.
   */
  private order: Remembered[] = [];
  private head = 0;

  constructor(private readonly retentionMs = 60_000) {}

  get size(): number {
    return this.replies.size;
  }

  get(requestId: string): Reply | undefined {
    return this.replies.get(requestId);
  }

  remember(requestId: string, reply: Reply, entryTimeMs: number): void {
    this.prune(entryTimeMs);
    this.replies.set(requestId, reply);
    this.order.push({ id: requestId, timeMs: entryTimeMs, reply });
  }

  private prune(nowMs: number): void {
    const cutoff = nowMs - this.retentionMs;
    while (this.head < this.order.length && this.order[this.head].timeMs < cutoff) {
      this.replies.delete(this.order[this.head].id);
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      // A new array, not a splice: an image may still be reading the old one.
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Discards all state, then loads `records` as `records()` produced them (a snapshot's), in that
   * order and without pruning, so that the table is exactly the one the snapshot was taken of.
   */
  restore(records: Iterable<Remembered>): void {
    this.replies.clear();
    this.order = [];
    this.head = 0;
    // The records are kept as they are (they are never changed): no copy per record.
    for (const record of records) {
      this.replies.set(record.id, record.reply);
      this.order.push(record);
    }
  }

  /** The live records in insertion order, as they are now (live: see image()). */
  *records(): IterableIterator<{ id: string; timeMs: number; reply: Reply }> {
    yield* this.image();
  }

  /**
   * The table as it is now, read lazily, for a snapshot written while applies go on: O(1) to
   * take. Later remembers append beyond the captured range and later pruning only moves `head`
   * or replaces the array, so the captured range keeps its records.
   */
  image(): Iterable<{ id: string; timeMs: number; reply: Reply }> {
    const order = this.order;
    const from = this.head;
    const to = order.length;
    return {
      *[Symbol.iterator]() {
        for (let i = from; i < to; i++) yield order[i]!;
      },
    };
  }
}
