import type { Reply } from '../resp/reply.js';
import { Deferred } from '../util/deferred.js';
import type { RaftGroup } from './raft_group.js';
import { WriteFlags, writeBatchWriter, writeEntryWriter, type BatchedWrite } from '../state/write_entry.js';

/**
 * The leader's writes of one event-loop turn, from every connection and every follower's
 * Forward call, gathered into ONE log entry (write_entry.ts's batch) instead of one per
 * connection run. With many clients each waiting on one write, a turn brings many writes: as one
 * entry, the per-entry costs (Raft entry, log record and checksum, envelope, protobuf entry per
 * follower, decode, waiter) are paid once per turn instead of once per client, on all three nodes.
 *
 *   add(run A) ─┐
 *   add(run B) ─┼─▶ batch [A..., B..., C...] ──(RaftGroup.beforeNextFlush)──▶ one propose
 *   add(run C) ─┘        each add resolves with its own slice of the replies
 *
 * Order: writes enter the batch in the order of the adds, and the batch is proposed when the
 * group hands the turn's proposals to the core (after any proposed directly in that turn, such
 * as the leader's expiry deletes); a connection adds its next run only once the previous one is
 * answered, so its order is the log's. Interleaving runs of different clients in one entry is
 * one of the orders Redis allows them anyway.
 *
 * Time: the entry is stamped when it is proposed, at or after every write's prepare time (a
 * relative TTL made absolute in prepare can only be seen as slightly older, never as longer).
 */
export class TurnBatch {
  private open: { writes: BatchedWrite[]; members: { from: number; count: number; done: Deferred<Reply[]> }[] } | null = null;

  constructor(
    private readonly group: RaftGroup,
    private readonly clock: () => number,
  ) {}

  /** Adds prepared writes; resolves with their replies in order, or rejects as the proposal does. */
  add(writes: readonly BatchedWrite[]): Promise<Reply[]> {
    if (this.open === null) {
      this.open = { writes: [], members: [] };
      this.group.beforeNextFlush(() => this.propose());
    }
    const done = new Deferred<Reply[]>();
    this.open.members.push({ from: this.open.writes.length, count: writes.length, done });
    for (const w of writes) this.open.writes.push(w);
    return done.promise;
  }

  private propose(): void {
    const batch = this.open;
    this.open = null;
    if (batch === null) return;
    const timeMs = this.clock();
    const { writes, members } = batch;
    // One write keeps its own request id as the entry's: a retry of it still in flight joins it.
    const proposal =
      writes.length === 1
        ? this.group.propose(writeEntryWriter({ flags: WriteFlags.dedup, timeMs, args: writes[0]!.args }), writes[0]!.requestId).then((r) => [r as Reply])
        : this.group.propose(writeBatchWriter({ flags: WriteFlags.dedup, timeMs, writes })).then((r) => r as Reply[]);
    proposal.then(
      (replies) => {
        for (const m of members) m.done.resolve(replies.slice(m.from, m.from + m.count));
      },
      (err: unknown) => {
        for (const m of members) m.done.reject(err);
      },
    );
  }
}
