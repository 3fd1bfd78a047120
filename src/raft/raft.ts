import { type RaftConfig, type RaftLogger, silentLogger } from './config.js';
import { CompactedError, DropReason, ProposalDroppedError, RaftInvariantError, SnapshotTemporarilyUnavailableError } from './errors.js';
import type { LogStorage } from './log_storage.js';
import { ProgressState, ProgressTracker } from './progress.js';
import { VoteResult, majority } from './quorum.js';
import { RaftLog } from './raft_log.js';
import { ReadOnlyQueue, type ReleasedRead } from './read_only.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  StateType,
  entriesSize,
  isEmptySnapshot,
  makeMessage,
} from './types.js';
import type { ConfChange, ConfState, Entry, HardState, Message, MessageInit, ReadState, Snapshot, SoftState } from './types.js';
import type { BasicStatus, ProgressStatus } from './status.js';

/** Context of a MsgVote sent because of MsgTimeoutNow: voters skip their leader lease for it. */
const campaignTransfer = new TextEncoder().encode('CampaignTransfer');

type CampaignType = 'pre-election' | 'election' | 'transfer';

/**
 * The Raft state machine of one group member. It does no I/O and reads no clock: time is
 * `tick()`, randomness comes from the config, and everything it wants done is queued in
 * `msgs`/`msgsAfterPersist`/`readStates` and the log's unstable part, collected by RawNode as a
 * Ready. Its state is private: RawNode reads it through the narrow methods below (the Ready's
 * parts, the log's apply and persist marks, a status copy), so no host holds a reference into
 * what the core mutates.
 *
 *               times out,             receives votes
 *               pre-vote wins          from a majority
 *   ┌──────────┐ ────────▶ ┌───────────┐ ────────▶ ┌────────┐
 *   │ Follower │           │ Candidate │           │ Leader │
 *   └──────────┘ ◀──────── └───────────┘           └────────┘
 *        ▲   discovers leader or higher term            │
 *        └──────────────────────────────────────────────┘
 *                  discovers higher term / loses quorum (CheckQuorum)
 *
 * `step()` first handles the message's term (§5.1: a higher term makes us a follower, a lower
 * one is answered or ignored), then dispatches to the per-role step function.
 */
export class Raft {
  readonly id: string;
  private term = 0;
  private vote = '';
  private lead = '';
  private state: StateType = StateType.Follower;
  private readonly raftLog: RaftLog;
  private readonly tracker: ProgressTracker;
  /** May be sent as soon as they are handed out. */
  private msgs: Message[] = [];
  /** May be sent only after the Ready's hard state and entries are durable. */
  private msgsAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];
  /** Target of a leadership transfer in progress, or ''. */
  private leadTransferee = '';
  /** Index of the latest membership change in the log; a new one waits until it is applied. */
  private pendingConfIndex = 0;
  private readonly readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /**
   * Quiet (CockroachDB's quiescence): the group is idle and every member the host believes up
   * holds the leader's whole log, known committed, so no timer runs: ticks do nothing, the leader
   * sends no heartbeats and a follower never times out. The host watches the leader's node
   * instead (node liveness) and calls leaderLost() when it stops answering. See quiesce().
   */
  private quiet = false;
  /** Members a quiet leader left out because the host said they were down when it went quiet. */
  private quietWithout: readonly string[] = [];
  private randomizedElectionTimeout = 0;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly maxSizePerMsg: number;
  private readonly config: RaftConfig;
  private readonly logger: RaftLogger;

  constructor(config: RaftConfig, storage: LogStorage) {
    if (!config.id) throw new RaftInvariantError('raft: id must not be empty');
    if (config.heartbeatTick <= 0 || config.electionTick <= config.heartbeatTick) {
      throw new RaftInvariantError('raft: electionTick must be greater than heartbeatTick > 0');
    }
    this.config = config;
    this.id = config.id;
    this.logger = config.logger ?? silentLogger;
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.checkQuorum = config.checkQuorum;
    this.preVote = config.preVote;
    this.maxSizePerMsg = config.maxSizePerMsg;
    this.raftLog = new RaftLog(storage, config.maxCommittedSizePerReady);
    this.tracker = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);

    const { hardState, confState } = storage.initialState();
    this.tracker.applyConfState(confState, this.raftLog.lastIndex() + 1);
    if (hardState.term !== 0 || hardState.vote !== '' || hardState.commit !== 0) this.loadHardState(hardState);
    if (config.applied > 0) this.raftLog.appliedTo(Math.min(config.applied, this.raftLog.committed));
    this.becomeFollower(this.term, '');
  }

  // ---------------------------------------------------------------- state accessors

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  currentTerm(): number {
    return this.term;
  }

  /** Whether this member is quiet (see quiesce()). */
  isQuiet(): boolean {
    return this.quiet;
  }

  /** The members a quiet leader left out as down when it went quiet; empty otherwise. */
  quietExcluded(): readonly string[] {
    return this.quietWithout;
  }

  /** Only voters campaign; learners and removed nodes never do. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  /** Whether `id` is a voter or learner of the current configuration. */
  isMember(id: string): boolean {
    return this.tracker.isMember(id);
  }

  /** The term of the entry at `index`; 0 when the log does not know it. */
  logTerm(index: number): number {
    return this.raftLog.term(index);
  }

  basicStatus(): BasicStatus {
    const log = this.raftLog;
    return {
      id: this.id,
      hardState: this.hardState(),
      softState: this.softState(),
      applied: log.applied,
      firstIndex: log.firstIndex(),
      lastIndex: log.lastIndex(),
      config: this.tracker.confState(),
      leadTransferee: this.leadTransferee,
      confChangePending: this.pendingConfIndex > log.applied,
    };
  }

  /** A copy of every member's progress; empty unless this member leads. */
  progressStatus(): Map<string, ProgressStatus> {
    const progress = new Map<string, ProgressStatus>();
    if (this.state !== StateType.Leader) return progress;
    for (const [id, pr] of this.tracker.progress) {
      progress.set(id, {
        matchIndex: pr.matchIndex,
        nextIndex: pr.nextIndex,
        state: pr.state,
        isLearner: pr.isLearner,
        recentActive: pr.recentActive,
        pendingSnapshot: pr.pendingSnapshot,
        paused: pr.isPaused(),
      });
    }
    return progress;
  }

  /** Whether a membership change is in the log (committed or not) after index `applied`. */
  hasConfChangeAfter(applied: number): boolean {
    const log = this.raftLog;
    const lo = Math.max(applied + 1, log.firstIndex());
    const hi = log.lastIndex() + 1;
    if (lo >= hi) return false;
    return log.slice(lo, hi, Number.POSITIVE_INFINITY).some((e) => e.type === EntryType.ConfChange);
  }

  /** Entries in [lo, hi) of the log, stable or not, without a byte limit (see RawNode.entries). */
  entries(lo: number, hi: number): Entry[] {
    return this.raftLog.slice(lo, hi, Number.POSITIVE_INFINITY);
  }

  // ---------------------------------------------------------------- what a Ready collects

  /** A snapshot received from the leader and not yet persisted, or null. */
  unstableSnapshot(): Snapshot | null {
    return this.raftLog.unstable.snapshot;
  }

  /** Entries appended and not yet persisted (the log's live array: copy it to keep it). */
  unstableEntries(): readonly Entry[] {
    return this.raftLog.unstableEntries();
  }

  hasNextCommittedEntries(): boolean {
    return this.raftLog.hasNextCommittedEntries();
  }

  /** Committed entries not yet handed out for applying, bounded in bytes. */
  nextCommittedEntries(): readonly Entry[] {
    return this.raftLog.nextCommittedEntries();
  }

  /** Committed entries already persisted here that were not handed out for applying. */
  durableCommittedEntries(): readonly Entry[] {
    return this.raftLog.durableCommittedEntries();
  }

  /** Entries up to `index` were handed to the host for applying. */
  acceptApplying(index: number): void {
    this.raftLog.acceptApplying(index);
  }

  /** The highest index the host confirmed applied. */
  appliedIndex(): number {
    return this.raftLog.applied;
  }

  hasMessages(): boolean {
    return this.msgs.length > 0 || this.msgsAfterPersist.length > 0;
  }

  /**
   * Hands out the queued messages. The heartbeats of the open ReadIndex round leave with them, so
   * reads asked for after this need a new round.
   */
  takeMessages(): { messages: Message[]; persistedMessages: Message[] } {
    const taken = { messages: this.msgs, persistedMessages: this.msgsAfterPersist };
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readOnly.closeOpenRound();
    return taken;
  }

  hasReadStates(): boolean {
    return this.readStates.length > 0;
  }

  takeReadStates(): ReadState[] {
    // Never hand out the live array, even empty: the caller keeps what it was given.
    if (this.readStates.length === 0) return [];
    const states = this.readStates;
    this.readStates = [];
    return states;
  }

  /** The host persisted the entries up to (index, term). */
  stableTo(index: number, term: number): void {
    this.raftLog.stableTo(index, term);
  }

  /** The host persisted the snapshot at `index`. */
  stableSnapTo(index: number): void {
    this.raftLog.stableSnapTo(index);
  }

  private loadHardState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(`hard state commit ${hs.commit} outside [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`);
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  // ---------------------------------------------------------------- sending

  private send(init: MessageInit): void {
    const m = makeMessage({ from: this.id, ...init });
    const t = m.type;
    if (t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) {
      if (m.term === 0) throw new RaftInvariantError(`${t} must carry a term`);
    } else if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) {
      // Proposals and forwarded reads carry no term (they are not part of the protocol between
      // peers of one term); everything else speaks in the current term.
      if (m.term === 0) (m as { term: number }).term = this.term;
    }
    // A response that acknowledges entries, a vote, or a vote request made with our own vote,
    // is only true once the Ready that produced it is durable.
    if (
      t === MessageType.MsgAppResp ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVoteResp ||
      t === MessageType.MsgVote ||
      t === MessageType.MsgPreVote
    ) {
      this.msgsAfterPersist.push(m);
    } else {
      this.msgs.push(m);
    }
  }

  /** Sends entries (or a snapshot) to `to` if its progress allows. Returns whether it sent. */
  private maybeSendAppend(to: string, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.nextIndex - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    let entries: readonly Entry[];
    try {
      if (prevTerm === 0 && prevIndex > 0 && prevIndex < this.raftLog.firstIndex() - 1) {
        throw new CompactedError(prevIndex, this.raftLog.firstIndex());
      }
      entries = this.raftLog.entriesFrom(pr.nextIndex, this.maxSizePerMsg);
    } catch (err) {
      if (err instanceof CompactedError) return this.maybeSendSnapshot(to);
      throw err;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const bytes = entriesSize(entries);
    this.send({
      type: MessageType.MsgApp,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.raftLog.committed,
    });
    pr.sentEntries(entries.length, prevIndex + entries.length, bytes);
    return true;
  }

  private maybeSendSnapshot(to: string): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr) return false;
    // A follower we have not heard from lately may be down: do not ship it a snapshot yet.
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    if (isEmptySnapshot(snapshot)) throw new RaftInvariantError('need a non-empty snapshot to catch up a follower');
    pr.becomeSnapshot(snapshot.metadata.index);
    this.logger.debug('sending snapshot', { to, index: snapshot.metadata.index });
    this.send({ type: MessageType.MsgSnap, to, snapshot });
    return true;
  }

  private sendHeartbeat(to: string, context: Uint8Array | undefined): void {
    const pr = this.tracker.progress.get(to);
    // Never tell a follower to commit past what it is known to hold: it may not have it.
    const commit = Math.min(pr ? pr.matchIndex : 0, this.raftLog.committed);
    this.send({ type: MessageType.MsgHeartbeat, to, commit, ...(context ? { context } : {}) });
  }

  private forEachPeer(fn: (id: string) => void): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) fn(id);
  }

  private bcastAppend(): void {
    this.forEachPeer((id) => {
      this.maybeSendAppend(id, true);
    });
  }

  private bcastHeartbeat(context?: Uint8Array): void {
    const ctx = context ?? this.readOnly.lastRoundContext() ?? undefined;
    this.forEachPeer((id) => this.sendHeartbeat(id, ctx));
  }

  // ---------------------------------------------------------------- role changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // A new role or term is never quiet: whoever goes quiet again does so from a heartbeat.
    this.quiet = false;
    this.quietWithout = [];
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = '';
    this.tracker.resetVotes();
    this.tracker.resetProgress(this.raftLog.lastIndex() + 1);
    const self = this.tracker.progress.get(this.id);
    if (self) self.matchIndex = this.raftLog.stableLastIndex();
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
  }

  private becomeFollower(term: number, lead: string): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
  }

  private becomeCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError('leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info('became candidate', { term: this.term });
  }

  private becomePreCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError('leader cannot become pre-candidate');
    // A pre-candidate changes neither term nor vote: a pre-vote that fails leaves no trace.
    this.tracker.resetVotes();
    this.lead = '';
    this.state = StateType.PreCandidate;
  }

  private becomeLeader(): void {
    if (this.state === StateType.Follower) throw new RaftInvariantError('follower cannot become leader directly');
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.tracker.progress.get(this.id);
    if (self) self.becomeReplicate();
    // Anything in the log may be a membership change: none can be proposed until all of it is
    // applied (which also means an entry of this term was committed first).
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The no-op of a new term (§8): committing it commits everything before it.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.logger.info('became leader', { term: this.term });
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.config.random.intBelow(this.electionTimeout);
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    // Quiet: no heartbeat to send, no election timer (the host watches the leader's node instead).
    if (this.quiet) return;
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  // ---------------------------------------------------------------- quiescence

  /**
   * Leader: goes quiet if the group is idle, and returns whether this member is quiet.
   *
   * Idle means: nothing to replicate or confirm (every entry of the log durable here, committed
   * and applied, the last one of this term; no read waiting for a round, no leadership transfer,
   * no message waiting for the host), and every member the host believes up (`isLive`) holds the
   * whole log in the Replicate state with nothing in flight, and was heard from since the last
   * CheckQuorum. Members the host believes down are left out (quietExcluded()), but the leader
   * and the caught-up voters must still be a majority: otherwise the group stays awake and
   * CheckQuorum deposes the leader as usual.
   *
   * Going quiet sends every live member one last heartbeat marked `quiesce`, carrying the last
   * index and term and committing it; a follower holding exactly that log goes quiet too (see
   * handleHeartbeat). From then on ticks do nothing until wake() or leaderLost(), or a message
   * that is not part of going quiet arrives (see step()).
   */
  quiesce(isLive: (id: string) => boolean): boolean {
    if (this.quiet) return true;
    if (this.state !== StateType.Leader) return false;
    const without = this.idleWithout(isLive);
    if (without === null) return false;
    const last = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.term(last);
    this.forEachPeer((id) => {
      if (!without.includes(id)) this.send({ type: MessageType.MsgHeartbeat, to: id, commit: last, index: last, logTerm: lastTerm, quiesce: true });
    });
    this.quiet = true;
    this.quietWithout = without;
    return true;
  }

  /** The members to leave out if this leader may go quiet now (see quiesce()), or null if it may not. */
  private idleWithout(isLive: (id: string) => boolean): string[] | null {
    const log = this.raftLog;
    const last = log.lastIndex();
    if (this.leadTransferee !== '' || this.pendingReadIndexMessages.length > 0 || this.readOnly.pendingCount() > 0) return null;
    if (this.hasMessages() || !this.tracker.isVoter(this.id)) return null;
    if (log.unstable.snapshot !== null || log.stableLastIndex() !== last) return null;
    if (log.committed !== last || log.applied !== last || log.term(last) !== this.term) return null;
    const without: string[] = [];
    let caughtUpVoters = 1;
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      if (!isLive(id)) {
        without.push(id);
        continue;
      }
      if (pr.matchIndex !== last || pr.state !== ProgressState.Replicate || pr.inflights.count > 0 || !pr.recentActive) return null;
      if (this.tracker.isVoter(id)) caughtUpVoters++;
    }
    return caughtUpVoters >= majority(this.tracker.voters.length) ? without : null;
  }

  /**
   * Ends a quiet period: the host needs the group (a member's node came back, or one the leader
   * counted on looks down), or a message arrived that is not part of going quiet. A leader
   * heartbeats again from its next tick and forgets whom it heard from, so that its next
   * CheckQuorum, an election timeout from now, counts only members heard from after waking. A
   * follower's election timer starts over, as if it had just heard from its leader: while it was
   * quiet the host had the leader's node in sight (else leaderLost() would have woken it).
   */
  wake(): void {
    if (!this.quiet) return;
    this.quiet = false;
    this.quietWithout = [];
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    if (this.state === StateType.Leader) {
      for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
    }
  }

  /**
   * The host believes this follower's leader is down: its node has not been heard from for an
   * election timeout (node liveness), or it restarted. The follower wakes if quiet, and its lease
   * on the leader ends: it grants votes from now on (a quiet follower hears no heartbeats, so its
   * election timer says nothing about the leader), and it campaigns itself after a random 1 to
   * electionTick ticks, unless its timer runs out sooner anyway. Nothing changes for a follower
   * that has no leader or whose timer is already past an election timeout.
   */
  leaderLost(): void {
    if (this.state === StateType.Leader || this.lead === '') return;
    this.wake();
    if (this.electionElapsed >= this.electionTimeout) return;
    this.electionElapsed = this.electionTimeout;
    this.resetRandomizedElectionTimeout();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: MessageType.MsgHup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(makeMessage({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that has not completed within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== '') this.leadTransferee = '';
    }
    if (this.state !== StateType.Leader) return;
    this.maybeHandOffLeadership();
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: MessageType.MsgBeat, from: this.id }));
    }
  }

  // ---------------------------------------------------------------- elections

  private hup(type: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    if (this.hasUnappliedConfChange()) {
      // Our configuration may be out of date until those are applied.
      this.logger.warn('not campaigning: committed membership changes are not applied yet', { term: this.term });
      return;
    }
    this.campaign(type);
  }

  private hasUnappliedConfChange(): boolean {
    const lo = this.raftLog.applied + 1;
    const hi = this.raftLog.committed + 1;
    if (lo >= hi) return false;
    let ents: readonly Entry[];
    try {
      ents = this.raftLog.slice(Math.max(lo, this.raftLog.firstIndex()), hi, Number.POSITIVE_INFINITY);
    } catch {
      return false;
    }
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  private campaign(type: CampaignType): void {
    let voteType: MessageType;
    let term: number;
    if (type === 'pre-election') {
      this.becomePreCandidate();
      voteType = MessageType.MsgPreVote;
      // A pre-vote asks "would you vote for me in the next term?" without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // A single-voter group wins at once.
      if (type === 'pre-election') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        ...(type === 'transfer' ? { context: campaignTransfer } : {}),
      });
    }
  }

  private poll(id: string, granted: boolean): VoteResult {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes();
  }

  // ---------------------------------------------------------------- step

  /**
   * Feeds one message to the core. Throws ProposalDroppedError for a local proposal that cannot
   * be appended; every other outcome is queued work.
   */
  step(m: Message): void {
    if (this.quiet && wakesQuiet(m)) this.wake();
    if (m.term === 0) {
      // Local message, or a proposal/read forwarded by a follower.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = m.context !== undefined && bytesEqual(m.context, campaignTransfer);
        const inLease = this.checkQuorum && this.lead !== '' && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a live leader within the election timeout: this candidate is
          // disrupting a healthy group (e.g. a removed or partitioned node). Ignore it (§4.2.3).
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we would campaign in; we have not reached it yet.
      } else if (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
        // A leader from an older term (for instance one that was partitioned away) would
        // otherwise never learn of our term; with PreVote and CheckQuorum we never campaign
        // against it, so tell it, and it steps down.
        this.send({ type: MessageType.MsgAppResp, to: m.from });
      } else if (m.type === MessageType.MsgPreVote) {
        this.send({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? 'pre-election' : 'election');
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === '' && this.lead === '') ||
          (m.type === MessageType.MsgPreVote && m.term > this.term);
        const respType = m.type === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // Answer in the candidate's term: for a pre-vote that is the term it would move to.
          this.send({ type: respType, to: m.from, term: m.term });
          if (m.type === MessageType.MsgVote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          // Also tell the candidate how far we know the log is committed: a candidate whose log
          // matches there may adopt it. Without this, a voter that applied its own removal (and
          // so never campaigns) could hold the only knowledge that the removal committed, while
          // the remaining voters, still in the old configuration, need that voter to win.
          const commit = this.raftLog.committed;
          this.send({ type: respType, to: m.from, term: this.term, reject: true, commit, logTerm: this.raftLog.term(commit) });
        }
        return;
      }
      default:
        break;
    }
    switch (this.state) {
      case StateType.Leader:
        this.stepLeader(m);
        return;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.stepCandidate(m);
        return;
      case StateType.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgCheckQuorum:
        if (!this.tracker.quorumActive(this.id)) {
          this.logger.warn('stepping down: no quorum heard from within an election timeout', { term: this.term });
          this.becomeFollower(this.term, '');
          return;
        }
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.MsgProp:
        this.handleProposal(m);
        return;
      case MessageType.MsgReadIndex:
        this.handleReadIndex(m);
        return;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m);
        return;
      default:
        break;
    }

    const pr = this.tracker.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.MsgAppResp:
        pr.recentActive = true;
        if (m.reject) {
          // Fast backtracking: the follower told us the term of its entry at rejectHint; skip
          // straight to the last entry of ours that could match it.
          let nextProbeIndex = m.rejectHint;
          if (m.logTerm > 0) nextProbeIndex = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm)[0];
          if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.maybeSendAppend(m.from, true);
          }
          return;
        }
        {
          const wasPaused = pr.isPaused();
          // In Probe, an acknowledgement of exactly our match index (an empty probe that
          // matched) also proves the logs agree, so it ends probing like a new match would.
          const matchedProbe = pr.state === ProgressState.Probe && pr.matchIndex === m.index;
          if (!pr.maybeUpdate(m.index) && !matchedProbe) {
            if (wasPaused && !pr.isPaused()) this.sendAllPossible(m.from);
            return;
          }
          if (pr.state === ProgressState.Probe) {
            pr.becomeReplicate();
          } else if (pr.state === ProgressState.Snapshot && pr.matchIndex + 1 >= this.raftLog.firstIndex()) {
            // The follower caught up from the snapshot and the log continues from there.
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === ProgressState.Replicate) {
            pr.inflights.freeLE(m.index);
          }
          if (this.maybeCommit()) {
            this.bcastAppend();
          } else {
            this.sendAllPossible(m.from);
          }
          if (m.from === this.leadTransferee && pr.matchIndex === this.raftLog.lastIndex()) {
            this.send({ type: MessageType.MsgTimeoutNow, to: m.from });
          }
        }
        return;
      case MessageType.MsgHeartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        // If every MsgApp that filled the window was lost, nothing would ever free it: free
        // one slot so a probe can go out; the follower's reply resynchronizes us.
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.matchIndex < this.raftLog.lastIndex() || pr.state === ProgressState.Probe) {
          // A member that needs entries needs a leader that ticks (to resend them if they are lost).
          this.wake();
          this.maybeSendAppend(m.from, true);
        }
        if (m.context) this.releaseReads(this.readOnly.recvAck(m.from, m.context, this.tracker.voters));
        return;
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Whether it failed or not, wait for the follower to answer a heartbeat before probing.
        pr.probeSent = true;
        return;
      case MessageType.MsgUnreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      default:
        return;
    }
  }

  /** Keep the pipeline to `to` full: send until its window closes or nothing is left. */
  private sendAllPossible(to: string): void {
    while (this.maybeSendAppend(to, false)) {
      // each call sends one MsgApp
    }
  }

  private handleProposal(m: Message): void {
    if (m.entries.length === 0) throw new RaftInvariantError('stepped empty MsgProp');
    if (!this.tracker.isMember(this.id)) throw new ProposalDroppedError(DropReason.Removed, 'this node was removed from the group');
    if (this.leadTransferee !== '') throw new ProposalDroppedError(DropReason.Transferring, `leadership is being transferred to ${this.leadTransferee}`);
    const entries = [...m.entries];
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].type !== EntryType.ConfChange) continue;
      const refusal = this.confChangeRefusal(decodeConfChange(entries[i].data));
      if (refusal !== null) throw new ProposalDroppedError(refusal.reason, refusal.detail);
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
    }
    this.appendEntries(entries);
    this.bcastAppend();
  }

  /** Why a membership change cannot be proposed now, or null when it can. */
  private confChangeRefusal(cc: ConfChange): { reason: DropReason; detail: string } | null {
    if (this.pendingConfIndex > this.raftLog.applied) {
      return { reason: DropReason.ChangeInProgress, detail: 'another membership change is in progress (one at a time)' };
    }
    const invalid = (detail: string) => ({ reason: DropReason.InvalidChange, detail });
    const isVoter = this.tracker.isVoter(cc.nodeId);
    const isLearner = this.tracker.learners.includes(cc.nodeId);
    switch (cc.type) {
      case ConfChangeType.AddVoter:
        if (isVoter) return invalid(`${cc.nodeId} is already a voter`);
        return null;
      case ConfChangeType.AddLearner:
        if (isLearner) return invalid(`${cc.nodeId} is already a learner`);
        if (isVoter && this.tracker.voters.length === 1) return invalid('cannot demote the last voter');
        return null;
      case ConfChangeType.RemoveNode:
        if (!isVoter && !isLearner) return invalid(`${cc.nodeId} is not a member`);
        if (isVoter && this.tracker.voters.length === 1) return invalid('cannot remove the last voter');
        return null;
      default:
        return invalid('unknown membership change');
    }
  }

  /** Appends entries as the leader, stamping term and index. */
  private appendEntries(entries: readonly Entry[]): void {
    let index = this.raftLog.lastIndex();
    const stamped = entries.map((e) => ({ term: this.term, index: ++index, type: e.type, data: e.data }));
    this.raftLog.append(stamped);
    // The leader's own acknowledgement waits until the host persists these (see onPersisted):
    // counting ourselves earlier could commit an entry held durably by a minority only.
  }

  private maybeCommit(): boolean {
    const committed = this.raftLog.maybeCommit(this.tracker.committed(), this.term);
    if (committed && this.pendingReadIndexMessages.length > 0 && this.committedEntryInCurrentTerm()) {
      const pending = this.pendingReadIndexMessages;
      this.pendingReadIndexMessages = [];
      for (const msg of pending) this.handleReadIndex(msg);
    }
    return committed;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  private handleReadIndex(m: Message): void {
    const context = m.context ?? new Uint8Array(0);
    const from = m.from === '' ? this.id : m.from;
    if (this.tracker.voters.length === 1 && this.tracker.isVoter(this.id)) {
      if (!this.committedEntryInCurrentTerm()) {
        this.pendingReadIndexMessages.push(m);
        return;
      }
      this.releaseReads([{ index: this.raftLog.committed, request: { context, from } }]);
      return;
    }
    // Thesis §6.4 step 1: until an entry of this term is committed, the leader's commit index
    // may lag behind what an earlier leader committed. Hold the read until then.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    const newRound = this.readOnly.add({ context, from }, this.raftLog.committed, this.id);
    if (newRound) this.bcastHeartbeat(newRound);
  }

  private releaseReads(released: readonly ReleasedRead[]): void {
    for (const { index, request } of released) {
      if (request.from === this.id) {
        this.readStates.push({ index, context: request.context });
      } else {
        this.send({ type: MessageType.MsgReadIndexResp, to: request.from, index, context: request.context });
      }
    }
  }

  private handleTransferLeader(m: Message): void {
    const target = m.from;
    const pr = this.tracker.progress.get(target);
    if (!pr || pr.isLearner) return;
    if (target === this.id) return;
    if (this.leadTransferee === target) return;
    this.electionElapsed = 0;
    this.leadTransferee = target;
    this.logger.info('transferring leadership', { to: target, term: this.term });
    if (pr.matchIndex === this.raftLog.lastIndex()) {
      this.send({ type: MessageType.MsgTimeoutNow, to: target });
    } else {
      this.maybeSendAppend(target, true);
    }
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.state === StateType.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        throw new ProposalDroppedError(DropReason.NoLeader, 'no leader (election in progress)');
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp: {
        // Commit knowledge is a fact about the log, whoever holds it: adopt it where our log
        // provably matches (Log Matching: same index and term means the same prefix).
        if (m.reject && m.commit > this.raftLog.committed && this.raftLog.matchTerm(m.commit, m.logTerm)) {
          this.raftLog.commitTo(m.commit);
        }
        const result = this.poll(m.from, !m.reject);
        if (result === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) {
            this.campaign('election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.Lost) {
          this.becomeFollower(this.term, '');
        }
        return;
      }
      case MessageType.MsgReadIndex:
        // No leader to ask: the host times the read out.
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.lead === '') throw new ProposalDroppedError(DropReason.NoLeader, 'no leader');
        this.send({ ...m, to: this.lead, from: this.id, term: 0 });
        return;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.MsgTransferLeader:
        if (this.lead === '') return;
        this.send({ type: MessageType.MsgTransferLeader, to: this.lead, from: m.from === '' ? this.id : m.from, term: 0 });
        return;
      case MessageType.MsgTimeoutNow:
        // The leader asks us to campaign at once, skipping pre-vote: it is handing over.
        this.hup('transfer');
        return;
      case MessageType.MsgReadIndex:
        if (this.lead === '') return;
        // Keep the original asker: if our leader has moved on, the read may be forwarded again,
        // and the answer must still reach the node whose client asked.
        this.send({
          type: MessageType.MsgReadIndex,
          to: this.lead,
          from: m.from === '' ? this.id : m.from,
          ...(m.context ? { context: m.context } : {}),
        });
        return;
      case MessageType.MsgReadIndexResp:
        if (m.context) this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: lastNew });
      return;
    }
    // Reject with a hint: the last index ≤ m.index whose term is ≤ m.logTerm, so the leader can
    // skip every entry of a conflicting term at once.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const [rejectHint, hintTerm] = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.send({ type: MessageType.MsgAppResp, to: m.from, index: m.index, reject: true, rejectHint, logTerm: hintTerm });
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
    if (m.quiesce) {
      // Quiet only holding exactly the leader's log, all of it known committed: then the leader
      // has nothing left to send us. Otherwise say no (reject), which wakes the leader.
      const log = this.raftLog;
      if (log.lastIndex() !== m.index || !log.matchTerm(m.index, m.logTerm) || log.committed !== m.index) {
        this.send({ type: MessageType.MsgHeartbeatResp, to: m.from, reject: true });
        return;
      }
      this.quiet = true;
    }
    this.send({ type: MessageType.MsgHeartbeatResp, to: m.from, ...(m.context ? { context: m.context } : {}) });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (!snap) return;
    if (this.restore(snap)) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.lastIndex() });
    } else {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed });
    }
  }

  /** Installs a snapshot from the leader. False when it brings nothing new. */
  private restore(snap: Snapshot): boolean {
    const { index, term, confState } = snap.metadata;
    if (index <= this.raftLog.committed) return false;
    // The snapshot's configuration may not include us yet: a node added after the snapshot was
    // taken learns of its own membership from the entries that follow it. Until then it is not
    // promotable, so nothing relies on it being in its own configuration.
    if (this.raftLog.matchTerm(index, term)) {
      // We have the entry already: just move the commit index (§7: keep the log after it).
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(snap);
    this.tracker.applyConfState(confState, this.raftLog.lastIndex() + 1);
    this.tracker.resetProgress(this.raftLog.lastIndex() + 1);
    this.logger.info('restored snapshot', { index, term });
    return true;
  }

  // ---------------------------------------------------------------- host notifications

  /**
   * The host persisted everything up to `index`. A leader now counts its own copy toward
   * commitment (Raft thesis §10.2.1: the leader may write its log in parallel with replication,
   * but must not count itself until its write is durable).
   */
  onPersisted(index: number): void {
    if (this.state !== StateType.Leader) return;
    const self = this.tracker.progress.get(this.id);
    if (!self) return;
    const stable = Math.min(index, this.raftLog.stableLastIndex());
    if (self.maybeUpdate(stable) && this.maybeCommit()) this.bcastAppend();
  }

  /**
   * Applies a committed membership change (the host calls this when it applies the entry).
   * Returns the new configuration.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const voters = new Set(this.tracker.voters);
    const learners = new Set(this.tracker.learners);
    switch (cc.type) {
      case ConfChangeType.AddVoter:
        learners.delete(cc.nodeId);
        voters.add(cc.nodeId);
        break;
      case ConfChangeType.AddLearner:
        voters.delete(cc.nodeId);
        learners.add(cc.nodeId);
        break;
      case ConfChangeType.RemoveNode:
        voters.delete(cc.nodeId);
        learners.delete(cc.nodeId);
        break;
    }
    return this.switchToConfig({ voters: [...voters], learners: [...learners] });
  }

  /** Adopts a configuration (from a conf change being applied, or at start-up). */
  switchToConfig(cs: ConfState): ConfState {
    this.tracker.applyConfState(cs, this.raftLog.lastIndex() + 1);
    const confState = this.tracker.confState();
    if (this.state !== StateType.Leader) return confState;
    if (this.leadTransferee !== '' && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = '';
    // The quorum changed: something may now be committed, and new members need the log.
    this.maybeCommit();
    this.bcastAppend();
    this.maybeHandOffLeadership();
    return confState;
  }

  /**
   * A leader that removed or demoted itself keeps leading the new configuration (without counting
   * itself) until it has handed leadership to a voter. Stepping down at once would be unsafe for
   * liveness: changes take effect when applied, so the remaining voters may not yet know the
   * change committed, and the old configuration they still use may need this node's vote, which
   * it would refuse to a candidate whose log lags its own.
   */
  private maybeHandOffLeadership(): void {
    if (this.state !== StateType.Leader || this.tracker.isVoter(this.id) || this.leadTransferee !== '') return;
    let best = '';
    let bestMatch = -1;
    for (const id of this.tracker.voters) {
      const pr = this.tracker.progress.get(id);
      if (pr && pr.matchIndex > bestMatch) {
        best = id;
        bestMatch = pr.matchIndex;
      }
    }
    if (best === '') return;
    this.handleTransferLeader(makeMessage({ type: MessageType.MsgTransferLeader, from: best }));
  }

  /** The host applied a snapshot or entries up to `index`. */
  appliedTo(index: number): void {
    this.raftLog.appliedTo(index);
  }
}

/**
 * Whether stepping `m` ends a quiet period: anything but the quiesce heartbeat itself, the
 * followers' accepting answers to heartbeats (a refusal, `reject`, wakes the leader), and the
 * host's note that a peer is unreachable (while quiet, the host watches peers by node liveness).
 */
function wakesQuiet(m: Message): boolean {
  switch (m.type) {
    case MessageType.MsgHeartbeat:
      return m.quiesce !== true;
    case MessageType.MsgHeartbeatResp:
      return m.reject;
    case MessageType.MsgUnreachable:
      return false;
    default:
      return true;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return textEncoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed = JSON.parse(textDecoder.decode(data)) as ConfChange;
  if (typeof parsed.nodeId !== 'string' || ![0, 1, 2].includes(parsed.type)) {
    throw new RaftInvariantError('malformed membership change entry');
  }
  return parsed;
}
