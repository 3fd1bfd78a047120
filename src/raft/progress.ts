import { Inflights } from './inflights.js';
import { committedIndex, voteResult, majority, type VoteResult } from './quorum.js';
import type { ConfState } from './types.js';

/**
 * How the leader replicates to one follower:
 *
 *                 MsgAppResp ok                 acked ≥ snapshot
 *   ┌────────┐ ───────────────▶ ┌───────────┐  ┌──────────┐
 *   │ Probe  │                  │ Replicate │  │ Snapshot │
 *   └────────┘ ◀─────────────── └───────────┘  └──────────┘
 *     ▲   │       reject / unreachable              │  ▲
 *     │   └─────────── needs compacted entries ─────┼──┘
 *     └───────────────── snapshot done/failed ──────┘
 *
 * Probe: one MsgApp at a time until the follower's log is found to match (fast backtracking with
 * the follower's conflict hints). Replicate: pipelined MsgApps, `next` advanced optimistically,
 * bounded by the in-flight window. Snapshot: nothing is sent until the snapshot is acknowledged.
 */
export const ProgressState = { Probe: 'probe', Replicate: 'replicate', Snapshot: 'snapshot' } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

export class Progress {
  matchIndex = 0;
  nextIndex: number;
  state: ProgressState = ProgressState.Probe;
  /** Snapshot index being sent, in the Snapshot state. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Probe state: a MsgApp is out and unanswered, so wait before sending another. */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(nextIndex: number, maxInflightCount: number, maxInflightBytes: number, isLearner: boolean) {
    this.nextIndex = nextIndex;
    this.inflights = new Inflights(maxInflightCount, maxInflightBytes);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise right after what is known to match.
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.nextIndex = Math.max(this.matchIndex + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.nextIndex = this.matchIndex + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an acknowledgement of `index`. False when it was stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.matchIndex < index) {
      this.matchIndex = index;
      updated = true;
      this.probeSent = false;
    }
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    return updated;
  }

  /** Called after sending a MsgApp carrying `entryCount` entries, the last at `lastIndex`. */
  sentEntries(entryCount: number, lastIndex: number, bytes: number): void {
    switch (this.state) {
      case ProgressState.Replicate:
        if (entryCount > 0) {
          this.nextIndex = lastIndex + 1;
          this.inflights.add(lastIndex, bytes);
        }
        break;
      case ProgressState.Probe:
        if (entryCount > 0) this.probeSent = true;
        break;
      default:
        break;
    }
  }

  /**
   * Handles a rejection of the MsgApp whose previous index was `rejected`; `matchHint` is the
   * follower's guess of the highest index that may match. False when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      // Anything at or below match was acknowledged already: a stale rejection.
      if (rejected <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    // Probe: only the rejection of the message we are waiting for counts.
    if (this.nextIndex - 1 !== rejected) return false;
    this.nextIndex = Math.max(Math.min(rejected, matchHint + 1), this.matchIndex + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending to this follower should wait. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}

/**
 * The leader's view of every member: voters, learners, and their progress. Also holds the votes
 * of a running election.
 */
export class ProgressTracker {
  voters: string[] = [];
  learners: string[] = [];
  readonly progress = new Map<string, Progress>();
  readonly votes = new Map<string, boolean>();

  constructor(
    private readonly maxInflightCount: number,
    private readonly maxInflightBytes: number,
  ) {}

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: string): boolean {
    return this.voters.includes(id);
  }

  isMember(id: string): boolean {
    return this.progress.has(id);
  }

  /** Replaces the configuration; existing members keep their progress. */
  applyConfState(cs: ConfState, nextIndex: number): void {
    this.voters = [...cs.voters].sort();
    this.learners = [...cs.learners].sort();
    const members = new Set([...this.voters, ...this.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const isLearner = this.learners.includes(id);
      const existing = this.progress.get(id);
      if (existing) {
        existing.isLearner = isLearner;
      } else {
        const pr = new Progress(nextIndex, this.maxInflightCount, this.maxInflightBytes, isLearner);
        // A new member counts as active, so that CheckQuorum does not depose the leader before
        // the member had a chance to answer.
        pr.recentActive = true;
        this.progress.set(id, pr);
      }
    }
  }

  resetProgress(nextIndex: number): void {
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(nextIndex, this.maxInflightCount, this.maxInflightBytes, pr.isLearner);
      this.progress.set(id, fresh);
    }
  }

  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.matchIndex ?? 0);
  }

  /** CheckQuorum: has a majority of voters (the caller counts itself) been heard from? */
  quorumActive(self: string): boolean {
    let active = 0;
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      if (id === self || (pr !== undefined && pr.recentActive)) active++;
    }
    return active >= majority(this.voters.length);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: string, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return voteResult(this.voters, this.votes);
  }
}
