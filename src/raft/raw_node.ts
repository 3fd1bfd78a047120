import type { RaftConfig } from './config.js';
import { RaftInvariantError } from './errors.js';
import type { LogStorage } from './log_storage.js';
import { Raft } from './raft.js';
import { EntryType, MessageType, hardStateEqual, isEmptySnapshot, isLocalMessage, isResponseMessage, makeMessage } from './types.js';
import type { ConfChange, ConfState, Entry, HardState, Message, ReadState, Snapshot, SoftState } from './types.js';
import { encodeConfChange } from './raft.js';
import type { BasicStatus, Status } from './status.js';

/**
 * A batch of work the host must do, in this order:
 *
 *   1. send `messages` (at once; they do not depend on this Ready being durable);
 *   2. persist `hardState`, `snapshot` and `entries` durably, with one fsync (group commit);
 *   3. then send `persistedMessages` (votes and acknowledgements that promise durability);
 *   4. apply `snapshot` (if any) then `committedEntries`, in order; these may include entries of
 *      this same Ready, which is why applying comes after persisting;
 *   5. serve the reads in `readStates` once applied up to their index;
 *   6. call `advance(ready)`.
 *
 * Step 1 may overlap step 2 (the leader writes its log in parallel with replicating it, Raft
 * thesis §10.2.1); the core never counts the leader's own copy until `advance`.
 */
export interface Ready {
  /** Present when leader or role changed. */
  readonly softState?: SoftState;
  /** Present when it changed; persist before sending persistedMessages. */
  readonly hardState?: HardState;
  /** A snapshot received from the leader, to persist and apply. */
  readonly snapshot?: Snapshot;
  /** Entries to append to the durable log (replacing any stored suffix from entries[0].index). */
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly persistedMessages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** Whether the hard state or log changed in a way that needs an fsync. */
  readonly mustSync: boolean;
}

/**
 * The host's handle on one Raft group member. Not thread-safe (JavaScript has no threads, but an
 * async host must still not interleave ready() calls: call advance() before the next ready()).
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readyInFlight = false;

  constructor(config: RaftConfig, storage: LogStorage) {
    this.raft = new Raft(config, storage);
    this.prevSoftState = this.softState();
    this.prevHardState = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /**
   * Leader: goes quiet if the group is idle (see Raft.quiesce); returns whether this member is
   * quiet. `isLive` is the host's node liveness: members it says are down are left out, and the
   * host must wake the group when one of them comes back (see quietExcluded).
   */
  quiesce(isLive: (id: string) => boolean): boolean {
    return this.raft.quiesce(isLive);
  }

  /** Ends a quiet period (the host needs the group: a member's node came back, or one looks down). */
  wake(): void {
    this.raft.wake();
  }

  /**
   * The host believes this follower's leader is down (node liveness): it wakes if quiet, stops
   * honouring the leader's lease, and campaigns within an election timeout (see Raft.leaderLost).
   */
  leaderLost(): void {
    this.raft.leaderLost();
  }

  /** Whether this member is quiet: its ticks do nothing until something wakes it. */
  isQuiet(): boolean {
    return this.raft.isQuiet();
  }

  /** The members a quiet leader left out because the host said they were down. */
  quietExcluded(): readonly string[] {
    return this.raft.quietExcluded();
  }

  /** Campaign now (tests, or an operator forcing an election). */
  campaign(): void {
    this.raft.step(makeMessage({ type: MessageType.MsgHup, from: this.raft.id }));
  }

  /** Proposes `data` as a log entry. Throws ProposalDroppedError when it cannot be appended. */
  propose(data: Uint8Array): void {
    this.proposeEntries([{ term: 0, index: 0, type: EntryType.Normal, data }]);
  }

  /** Proposes many entries at once: one MsgProp, one append, one broadcast. */
  proposeEntries(entries: readonly Entry[]): void {
    this.raft.step(makeMessage({ type: MessageType.MsgProp, from: this.raft.id, entries }));
  }

  proposeConfChange(cc: ConfChange): void {
    this.proposeEntries([{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
  }

  /** Feeds a message from a peer. Local message types are refused: use the methods instead. */
  step(m: Message): void {
    if (isLocalMessage(m.type)) throw new RaftInvariantError(`cannot step local message ${m.type}`);
    if (!this.raft.isMember(m.from) && isResponseMessage(m.type)) return;
    this.raft.step(m);
  }

  /**
   * Asks for a linearizable read. `context` identifies it; a ReadState with the same context
   * appears in a later Ready once it may be served. Reads are dropped (never answered) if
   * leadership changes first: the host times them out.
   */
  readIndex(context: Uint8Array): void {
    this.raft.step(makeMessage({ type: MessageType.MsgReadIndex, from: this.raft.id, context }));
  }

  transferLeader(to: string): void {
    this.raft.step(makeMessage({ type: MessageType.MsgTransferLeader, from: to }));
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  reportUnreachable(id: string): void {
    this.raft.step(makeMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** The host finished (or failed) sending a snapshot to `id`. */
  reportSnapshot(id: string, failed: boolean): void {
    this.raft.step(makeMessage({ type: MessageType.MsgSnapStatus, from: id, reject: failed }));
  }

  softState(): SoftState {
    return this.raft.softState();
  }

  /** The current term (cheaper than a status, for hot paths). */
  term(): number {
    return this.raft.currentTerm();
  }

  /** The term of the entry at `index` (still in the log, or the snapshot's own index). */
  logTerm(index: number): number {
    return this.raft.logTerm(index);
  }

  /** The core's state at this instant, without the leader's progress map. */
  basicStatus(): BasicStatus {
    return this.raft.basicStatus();
  }

  /** The core's state at this instant; on the leader, every member's replication progress. */
  status(): Status {
    return { ...this.raft.basicStatus(), progress: this.raft.progressStatus() };
  }

  /**
   * Whether a membership change is in the log (committed or not) after index `applied` (the
   * host's own applied index, which runs ahead of the core's until advance). Unlike
   * `confChangePending` (which a new leader also sets until it has applied its whole log), this
   * says a change really is there.
   */
  hasConfChangeAfter(applied: number): boolean {
    return this.raft.hasConfChangeAfter(applied);
  }

  /**
   * The entries in [lo, hi) as this member's log holds them, persisted or not: a read-only view
   * for tests and tools that check logs against each other (the simulation's safety checkers).
   * Entries are immutable values; the array is a copy. Throws CompactedError when lo is below
   * firstIndex, UnavailableError when hi is past lastIndex + 1.
   */
  entries(lo: number, hi: number): Entry[] {
    return this.raft.entries(lo, hi);
  }

  hasReady(): boolean {
    if (this.readyInFlight) return false;
    const r = this.raft;
    const ss = this.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state) return true;
    if (!hardStateEqual(r.hardState(), this.prevHardState)) return true;
    if (r.unstableSnapshot()) return true;
    if (r.hasMessages()) return true;
    if (r.unstableEntries().length > 0) return true;
    if (r.hasNextCommittedEntries()) return true;
    if (r.hasReadStates()) return true;
    return false;
  }

  /** Collects the pending work. Call advance() with it before calling ready() again. */
  ready(): Ready {
    if (this.readyInFlight) throw new RaftInvariantError('ready() called again before advance()');
    const r = this.raft;
    const ss = this.softState();
    const hs = r.hardState();
    const unstableSnap = r.unstableSnapshot();
    const entries = [...r.unstableEntries()];
    const committedEntries = r.nextCommittedEntries();
    const softChanged = ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state;
    const hardChanged = !hardStateEqual(hs, this.prevHardState);
    const { messages, persistedMessages } = r.takeMessages();
    const rd: Ready = {
      ...(softChanged ? { softState: ss } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      ...(unstableSnap && !isEmptySnapshot(unstableSnap) ? { snapshot: unstableSnap } : {}),
      entries,
      committedEntries,
      messages,
      persistedMessages,
      readStates: r.takeReadStates(),
      mustSync: entries.length > 0 || (hardChanged && (hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote)) || unstableSnap !== null,
    };
    if (committedEntries.length > 0) r.acceptApplying(committedEntries[committedEntries.length - 1].index);
    if (softChanged) this.prevSoftState = ss;
    if (hardChanged) this.prevHardState = hs;
    this.readyInFlight = true;
    return rd;
  }

  /**
   * For a host that keeps working while a Ready's fsync is in flight: the committed entries that
   * are already durable here (persisted by earlier Readies) and that no Ready has handed out,
   * marked applied. Acknowledgements arriving during an fsync often commit entries of the
   * previous batch; applying them now instead of after the fsync answers their clients one
   * fsync sooner. The host must apply them at once, in order, and only once the in-flight
   * Ready's own committedEntries are applied (these come after them).
   */
  takeDurableCommitted(): readonly Entry[] {
    const r = this.raft;
    const entries = r.durableCommittedEntries();
    if (entries.length === 0) return entries;
    const last = entries[entries.length - 1]!.index;
    r.acceptApplying(last);
    r.appliedTo(last);
    return entries;
  }

  /** Reads released since the last Ready (see takeDurableCommitted for why a host takes them early). */
  takeReadStates(): readonly ReadState[] {
    return this.raft.takeReadStates();
  }

  /** The host has done everything `rd` asked for. */
  advance(rd: Ready): void {
    if (!this.readyInFlight) throw new RaftInvariantError('advance() without ready()');
    this.readyInFlight = false;
    const r = this.raft;
    if (rd.snapshot) {
      r.stableSnapTo(rd.snapshot.metadata.index);
      r.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      r.stableTo(last.index, last.term);
      r.onPersisted(last.index);
    }
    if (rd.committedEntries.length > 0) {
      const last = rd.committedEntries[rd.committedEntries.length - 1].index;
      // Entries taken with takeDurableCommitted may already have moved applied past these.
      if (last > r.appliedIndex()) r.appliedTo(last);
    }
  }
}
