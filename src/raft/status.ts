import type { ProgressState } from './progress.js';
import type { ConfState, HardState, SoftState } from './types.js';

/**
 * What a host may read of a group member's core, as etcd's `Status()`: a copy taken at one
 * instant, so that nothing outside src/raft holds a reference into the core's mutable state.
 */
export interface BasicStatus {
  readonly id: string;
  readonly hardState: HardState;
  readonly softState: SoftState;
  /** Highest index the host reported applied (or that a snapshot covered). */
  readonly applied: number;
  /** First index still in the log (entries before it are in the snapshot). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** The current configuration (voters, learners), sorted. */
  readonly config: ConfState;
  /** Target of a leadership transfer in progress, or ''. */
  readonly leadTransferee: string;
  /** A membership change is in the log and not yet applied: a new one would be refused. */
  readonly confChangePending: boolean;
}

/** How the leader replicates to one member. */
export interface ProgressStatus {
  readonly matchIndex: number;
  readonly nextIndex: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  /** Heard from since the last CheckQuorum round. */
  readonly recentActive: boolean;
  /** In the Snapshot state: the index of the snapshot being sent (0 otherwise). */
  readonly pendingSnapshot: number;
  /** Sending to this member waits (a probe unanswered, the in-flight window full, a snapshot out). */
  readonly paused: boolean;
}

export interface Status extends BasicStatus {
  /** Every member's progress, the leader itself included; empty unless this member leads. */
  readonly progress: ReadonlyMap<string, ProgressStatus>;
}
