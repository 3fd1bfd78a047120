import type { ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import { ProposalDroppedError } from '../raft/errors.js';
import { error, type Reply } from '../resp/reply.js';
import { commandKeys, wrongGroupReply } from '../state/command_keys.js';
import type { Keyspace } from '../state/keyspace.js';
import { NoLeaderError, NotReadyError, OutcomeUnknownError, QuorumError } from '../util/errors.js';
import type { ForwardResult, ForwardedWrite, Forwarder } from '../transport/forward.js';
import { internalError } from './command_classifier.js';
import type { RaftGroup } from './raft_group.js';
import { TurnBatch } from './turn_batch.js';
import type { BatchedWrite } from '../state/write_entry.js';

export interface GatewayOptions {
  readonly group: RaftGroup;
  readonly keyspace: Keyspace;
  readonly forwarder: Forwarder;
  readonly clock: () => number;
  readonly random: () => number;
  /** How long to keep looking for a leader (retrying) before giving up: -CLUSTERDOWN. */
  readonly leaderWaitMs: number;
  /**
   * How long one attempt waits for its writes to commit at a live leader (default 30 s). Larger
   * than leaderWaitMs: a 512 MB value takes seconds to fsync on three nodes, and a leader that
   * loses its quorum steps down (CheckQuorum) long before, which ends the attempt sooner.
   */
  readonly commitWaitMs?: number;
  /** Unique per process incarnation: prefix of the request ids this node creates. */
  readonly requestIdPrefix: string;
}

/** Replies of quorumkv's own (contract: a Redis-style code word first). */
export const clusterDownReply = (waitMs: number): Reply =>
  error(`CLUSTERDOWN The cluster is down: no leader elected within ${waitMs} ms`);
export const outcomeUnknownReply = (why: string): Reply =>
  error(`UNKNOWN write outcome unknown (${why}); it may or may not have been applied`);

const retryPauseMs = 20;

/** A write with no answer when its deadline passed: -UNKNOWN if it may have reached a leader, else -CLUSTERDOWN. */
export function unansweredWriteReply(uncertain: boolean, leaderWaitMs: number): Reply {
  return uncertain ? outcomeUnknownReply(`no answer from a leader within ${leaderWaitMs} ms`) : clusterDownReply(leaderWaitMs);
}

/**
 * Runs client commands against one group: the group's half of the command path ('The path of
 * one command' in docs/design.md), independent of the connection that carried them.
 *
 *   connection command ─▶ handler(ctx)                                  (local, immediate)
 *   writes ─▶ leader?   prepare ─▶ propose all in one turn ─▶ applied ─▶ replies
 *             follower? forward all in one call to the leader (same request ids on every retry)
 *   reads  ─▶ one ReadIndex barrier (leader or follower) ─▶ read the local state ─▶ replies
 *
 * A connection hands over RUNS: consecutive commands of one kind. Writes of a run enter the log
 * in the run's order (one MsgProp on the leader; one Forward call, proposed in order, from a
 * follower), and a connection starts its next run only when the previous one is answered, so a
 * pipeline behaves as Redis's sequential execution: `SET k 1; SET k 2; GET k` gives 2.
 *
 * Every write carries a request id and the dedup flag, so when leadership changes under it,
 * retrying through the new leader is safe: the replicated dedup table answers a retry of a write
 * that did commit with its first reply. Only when the deadline passes with the outcome still
 * open does the client get an error, and then one that says the outcome is unknown.
 */
export class Gateway {
  private nextRequest = 1;
  /** Every local proposal of a turn, from all connections and Forward calls: one entry. */
  private readonly turnBatch: TurnBatch;

  constructor(private readonly options: GatewayOptions) {
    this.turnBatch = new TurnBatch(options.group, options.clock);
  }

  newRequestId(): string {
    return this.options.requestIdPrefix + (this.nextRequest++).toString(36);
  }

  // ------------------------------------------------------------------ reads

  /** Serves reads after one barrier; resolves with their replies in order (never rejects). */
  async readRun(items: readonly { spec: ReadCommandSpec; args: readonly Buffer[] }[]): Promise<Reply[]> {
    const refused = await this.readBarrier();
    if (refused) return items.map(() => refused);
    const now = this.options.clock();
    const ks = this.options.keyspace;
    return items.map(({ spec, args }) => {
      // A read routed here for a slot this group does not serve (a stale route) is not
      // served: the router retries it at the owning group.
      if (!ks.ownsAllSlots) {
        const unowned = ks.firstUnownedSlot(commandKeys(args, spec));
        if (unowned >= 0) return wrongGroupReply(unowned);
      }
      try {
        return spec.read(ks, args, now, this.options.random);
      } catch (err) {
        return internalError(err);
      }
    });
  }

  /**
   * One ReadIndex barrier, retried while there is no leader or leadership changes under it, for
   * up to leaderWaitMs: null once this replica has applied everything committed before the call
   * (its keyspace may then be read linearizably), else the reply for the read (never rejects).
   */
  async readBarrier(): Promise<Reply | null> {
    const { group, leaderWaitMs, clock } = this.options;
    const deadline = clock() + leaderWaitMs;
    for (;;) {
      if (group.leaderId() !== '') {
        try {
          await withDeadline(group.readBarrier(), deadline - clock());
          return null;
        } catch (err) {
          if (err instanceof NotReadyError) return error(`ERR ${err.message}`);
          // The leader changed or the barrier timed out: nothing was changed, so try again.
        }
      }
      if (clock() >= deadline) return clusterDownReply(leaderWaitMs);
      await sleep(retryPauseMs);
    }
  }

  // ------------------------------------------------------------------ writes

  /**
   * Validates and rewrites on this node (bad input never reaches the leader or the log), then
   * routes the run. Resolves with the replies in order (never rejects).
   */
  async writeRun(items: readonly { spec: WriteCommandSpec; args: readonly Buffer[] }[]): Promise<Reply[]> {
    const { group, leaderWaitMs, clock } = this.options;
    const replies: Reply[] = new Array(items.length);
    let pending: {
      index: number;
      spec: WriteCommandSpec;
      args: readonly Buffer[];
      requestId: string;
      /** The prepared form, reused by a first attempt made here as leader in this same turn. */
      prepared: readonly Buffer[] | null;
    }[] = [];
    const now = clock();
    items.forEach(({ spec, args }, index) => {
      const prepared = spec.prepare(args, now);
      if (!Array.isArray(prepared)) replies[index] = prepared as Reply;
      else pending.push({ index, spec, args, requestId: this.newRequestId(), prepared: prepared as readonly Buffer[] });
    });
    const deadline = now + leaderWaitMs;
    let uncertain = false;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const leader = group.leaderId();
      let results: readonly ForwardResult[] | null = null;
      const attemptDeadline = clock() + (this.options.commitWaitMs ?? 30_000);
      try {
        if (leader === group.nodeId) {
          // Proposed in order, in this turn: one entry for the whole run, the run's order in it.
          // The first attempt runs in the turn that prepared the run (no await in between), so
          // `now` is still the leader's time: no need to prepare again.
          const firstTurn = attempt === 0;
          results = await this.proposeLocally(
            pending.map((p) => ({ spec: p.spec, args: p.args, requestId: p.requestId, prepared: firstTurn ? p.prepared : null })),
            attemptDeadline,
            firstTurn ? now : null,
          );
        } else if (leader !== '') {
          results = await this.options.forwarder.forward(
            leader,
            pending.map((p) => ({ requestId: p.requestId, args: p.args })),
            attemptDeadline,
          );
        }
      } catch {
        // Transport failure: the leader may or may not have received them.
        uncertain = true;
      }
      if (results) {
        const retry: typeof pending = [];
        results.forEach((r, k) => {
          if (r.status === 'ok') replies[pending[k].index] = r.reply!;
          else {
            if (r.status === 'unknown') uncertain = true;
            retry.push(pending[k]);
          }
        });
        pending = retry;
        if (pending.length === 0) break;
      }
      if (clock() >= deadline) {
        const reply = unansweredWriteReply(uncertain, leaderWaitMs);
        for (const p of pending) replies[p.index] = reply;
        break;
      }
      await sleep(retryPauseMs);
    }
    return replies;
  }

  /**
   * Proposes writes on this node, which believes it is the leader: prepares them with its own
   * clock (the leader stamps time: 'Deterministic apply') unless they were prepared in this same
   * turn (`preparedAt`), and waits for them to apply. The writes join the turn's batch entry
   * (turn_batch.ts; each keeps its own request id for the dedup table) synchronously, before the
   * first await, so callers keep their order in the log.
   */
  async proposeLocally(
    items: readonly { spec: WriteCommandSpec; args: readonly Buffer[]; requestId: string; prepared: readonly Buffer[] | null }[],
    deadlineMs: number,
    preparedAt: number | null,
  ): Promise<ForwardResult[]> {
    const { group, clock } = this.options;
    if (!group.isLeader()) return items.map(() => ({ status: 'not-leader' as const }));
    const now = preparedAt ?? clock();
    const results: ForwardResult[] = new Array(items.length);
    const writes: BatchedWrite[] = [];
    const slots: number[] = [];
    items.forEach((item, k) => {
      const prepared = item.prepared ?? item.spec.prepare(item.args, now);
      if (!Array.isArray(prepared)) results[k] = { status: 'ok', reply: prepared as Reply };
      else {
        writes.push({ requestId: item.requestId, args: prepared as readonly Buffer[] });
        slots.push(k);
      }
    });
    if (writes.length === 0) return results;
    let outcome: ForwardResult | null = null;
    try {
      const replies = await withDeadline(this.turnBatch.add(writes), deadlineMs - clock());
      slots.forEach((k, j) => (results[k] = { status: 'ok', reply: replies[j]! }));
      return results;
    } catch (err) {
      if (err instanceof ProposalDroppedError || err instanceof NoLeaderError) outcome = { status: 'not-leader' };
      else if (err instanceof OutcomeUnknownError || err instanceof DeadlineError) outcome = { status: 'unknown' };
      else if (err instanceof NotReadyError) outcome = { status: 'ok', reply: error(`ERR ${err.message}`) };
      else throw err;
    }
    for (const k of slots) results[k] = outcome;
    return results;
  }

  /** The leader's side of Forward: runs, in order, the writes a follower received (one batch). */
  async handleForwarded(
    writes: readonly ForwardedWrite[],
    resolveWrite: (name: string) => WriteCommandSpec | undefined,
    deadlineMs: number,
  ): Promise<ForwardResult[]> {
    const results: ForwardResult[] = new Array(writes.length);
    const items: { spec: WriteCommandSpec; args: readonly Buffer[]; requestId: string; prepared: null }[] = [];
    const slots: number[] = [];
    writes.forEach((w, k) => {
      const spec = resolveWrite(w.args[0]!.toString('latin1').toLowerCase());
      if (!spec) results[k] = { status: 'ok', reply: error('ERR unknown forwarded command') };
      else {
        items.push({ spec, args: w.args, requestId: w.requestId, prepared: null });
        slots.push(k);
      }
    });
    const proposed = await this.proposeLocally(items, deadlineMs, null);
    slots.forEach((k, j) => (results[k] = proposed[j]!));
    return results;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An attempt's deadline passed with its outcome still open. */
class DeadlineError extends QuorumError {
  constructor() {
    super('DEADLINE_EXCEEDED', 'deadline exceeded', 'unknown');
    this.name = 'DeadlineError';
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return Promise.reject(new DeadlineError());
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
