/**
 * The vocabulary of the Raft core. Names follow the Raft paper and etcd-io/raft (`MsgApp`,
 * `commitIndex`, `matchIndex`) so that readers can cross-reference.
 *
 * Indices and terms are plain numbers: safe integers reach 2^53, far beyond any log.
 */

export const EntryType = {
  /** A client proposal (or the empty no-op a new leader appends). */
  Normal: 0,
  /** A membership change; `data` is an encoded `ConfChange`. */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log (Raft paper, Figure 2 "persistent state"). */
export interface HardState {
  readonly term: number;
  /** Who this node voted for in `term`; empty when none. */
  readonly vote: string;
  readonly commit: number;
}

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: '', commit: 0 });

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === '' && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** The membership of a group: voters decide, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

export const ConfChangeType = {
  AddVoter: 0,
  AddLearner: 1,
  RemoveNode: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** One-server-at-a-time membership change (see confchange.ts for why not joint consensus). */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: string;
  /** Opaque to the core; the host puts the node's address here. */
  readonly context?: string;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/**
 * A snapshot as the core sees it. `data` is the host's state-machine image; the core never looks
 * inside it. Hosts that stream snapshots out of band may leave it empty and keep a reference.
 */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export const emptySnapshot: Snapshot = Object.freeze({
  metadata: Object.freeze({ index: 0, term: 0, confState: Object.freeze({ voters: [], learners: [] }) }),
  data: new Uint8Array(0),
});

export function isEmptySnapshot(s: Snapshot): boolean {
  return s.metadata.index === 0;
}

export const MessageType = {
  /** Local: an election timeout elapsed (or a forced campaign). */
  MsgHup: 'MsgHup',
  /** Local: the leader's heartbeat timer elapsed. */
  MsgBeat: 'MsgBeat',
  /** Local: the leader checks it still hears from a quorum (CheckQuorum). */
  MsgCheckQuorum: 'MsgCheckQuorum',
  /** Proposal; local, or forwarded from a follower to its leader. */
  MsgProp: 'MsgProp',
  MsgApp: 'MsgApp',
  MsgAppResp: 'MsgAppResp',
  MsgVote: 'MsgVote',
  MsgVoteResp: 'MsgVoteResp',
  MsgPreVote: 'MsgPreVote',
  MsgPreVoteResp: 'MsgPreVoteResp',
  MsgSnap: 'MsgSnap',
  MsgHeartbeat: 'MsgHeartbeat',
  MsgHeartbeatResp: 'MsgHeartbeatResp',
  /** Local: the host reports that a snapshot send finished or failed. */
  MsgSnapStatus: 'MsgSnapStatus',
  /** Local: the host reports a peer unreachable. */
  MsgUnreachable: 'MsgUnreachable',
  MsgTransferLeader: 'MsgTransferLeader',
  MsgTimeoutNow: 'MsgTimeoutNow',
  MsgReadIndex: 'MsgReadIndex',
  MsgReadIndexResp: 'MsgReadIndexResp',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message between Raft peers (or from the host into the core). One shape for every type,
 * as in etcd's raftpb.Message; the fields a type does not use stay at their zero values.
 */
export interface Message {
  readonly type: MessageType;
  readonly to: string;
  readonly from: string;
  readonly term: number;
  /** MsgApp: term of the entry at `index`. Vote: last log term. AppResp reject: hint term. */
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** MsgAppResp reject: the follower's best guess of where logs may match. */
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** ReadIndex request context, echoed in heartbeats and read states. */
  readonly context?: Uint8Array;
  /**
   * MsgHeartbeat only: the leader's last heartbeat before it goes quiet (see Raft.quiesce); `index`
   * and `logTerm` then name its last entry, which `commit` says is committed. Absent means false.
   */
  readonly quiesce?: boolean;
}

export type MessageInit = Partial<Message> & Pick<Message, 'type'>;

export function makeMessage(init: MessageInit): Message {
  return {
    to: '',
    from: '',
    term: 0,
    logTerm: 0,
    index: 0,
    entries: noEntries,
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...init,
  };
}

export const noEntries: readonly Entry[] = Object.freeze([]);

/** Messages that travel only between the host and its own core. */
export function isLocalMessage(type: MessageType): boolean {
  return (
    type === MessageType.MsgHup ||
    type === MessageType.MsgBeat ||
    type === MessageType.MsgCheckQuorum ||
    type === MessageType.MsgSnapStatus ||
    type === MessageType.MsgUnreachable
  );
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.MsgAppResp ||
    type === MessageType.MsgVoteResp ||
    type === MessageType.MsgHeartbeatResp ||
    type === MessageType.MsgPreVoteResp ||
    type === MessageType.MsgReadIndexResp
  );
}

export const StateType = {
  Follower: 'follower',
  Candidate: 'candidate',
  Leader: 'leader',
  PreCandidate: 'pre-candidate',
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

/** Volatile state a host may want to show (leader, role); never persisted. */
export interface SoftState {
  readonly lead: string;
  readonly state: StateType;
}

/**
 * A ReadIndex result: the read identified by `context` may be served once the host has applied
 * up to `index` (Raft thesis §6.4).
 */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/** Approximate wire size of an entry, for byte limits on batches and in-flight windows. */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

export function entriesSize(entries: readonly Entry[]): number {
  let size = 0;
  for (const e of entries) size += entrySize(e);
  return size;
}
