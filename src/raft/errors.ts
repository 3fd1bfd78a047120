/**
 * Errors the core reports. Each has a stable `code`; `outcome` tells a host what a client may
 * assume: `fail` means the proposal certainly did not enter the log.
 */
export class RaftError extends Error {
  readonly code: string;
  readonly outcome: 'fail' | 'unknown';

  constructor(code: string, message: string, outcome: 'fail' | 'unknown', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RaftError';
    this.code = code;
    this.outcome = outcome;
  }
}

/** The proposal was not appended: no leader, a transfer in progress, or a refused change. */
export class ProposalDroppedError extends RaftError {
  constructor(reason: string) {
    super('PROPOSAL_DROPPED', `proposal dropped: ${reason}`, 'fail');
    this.name = 'ProposalDroppedError';
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
