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
export class DedupTable {
  private readonly replies = new Map<string, Reply>();
  /** Insertion order with entry times; entry times are near-monotonic (one leader at a time). */
  private readonly order: { id: string; timeMs: number }[] = [];
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
    this.order.push({ id: requestId, timeMs: entryTimeMs });
  }

  private prune(nowMs: number): void {
    const cutoff = nowMs - this.retentionMs;
    while (this.head < this.order.length && this.order[this.head].timeMs < cutoff) {
      this.replies.delete(this.order[this.head].id);
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * Discards all state, then loads `records` as `records()` produced them (a snapshot's), in that
   * order and without pruning, so that the table is exactly the one the snapshot was taken of.
   */
  restore(records: Iterable<{ id: string; timeMs: number; reply: Reply }>): void {
    this.replies.clear();
    this.order.length = 0;
    this.head = 0;
    for (const { id, timeMs, reply } of records) {
      this.replies.set(id, reply);
      this.order.push({ id, timeMs });
    }
  }

  /** For snapshots (the snapshots issue): the live records in insertion order. */
  *records(): IterableIterator<{ id: string; timeMs: number; reply: Reply }> {
    for (let i = this.head; i < this.order.length; i++) {
      const { id, timeMs } = this.order[i];
      const reply = this.replies.get(id);
      if (reply) yield { id, timeMs, reply };
    }
  }
}
