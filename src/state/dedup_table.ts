import type { Reply } from '../resp/reply.js';

/**
 * Replies of recent retriable writes, by request id, in the replicated state: a follower that
 * retries a forwarded write after a timeout (same request id) gets the first reply instead of a
 * second application (the RedisRaft follower-proxy bug Jepsen found).
 *
 * Pruning is deterministic: by the entries' own timestamps, never a local clock, so every
 * replica keeps the same set. A retry is only ever made within a client's deadline (seconds), so
 * a window of `retentionMs` of entry time is plenty.
 *
 * Runs, not a record per write. Every write is remembered, so at 20k writes/s the table holds a
 * million ids; a record object per id would cost more than the keyspace's own cost per key. Request ids are `<prefix><sequence in base 36>`
 * (a gateway's prefix ends with '.'), and a gateway's writes are applied mostly in sequence
 * order, so consecutive ids of one prefix form a RUN: prefix, first sequence number, count,
 * first and last entry time, and the replies (one shared object while they are all the same,
 * as SET's OK is). An id of another shape is a run of its own, kept whole.
 *
 *   order:  [ run p.1–500 @t1..t1 ][ run q.7–7 @t2 ][ run p.501–900 @t3..t4 ] ...
 *   byPrefix: p ─▶ [run, run], maxSeq 900        (a lookup above maxSeq is a miss at once)
 *
 * A run takes a write when it is the newest run, the id is its next one, and the write's time is
 * neither earlier than the run's last nor more than retentionMs / 4 after its first. A run is
 * pruned, whole, once its LAST time is older than the window, so a write is kept between
 * retentionMs and 1.25 x retentionMs of entry time: never less than before.
 *
 * Same table on every replica, also through snapshots: records() yields every write with its
 * run's first time for the run's first write and its last time for the others. Restoring those
 * records through the same rule makes the same runs with the same times (a merge decision
 * compares a write's time with its run's first and last, and those come back unchanged), so
 * later pruning stays identical on a replica that loaded a snapshot and one that did not.
 */
interface Run {
  /** The id up to its sequence number; the whole id for a run of an id of another shape. */
  readonly prefix: string;
  /** Sequence number of the run's first id; -1 for a whole id. */
  readonly first: number;
  /** Ids first .. first + count - 1. Only the newest run grows; never shrinks. */
  count: number;
  readonly firstTimeMs: number;
  lastTimeMs: number;
  /** One reply for all, or one per id (an array that is only ever appended to). */
  replies: Reply | Reply[];
}

interface PrefixRuns {
  readonly runs: Run[];
  head: number;
  maxSeq: number;
}

/** Base-36 sequence numbers that round-trip exactly (no leading zeros, below 2^53). */
const sequencePattern = /^(?:0|[1-9a-z][0-9a-z]{0,9})$/;

function splitId(id: string): { prefix: string; seq: number } | null {
  const dot = id.lastIndexOf('.');
  const tail = id.slice(dot + 1);
  if (dot < 0 || !sequencePattern.test(tail)) return null;
  const seq = parseInt(tail, 36);
  return Number.isSafeInteger(seq) ? { prefix: id.slice(0, dot + 1), seq } : null;
}

function replyAt(run: Run, k: number): Reply {
  return Array.isArray(run.replies) ? run.replies[k]! : run.replies;
}

function idAt(run: Run, k: number): string {
  return run.first < 0 ? run.prefix : run.prefix + (run.first + k).toString(36);
}

export class DedupTable {
  /**
   * Runs in the order they were started. Only ever appended to or replaced (never spliced), and
   * a run's first `count` replies never change, so a range captured by `image()` stays what it was.
   */
  private order: Run[] = [];
  private head = 0;
  private readonly byPrefix = new Map<string, PrefixRuns>();
  private readonly whole = new Map<string, Run>();
  private live = 0;
  private readonly maxRunSpanMs: number;
  /** The last id split: apply asks `get` and then `remember` for the same id, once per write. */
  private lastId: string | null = null;
  private lastSplit: { prefix: string; seq: number } | null = null;

  constructor(private readonly retentionMs = 60_000) {
    this.maxRunSpanMs = retentionMs / 4;
  }

  /** Number of remembered writes. */
  get size(): number {
    return this.live;
  }

  get(requestId: string): Reply | undefined {
    const split = this.split(requestId);
    if (split === null) {
      const run = this.whole.get(requestId);
      return run === undefined ? undefined : replyAt(run, 0);
    }
    const runs = this.byPrefix.get(split.prefix);
    if (runs === undefined || split.seq > runs.maxSeq) return undefined;
    // Newest first: a retry is of a recent write, and a re-remembered id's newest reply wins.
    for (let i = runs.runs.length - 1; i >= runs.head; i--) {
      const run = runs.runs[i]!;
      const k = split.seq - run.first;
      if (k >= 0 && k < run.count) return replyAt(run, k);
    }
    return undefined;
  }

  remember(requestId: string, reply: Reply, entryTimeMs: number): void {
    this.prune(entryTimeMs);
    this.append(requestId, reply, entryTimeMs);
  }

  private append(requestId: string, reply: Reply, timeMs: number): void {
    this.live++;
    const split = this.split(requestId);
    if (split === null) {
      const run: Run = { prefix: requestId, first: -1, count: 1, firstTimeMs: timeMs, lastTimeMs: timeMs, replies: reply };
      this.order.push(run);
      this.whole.set(requestId, run);
      return;
    }
    const newest = this.order.length > this.head ? this.order[this.order.length - 1]! : undefined;
    if (
      newest !== undefined &&
      newest.prefix === split.prefix &&
      newest.first >= 0 &&
      split.seq === newest.first + newest.count &&
      timeMs >= newest.lastTimeMs &&
      timeMs - newest.firstTimeMs <= this.maxRunSpanMs
    ) {
      if (Array.isArray(newest.replies)) newest.replies.push(reply);
      else if (newest.replies !== reply) newest.replies = [...Array<Reply>(newest.count).fill(newest.replies), reply];
      newest.count++;
      newest.lastTimeMs = timeMs;
    } else {
      const run: Run = { prefix: split.prefix, first: split.seq, count: 1, firstTimeMs: timeMs, lastTimeMs: timeMs, replies: reply };
      this.order.push(run);
      let runs = this.byPrefix.get(split.prefix);
      if (runs === undefined) this.byPrefix.set(split.prefix, (runs = { runs: [], head: 0, maxSeq: -1 }));
      runs.runs.push(run);
    }
    const runs = this.byPrefix.get(split.prefix)!;
    if (split.seq > runs.maxSeq) runs.maxSeq = split.seq;
  }

  private split(id: string): { prefix: string; seq: number } | null {
    if (id !== this.lastId) {
      this.lastId = id;
      this.lastSplit = splitId(id);
    }
    return this.lastSplit;
  }

  private prune(nowMs: number): void {
    const cutoff = nowMs - this.retentionMs;
    while (this.head < this.order.length && this.order[this.head]!.lastTimeMs < cutoff) {
      const run = this.order[this.head]!;
      this.live -= run.count;
      if (run.first < 0) {
        if (this.whole.get(run.prefix) === run) this.whole.delete(run.prefix);
      } else {
        // Runs of a prefix are in `order`'s order, so the pruned one is the prefix's oldest.
        const runs = this.byPrefix.get(run.prefix)!;
        runs.head++;
        if (runs.head === runs.runs.length) this.byPrefix.delete(run.prefix);
        else if (runs.head > 1024 && runs.head * 2 > runs.runs.length) {
          runs.runs.splice(0, runs.head); // only images read `order`; these arrays are ours alone
          runs.head = 0;
        }
      }
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
  restore(records: Iterable<{ id: string; timeMs: number; reply: Reply }>): void {
    this.order = [];
    this.head = 0;
    this.byPrefix.clear();
    this.whole.clear();
    this.live = 0;
    for (const record of records) this.append(record.id, record.reply, record.timeMs);
  }

  /** The live records in insertion order, as they are now (live: see image()). */
  *records(): IterableIterator<{ id: string; timeMs: number; reply: Reply }> {
    yield* this.image();
  }

  /**
   * The table as it is now, read lazily, for a snapshot written while applies go on: O(1) to
   * take. Later remembers extend only the newest run (whose count is captured here) or append
   * runs beyond the captured range, and pruning only moves `head` or replaces the array.
   */
  image(): Iterable<{ id: string; timeMs: number; reply: Reply }> {
    const order = this.order;
    const from = this.head;
    const to = order.length;
    const newest = to > from ? order[to - 1]! : undefined;
    const newestCount = newest?.count ?? 0;
    const newestLast = newest?.lastTimeMs ?? 0;
    return {
      *[Symbol.iterator]() {
        for (let i = from; i < to; i++) {
          const run = order[i]!;
          const count = i === to - 1 ? newestCount : run.count;
          const last = i === to - 1 ? newestLast : run.lastTimeMs;
          for (let k = 0; k < count; k++) {
            yield { id: idAt(run, k), timeMs: k === 0 ? run.firstTimeMs : last, reply: replyAt(run, k) };
          }
        }
      },
    };
  }
}
