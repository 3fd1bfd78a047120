/**
 * The base of quorumkv's own errors: a stable `code` for programs, and an `outcome` that tells a
 * client what it may assume. `fail`: the operation certainly did not take effect. `unknown`: it
 * may or may not have (leadership lost before the commit was known, a timeout); never report
 * such a write as OK, and never as certainly failed either.
 */
export type Outcome = 'fail' | 'unknown';

export class QuorumError extends Error {
  readonly code: string;
  readonly outcome: Outcome;

  constructor(code: string, message: string, outcome: Outcome, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QuorumError';
    this.code = code;
    this.outcome = outcome;
  }
}

/** No leader could be reached within the deadline; nothing was proposed. */
export class NoLeaderError extends QuorumError {
  constructor(message = 'no leader', options?: { cause?: unknown }) {
    super('NO_LEADER', message, 'fail', options);
    this.name = 'NoLeaderError';
  }
}

/** The proposal was in the log, but leadership changed before its commit was known. */
export class OutcomeUnknownError extends QuorumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OUTCOME_UNKNOWN', message, 'unknown', options);
    this.name = 'OutcomeUnknownError';
  }
}

/** The node is shutting down, or has not finished replaying its log. */
export class NotReadyError extends QuorumError {
  constructor(message: string) {
    super('NOT_READY', message, 'fail');
    this.name = 'NotReadyError';
  }
}
