import { QuorumError, type Outcome } from '../util/errors.js';

/**
 * Errors the core reports, in the project's one hierarchy (QuorumError: a stable `code`, and an
 * `outcome` that tells a host what a client may assume: `fail` means the proposal certainly did
 * not enter the log).
 */
export class RaftError extends QuorumError {
  constructor(code: string, message: string, outcome: Outcome, options?: { cause?: unknown }) {
    super(code, message, outcome, options);
    this.name = 'RaftError';
  }
}

/** Why a proposal was not appended; hosts decide on this, never on the message's words. */
export const DropReason = {
  /** No leader is known (an election is under way). */
  NoLeader: 'no-leader',
  /** This member does not lead (and the host asked it to act as the leader). */
  NotLeader: 'not-leader',
  /** Leadership is being transferred; proposals wait for the new leader. */
  Transferring: 'transferring',
  /** This member was removed from the group. */
  Removed: 'removed',
  /** A membership change is in the log and not applied yet: one change at a time. */
  ChangeInProgress: 'change-in-progress',
  /** The membership change itself makes no sense (already a member, the last voter, ...). */
  InvalidChange: 'invalid-change',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** The proposal was not appended: no leader, a transfer in progress, or a refused change. */
export class ProposalDroppedError extends RaftError {
  readonly reason: DropReason;

  constructor(reason: DropReason, detail: string) {
    super('PROPOSAL_DROPPED', `proposal dropped: ${detail}`, 'fail');
    this.name = 'ProposalDroppedError';
    this.reason = reason;
  }
}

/** Storage: the requested index is before the first retained entry (it is in a snapshot). */
export class CompactedError extends RaftError {
  constructor(index: number, firstIndex: number) {
    super('LOG_COMPACTED', `index ${index} is compacted (first retained index ${firstIndex})`, 'fail');
    this.name = 'CompactedError';
  }
}

/** Storage: the requested index is past the last entry. */
export class UnavailableError extends RaftError {
  constructor(index: number, lastIndex: number) {
    super('LOG_UNAVAILABLE', `index ${index} is past the last index ${lastIndex}`, 'fail');
    this.name = 'UnavailableError';
  }
}

/** Storage: a snapshot is being prepared; the leader retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('SNAPSHOT_TEMPORARILY_UNAVAILABLE', 'snapshot is temporarily unavailable', 'fail');
    this.name = 'SnapshotTemporarilyUnavailableError';
  }
}

/** A caller broke the core's contract (a bug in the host, never a client's fault). */
export class RaftInvariantError extends RaftError {
  constructor(message: string) {
    super('RAFT_INVARIANT', message, 'fail');
    this.name = 'RaftInvariantError';
  }
}
