import type { RandomSource } from '../util/random.js';

/** What the core needs to know; every field is about ticks, counts or bytes, never time. */
export interface RaftConfig {
  readonly id: string;
  /** Ticks a follower waits without hearing from a leader before campaigning (randomized up to 2x). */
  readonly electionTick: number;
  /** Ticks between a leader's heartbeats; must be well below electionTick. */
  readonly heartbeatTick: number;
  /** Bytes of entries in one MsgApp. */
  readonly maxSizePerMsg: number;
  /** MsgApps in flight to one follower in the Replicate state. */
  readonly maxInflightMsgs: number;
  /** Bytes in flight to one follower (0: no byte limit). */
  readonly maxInflightBytes: number;
  /** Bytes of committed entries in one Ready. */
  readonly maxCommittedSizePerReady: number;
  /** Index the host's state machine has applied already (after a restart). */
  readonly applied: number;
  /** Run a pre-vote round before bumping the term (thesis §9.6). */
  readonly preVote: boolean;
  /** A leader that has not heard from a quorum for an election timeout steps down (thesis §6.2). */
  readonly checkQuorum: boolean;
  /** Source of election-timeout jitter. */
  readonly random: RandomSource;
  readonly logger?: RaftLogger;
}

/** The minimal logging interface the core writes to; the host adapts pino to it. */
export interface RaftLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const defaultRaftConfig = {
  electionTick: 10,
  heartbeatTick: 1,
  maxSizePerMsg: 1 << 20,
  maxInflightMsgs: 256,
  maxInflightBytes: 0,
  maxCommittedSizePerReady: 4 << 20,
  applied: 0,
  preVote: true,
  checkQuorum: true,
} as const;

export const silentLogger: RaftLogger = {
  debug() {},
  info() {},
  warn() {},
};
