import {
  ConfChangeType,
  DropReason,
  EntryType,
  ProposalDroppedError,
  RawNode,
  StateType,
  bootstrapLog,
  decodeConfChange,
  defaultRaftConfig,
  silentLogger,
} from '../raft/index.js';
import type { ConfChange, ConfState, Entry, HardState, Message, RaftConfig, RaftLogger, Ready, SnapshotMetadata, SoftState } from '../raft/index.js';
import type { DurableLog } from '../storage/durable_log.js';
import type { ReplicatedStateMachine } from '../state/state_machine.js';
import type { PayloadWriter } from '../state/write_entry.js';
import type { GroupTransport } from '../transport/group_transport.js';
import { PagedLogStorage } from './paged_log_storage.js';
import { Deferred } from '../util/deferred.js';
import { NoLeaderError, NotReadyError, OutcomeUnknownError, QuorumError } from '../util/errors.js';
import type { RandomSource } from '../util/random.js';

/**
 * What the group drives of its state machine (src/state/state_machine.ts has the whole contract):
 * `apply` gets each committed proposal (the return value goes to the proposer's waiter;
 * `requestId` is the proposer's id for it, the same on every replica, for deduplicating
 * retries), `applyMemberChange` each membership change, both in log order.
 */
export type GroupStateMachine = Pick<ReplicatedStateMachine<unknown>, 'apply' | 'applyMemberChange'>;

/**
 * Where the group's snapshots live (the snapshot store and the state machine's image). The group
 * only ever handles snapshot metadata: the image is written, shipped and loaded by the host.
 */
export interface GroupSnapshots {
  /**
   * Prepares the state machine to jump to the snapshot at `metadata.index` (installed from the
   * leader, already in the store): loads and verifies it into fresh containers, and returns the
   * swap, which the group calls synchronously when it sets its applied index.
   */
  install(metadata: SnapshotMetadata): Promise<() => void>;
}


/**
 * 4 MiB: a few seconds of writes at full load, so a follower a little behind is served from
 * memory; one further behind is served by reads of page-cached log segments. More costs RSS on
 * every replica for no faster catch-up (the figures: docs/performance.md).
 */
export const defaultResidentLogBytes = 4 * 1024 * 1024;

export interface RaftGroupOptions {
  readonly groupId: string;
  readonly nodeId: string;
  readonly log: DurableLog;
  readonly stateMachine: GroupStateMachine;
  readonly transport: GroupTransport;
  /**
   * Payload bytes of applied log entries kept in memory (PagedLogStorage); older ones are read
   * back from the log when needed. Default defaultResidentLogBytes.
   */
  readonly residentLogBytes?: number;
  /** The first voters, used only when the log is empty (a new group). */
  readonly bootstrapVoters?: readonly string[];
  /** Their gRPC addresses, written into the bootstrap entries so that every replica learns them. */
  readonly bootstrapAddresses?: ReadonlyMap<string, string>;
  /**
   * State machine payloads every initial replica writes after the membership entries, committed
   * from the start (a data group's slots, the meta group's first records).
   */
  readonly bootstrapProposals?: readonly Uint8Array[];
  /** Called on every replica when a membership change is applied (after the core adopted it). */
  readonly onConfChange?: (change: ConfChange, confState: ConfState) => void;
  readonly random: RandomSource;
  /** Overrides of the core's tuning (ticks, batch sizes). */
  readonly raft?: Partial<Omit<RaftConfig, 'id' | 'random' | 'applied' | 'logger'>>;
  readonly logger?: RaftLogger;
  /**
   * Called once if the group fails (its log could not be written). The process should stop: a
   * node that cannot persist must not keep taking part (a leader would go on heartbeating, and
   * its followers would never elect a working one). A restart recovers from what is on disk.
   */
  readonly onFatal?: (error: Error) => void;
  /** Called when this node learns of a new leader (or loses it: ''). */
  readonly onSoftState?: (state: SoftState, term: number) => void;
  /**
   * The snapshot the state machine was loaded from before the group opened (the newest in the
   * store), or none. The log is made to continue from it (see open()).
   */
  readonly initialSnapshot?: SnapshotMetadata;
  /** Needed to install snapshots from a leader. */
  readonly snapshots?: GroupSnapshots;
  /**
   * Where the Ready loop is scheduled: the host's round (ready_round.ts), so that the loops of all
   * its groups run in one turn and their messages leave together; a setImmediate of its own
   * without it.
   */
  readonly round?: { schedule(run: () => void): void };
}

/** A log compaction the host asked for; run by the loop between two Readies. */
interface CompactionRequest {
  readonly snapshot: SnapshotMetadata;
  readonly keepEntries: number;
  readonly keepBytes: number;
  readonly deferred: Deferred<void>;
}

const envelopeVersion = 1;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/**
 * A proposal as stored in the log: a request id (so the proposer can find its waiter when the
 * entry is applied, on whichever node it proposed from) and the state machine's payload.
 *
 *   ┌─────────┬────────┬──────────────┬─────────┐
 *   │ version │ id len │ request id   │ payload │
 *   │ u8 = 1  │ u8     │ utf-8        │ ...     │
 *   └─────────┴────────┴──────────────┴─────────┘
 */
export function encodeProposal(requestId: string, payload: Uint8Array | PayloadWriter): Uint8Array {
  const id = textEncoder.encode(requestId);
  if (id.length > 255) throw new RangeError('request id longer than 255 bytes');
  const size = payload instanceof Uint8Array ? payload.length : payload.size;
  const out = Buffer.allocUnsafe(2 + id.length + size);
  out[0] = envelopeVersion;
  out[1] = id.length;
  out.set(id, 2);
  if (payload instanceof Uint8Array) out.set(payload, 2 + id.length);
  else payload.writeTo(out, 2 + id.length);
  return out;
}

export function decodeProposal(data: Uint8Array): { requestId: string; payload: Uint8Array } {
  if (data.length < 2 || data[0] !== envelopeVersion || data.length < 2 + data[1]) {
    throw new RangeError('malformed proposal envelope');
  }
  const idLength = data[1];
  return {
    requestId: textDecoder.decode(data.subarray(2, 2 + idLength)),
    payload: data.subarray(2 + idLength),
  };
}

interface ReadWaiter {
  readonly deferred: Deferred<void>;
  index: number;
}

/**
 * One Raft group hosted by this process: it owns the RawNode and runs the Ready loop
 *
 *   ready ─▶ send messages ─▶ persist (one fsync) ─▶ send persisted messages ─▶ apply ─▶ reads ─▶ advance
 *
 * and batches: proposals made in the same event-loop turn become one MsgProp (one append, one
 * fsync, one MsgApp per follower); reads made in the same turn share one ReadIndex round.
 */
export class RaftGroup {
  readonly groupId: string;
  readonly nodeId: string;
  readonly raw: RawNode;
  private readonly storage: PagedLogStorage;
  private readonly options: RaftGroupOptions;
  private readonly logger: RaftLogger;

  private readonly proposalWaiters = new Map<string, Deferred<unknown>>();
  /** Membership changes proposed here, by log index (they carry no request id). */
  private readonly confChangeWaiters = new Map<number, { term: number; deferred: Deferred<void> }>();
  private queuedProposals: { requestId: string; data: Uint8Array }[] = [];
  private preFlush: (() => void)[] = [];
  private readonly readWaiters = new Map<string, ReadWaiter>();
  /** Reads released by the core but waiting for apply to catch up, in release order. */
  private releasedReads: ReadWaiter[] = [];
  private readonly proposerPrefix: string;
  private nextRequest = 1;
  private nextReadContext = 1;
  private loopRunning = false;
  private loopScheduled = false;
  private stopped = false;
  private failure: Error | null = null;
  private appliedIndex: number;
  private lastSoftState: SoftState;
  /** Resolves once the log is replayed up to the commit index known at start. */
  private readonly caughtUp = new Deferred<void>();
  private replayTarget: number;
  private compaction: CompactionRequest | null = null;
  /**
   * While a Ready waits for its fsync: whether its own committed entries are applied already, so
   * that entries committed meanwhile may be applied at once (RawNode.takeDurableCommitted).
   */
  private applyWhileSyncing = false;
  /** Counters for INFO and benchmarks. */
  readonly stats = { fsyncs: 0, readies: 0, entriesPersisted: 0, applied: 0 };

  private constructor(options: RaftGroupOptions, storage: PagedLogStorage, applied: number) {
    this.options = options;
    this.groupId = options.groupId;
    this.nodeId = options.nodeId;
    this.storage = storage;
    this.logger = options.logger ?? silentLogger;
    this.raw = new RawNode(
      {
        ...defaultRaftConfig,
        ...options.raft,
        id: options.nodeId,
        applied,
        random: options.random,
        logger: this.logger,
      },
      storage,
    );
    this.appliedIndex = applied;
    this.lastSoftState = this.raw.softState();
    this.replayTarget = this.raw.basicStatus().hardState.commit;
    // Unique across restarts of this node, so that a waiter never matches an older entry.
    this.proposerPrefix = `${options.nodeId}.${options.random.intBelow(0x7fffffff).toString(36)}.`;
    if (this.appliedIndex >= this.replayTarget) this.caughtUp.resolve();
    // A failed start is reported to whoever awaits ready(); nobody awaiting is not a crash.
    this.caughtUp.promise.catch(() => {});
  }

  /**
   * Loads the durable log (bootstrapping a new group if it is empty and has no snapshot) and
   * starts the group.
   *
   * With an initial snapshot (the newest in the store, already loaded into the state machine),
   * the log is made to continue from it. The store is written before the log (a snapshot is
   * published, then the log is compacted or reset to it), so after a crash the store may be
   * ahead of the log's own marker, never behind it. Log entries after the snapshot are kept when
   * the log holds the snapshot's own entry with its term (Log Matching says the rest follows);
   * otherwise (the log ends before it, or disagrees) the log is reset to start after it.
   * Snapshots only ever hold committed state, so the commit index is raised to it.
   */
  static async open(options: RaftGroupOptions): Promise<RaftGroup> {
    const persisted = await options.log.load();
    const storage = new PagedLogStorage(options.log, options.residentLogBytes ?? defaultResidentLogBytes);
    let hardState = persisted.hardState;
    let entries = persisted.entries;
    const initial = options.initialSnapshot ?? null;
    const logSnapshot = persisted.snapshot;
    if (logSnapshot !== null && (initial === null || initial.index < logSnapshot.index)) {
      throw new QuorumError(
        'SNAPSHOT_MISSING',
        `the log of group ${options.groupId} starts after index ${logSnapshot.index}, but the newest snapshot is ${initial === null ? 'missing' : `at ${initial.index}`}`,
        'fail',
      );
    }
    const empty = initial === null && entries.length === 0 && hardState.term === 0;
    if (empty && options.bootstrapVoters && options.bootstrapVoters.length > 0) {
      const initial = (options.bootstrapProposals ?? []).map((payload, i) => encodeProposal(`bootstrap.${i + 1}`, payload));
      const boot = bootstrapLog(options.bootstrapVoters, (id) => options.bootstrapAddresses?.get(id), initial);
      await options.log.save({ hardState: boot.hardState, entries: boot.entries });
      hardState = boot.hardState;
      entries = boot.entries;
    }
    let applied = 0;
    if (initial !== null) {
      hardState = hardStateAtLeast(hardState, initial);
      const at = entries.length > 0 ? initial.index - entries[0].index : -1;
      const onLogMarker = logSnapshot !== null && logSnapshot.index === initial.index && logSnapshot.term === initial.term;
      if (at >= 0 && at < entries.length && entries[at].term === initial.term) {
        entries = entries.slice(at + 1);
      } else if (!onLogMarker || (entries.length > 0 && entries[0].index !== initial.index + 1)) {
        // The log ends before the snapshot or disagrees with it: it starts after the snapshot now.
        await options.log.save({ hardState, snapshot: initial });
        entries = [];
      }
      storage.applySnapshot({ metadata: initial, data: new Uint8Array(0) });
      applied = initial.index;
    }
    storage.setHardState(hardState);
    storage.append(entries);
    const group = new RaftGroup(options, storage, applied);
    group.schedule();
    return group;
  }

  // ------------------------------------------------------------------ public API

  /** The in-memory log's payload bytes and how many entries were read back from disk (INFO). */
  logMemory(): { residentPayloadBytes: number; pageIns: number } {
    return { residentPayloadBytes: this.storage.residentPayloadBytes, pageIns: this.storage.pageIns };
  }

  /** Resolves when the group has re-applied everything committed before it restarted. */
  ready(): Promise<void> {
    return this.caughtUp.promise;
  }

  isLeader(): boolean {
    return this.raw.softState().state === StateType.Leader;
  }

  leaderId(): string {
    return this.raw.softState().lead;
  }

  term(): number {
    return this.raw.term();
  }

  confState(): ConfState {
    return this.raw.basicStatus().config;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** The term of a log entry still in the log (or of the snapshot's index). */
  termOf(index: number): number {
    return this.raw.logTerm(index);
  }

  /** The snapshot the in-memory log starts after (what a leader ships to a follower too far behind). */
  snapshotMetadata(): SnapshotMetadata {
    return this.storage.snapshot().metadata;
  }

  /** Index of the first entry still in the log. */
  firstIndex(): number {
    return this.storage.firstIndex();
  }

  /** The host finished (or failed) shipping a snapshot to `peerId`. */
  reportSnapshot(peerId: string, failed: boolean): void {
    if (this.stopped) return;
    this.raw.reportSnapshot(peerId, failed);
    this.schedule();
  }

  /**
   * After the host published a snapshot at `snapshot.index` (an index this node has applied):
   * makes it the snapshot the log starts after, and drops the log entries before it except the
   * last `keepEntries` of them holding at most `keepBytes` (a restart reads what is kept), in the
   * durable log and in memory. Runs in the Ready loop between two Readies (the
   * durable log takes one call at a time). Resolves when done, or at once when there is nothing
   * to do; a later request replaces one not yet started.
   */
  compactLog(snapshot: SnapshotMetadata, keepEntries: number, keepBytes = Number.POSITIVE_INFINITY): Promise<void> {
    const unavailable = this.unavailable();
    if (unavailable) return Promise.reject(unavailable);
    this.compaction?.deferred.resolve();
    const deferred = new Deferred<void>();
    this.compaction = { snapshot, keepEntries, keepBytes, deferred };
    this.schedule();
    return deferred.promise;
  }

  /**
   * Starts an election now instead of waiting for the election timeout: the preferred leader of
   * a new group does, so that leaders start spread over the nodes.
   */
  campaign(): void {
    if (this.stopped) return;
    this.raw.campaign();
    this.schedule();
  }

  /** Advances the core's clock by one tick (the host's timer calls this). */
  tick(): void {
    if (this.stopped) return;
    this.raw.tick();
    this.schedule();
  }

  /** Whether the group is quiet here: idle, its ticks doing nothing (see Raft.quiesce and quiescence.ts). */
  get quiet(): boolean {
    return this.raw.isQuiet();
  }

  /**
   * As the leader, goes quiet if the group is idle and every member `isLive` says is up holds the
   * whole log (one last heartbeat marked quiesce goes to each). Returns whether it is quiet.
   */
  quiesce(isLive: (id: string) => boolean): boolean {
    if (this.stopped) return false;
    if (this.raw.isQuiet()) return true;
    const quiet = this.raw.quiesce(isLive);
    if (quiet) this.schedule();
    return quiet;
  }

  /** Ends a quiet period (node liveness: a member's node came back, or one looks down). */
  wake(): void {
    if (this.stopped || !this.raw.isQuiet()) return;
    this.raw.wake();
    this.schedule();
  }

  /** Node liveness says this follower's leader is down: see RawNode.leaderLost. */
  leaderLost(): void {
    if (this.stopped) return;
    this.raw.leaderLost();
    this.schedule();
  }

  /** Feeds a message from a peer. */
  step(m: Message): void {
    if (this.stopped) return;
    try {
      this.raw.step(m);
    } catch (err) {
      // A forwarded proposal that cannot be appended here is dropped; its proposer times out.
      if (!(err instanceof ProposalDroppedError)) throw err;
    }
    if (this.applyWhileSyncing) this.applyDuringSync();
    this.schedule();
  }

  /**
   * An acknowledgement (or a leader's commit index) arriving while our fsync is in flight often
   * commits entries persisted by an earlier Ready: apply them and release the reads now rather
   * than after that fsync, so their clients get their replies one fsync sooner.
   */
  private applyDuringSync(): void {
    const entries = this.raw.takeDurableCommitted();
    for (const e of entries) this.applyEntry(e);
    const reads = this.raw.takeReadStates();
    for (const rs of reads) this.onReadState(textDecoder.decode(rs.context), rs.index);
    if (entries.length > 0 || reads.length > 0) this.releaseAppliedReads();
  }

  /**
   * Proposes `payload`; resolves with the state machine's result once the entry is committed and
   * applied on this node. Rejects with a `fail` outcome when it certainly did not enter the log,
   * `unknown` when it may still commit.
   */
  propose(payload: Uint8Array | PayloadWriter, requestId?: string): Promise<unknown> {
    const unavailable = this.unavailable();
    if (unavailable) return Promise.reject(unavailable);
    if (requestId !== undefined) {
      // A retry of a request still in flight here joins it instead of proposing it twice.
      const inFlight = this.proposalWaiters.get(requestId);
      if (inFlight) return inFlight.promise;
    } else {
      requestId = this.proposerPrefix + (this.nextRequest++).toString(36);
    }
    const deferred = new Deferred<unknown>();
    this.proposalWaiters.set(requestId, deferred);
    this.queuedProposals.push({ requestId, data: encodeProposal(requestId, payload) });
    this.schedule();
    return deferred.promise;
  }

  /** Whether a membership change is in the log but not yet applied here. */
  hasUnappliedConfChange(): boolean {
    return this.raw.hasConfChangeAfter(this.appliedIndex);
  }

  /**
   * Proposes a membership change (this node must be the leader); resolves once it is applied
   * here. Rejects with ProposalDroppedError when the core refuses it (not leader, another change
   * pending, ...).
   */
  proposeConfChange(change: ConfChange): Promise<void> {
    const unavailable = this.unavailable();
    if (unavailable) return Promise.reject(unavailable);
    // On a follower the core would forward it, and nothing here could wait for it.
    if (!this.isLeader()) return Promise.reject(new ProposalDroppedError(DropReason.NotLeader, `not the leader (the leader is ${this.leaderId() || 'unknown'})`));
    try {
      this.raw.proposeConfChange(change);
    } catch (err) {
      return Promise.reject(err);
    }
    const deferred = new Deferred<void>();
    const { lastIndex, hardState } = this.raw.basicStatus();
    this.confChangeWaiters.set(lastIndex, { term: hardState.term, deferred });
    this.schedule();
    return deferred.promise;
  }

  /**
   * Resolves when a linearizable read may be served from the local state machine: the core
   * confirmed leadership with a quorum after the call, and this node applied up to the read index.
   */
  readBarrier(): Promise<void> {
    const unavailable = this.unavailable();
    if (unavailable) return Promise.reject(unavailable);
    const context = `${this.proposerPrefix}r${(this.nextReadContext++).toString(36)}`;
    const waiter: ReadWaiter = { deferred: new Deferred<void>(), index: 0 };
    this.readWaiters.set(context, waiter);
    this.raw.readIndex(textEncoder.encode(context));
    this.schedule();
    return waiter.deferred.promise;
  }

  /** Stops the loop; pending waiters fail (their outcome is unknown for proposals). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.failAll(new OutcomeUnknownError('node is shutting down'));
    while (this.loopRunning) await new Promise((r) => setImmediate(r));
    await this.options.log.close();
  }

  // ------------------------------------------------------------------ the Ready loop

  private unavailable(): Error | null {
    if (this.failure) return new NotReadyError(`group ${this.groupId} failed: ${this.failure.message}`);
    if (this.stopped) return new NotReadyError('node is shutting down');
    return null;
  }

  private schedule(): void {
    if (this.loopScheduled || this.loopRunning || this.stopped) return;
    this.loopScheduled = true;
    // setImmediate, not a microtask: let every request of this I/O turn join the batch first.
    const run = (): void => {
      this.loopScheduled = false;
      void this.runLoop();
    };
    if (this.options.round) this.options.round.schedule(run);
    else setImmediate(run);
  }

  /**
   * Runs `fn` once, when the proposals queued in this turn go to the core (what `fn` proposes
   * joins them, after them); or, if the group stops first, at stop, where a proposal it makes
   * fails at once. For a caller that gathers the writes of a whole turn into one entry.
   */
  beforeNextFlush(fn: () => void): void {
    this.preFlush.push(fn);
    this.schedule();
  }

  private runPreFlush(): void {
    if (this.preFlush.length === 0) return;
    const hooks = this.preFlush;
    this.preFlush = [];
    for (const hook of hooks) hook();
  }

  private flushProposals(): void {
    this.runPreFlush();
    if (this.queuedProposals.length === 0) return;
    const batch = this.queuedProposals;
    this.queuedProposals = [];
    try {
      this.raw.proposeEntries(batch.map((p) => ({ term: 0, index: 0, type: EntryType.Normal, data: p.data })));
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      const reason = this.leaderId() === '' ? new NoLeaderError(err.message, { cause: err }) : err;
      for (const p of batch) this.settleProposal(p.requestId, undefined, reason);
    }
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    try {
      for (;;) {
        if (this.stopped) break;
        if (this.compaction !== null) await this.runCompaction(this.compaction);
        this.flushProposals();
        if (!this.raw.hasReady()) break;
        await this.handleReady(this.raw.ready());
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.loopRunning = false;
    }
    if (!this.stopped && (this.queuedProposals.length > 0 || this.preFlush.length > 0 || this.compaction !== null || this.raw.hasReady())) this.schedule();
  }

  private async runCompaction(request: CompactionRequest): Promise<void> {
    this.compaction = null;
    try {
      const { snapshot } = request;
      // Only a snapshot of what is applied here, and of entries already durable here.
      if (snapshot.index > this.appliedIndex || snapshot.index > this.storage.lastIndex()) return;
      if (snapshot.index > this.storage.snapshot().metadata.index) {
        this.storage.createSnapshot(snapshot.index, snapshot.confState, new Uint8Array(0));
      }
      let compactIndex = Math.max(0, snapshot.index - request.keepEntries);
      if (compactIndex < this.storage.firstIndex()) compactIndex = this.storage.firstIndex() - 1;
      // Keep fewer when the kept entries would hold more than keepBytes.
      let kept = 0;
      for (let i = snapshot.index; i > compactIndex; i--) {
        kept += this.storage.entryBytes(i);
        if (kept > request.keepBytes) {
          compactIndex = i;
          break;
        }
      }
      if (compactIndex < this.storage.firstIndex()) return;
      const marker: SnapshotMetadata =
        compactIndex === snapshot.index ? snapshot : { index: compactIndex, term: this.storage.term(compactIndex), confState: snapshot.confState };
      await this.options.log.compact(marker);
      this.storage.compact(compactIndex);
    } finally {
      request.deferred.resolve();
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    this.stats.readies++;
    if (rd.softState) this.onSoftState(rd.softState);
    if (rd.messages.length > 0) this.options.transport.send(rd.messages);
    // Committed entries that were already durable here (all before this Ready's new entries)
    // are applied before this Ready's fsync instead of after it: their clients get their replies
    // one fsync sooner. Entries committed in the same Ready that brings them must wait.
    const firstNew = rd.entries.length > 0 ? rd.entries[0].index : Number.POSITIVE_INFINITY;
    const applyEarly = !rd.snapshot && (rd.committedEntries.length === 0 || rd.committedEntries[rd.committedEntries.length - 1].index < firstNew);
    if (applyEarly) this.applyReady(rd);
    // A Ready that only moves the commit index needs no fsync: commit is re-learned from the
    // leader after a restart, and reads wait for the leader's commit anyway (ReadIndex).
    if (rd.mustSync) {
      this.applyWhileSyncing = applyEarly && !rd.snapshot && this.failure === null;
      try {
        await this.options.log.save({
          ...(rd.hardState ? { hardState: rd.hardState } : {}),
          ...(rd.entries.length > 0 ? { entries: rd.entries } : {}),
          ...(rd.snapshot ? { snapshot: rd.snapshot.metadata } : {}),
        });
      } finally {
        this.applyWhileSyncing = false;
      }
      this.stats.fsyncs++;
      this.stats.entriesPersisted += rd.entries.length;
      if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) this.storage.append(rd.entries);
    }
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    if (this.stopped) return;
    if (rd.snapshot) await this.installSnapshot(rd.snapshot.metadata);
    if (this.stopped) return;
    if (rd.persistedMessages.length > 0) this.options.transport.send(rd.persistedMessages);
    if (!applyEarly) this.applyReady(rd);
    this.storage.pageOut(this.appliedIndex);
    this.raw.advance(rd);
    if (this.appliedIndex >= this.replayTarget) this.caughtUp.resolve();
  }

  /**
   * A snapshot from the leader replaced the log: the state machine jumps to it. Proposals made
   * here may be inside it or not: their outcome is unknown. Reads wait for the applied index as
   * always, so a read released before is not served from the older state.
   */
  private async installSnapshot(metadata: SnapshotMetadata): Promise<void> {
    if (!this.options.snapshots) throw new QuorumError('SNAPSHOT_UNSUPPORTED', 'this group cannot install snapshots', 'fail');
    const swap = await this.options.snapshots.install(metadata);
    if (this.stopped) return;
    swap();
    this.appliedIndex = metadata.index;
    this.failProposals(new OutcomeUnknownError(`a snapshot at index ${metadata.index} replaced the log`));
    this.logger.info('installed snapshot', { group: this.groupId, index: metadata.index, term: metadata.term });
  }

  private applyReady(rd: Ready): void {
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) this.onReadState(textDecoder.decode(rs.context), rs.index);
    this.releaseAppliedReads();
  }

  private applyEntry(e: Entry): void {
    this.appliedIndex = e.index;
    this.stats.applied++;
    if (e.type === EntryType.ConfChange) {
      const change = decodeConfChange(e.data);
      const confState = this.raw.applyConfChange(change);
      this.options.stateMachine.applyMemberChange({
        nodeId: change.nodeId,
        removed: change.type === ConfChangeType.RemoveNode,
        ...(change.context ? { address: change.context } : {}),
      });
      this.options.onConfChange?.(change, confState);
      const waiter = this.confChangeWaiters.get(e.index);
      if (waiter) {
        this.confChangeWaiters.delete(e.index);
        if (waiter.term === e.term) waiter.deferred.resolve();
        else waiter.deferred.reject(new OutcomeUnknownError('the membership change was replaced by another leader'));
      }
      return;
    }
    if (e.data.length === 0) return; // a leader's no-op
    const { requestId, payload } = decodeProposal(e.data);
    const result = this.options.stateMachine.apply(e.index, payload, requestId);
    this.settleProposal(requestId, result, null);
  }

  private settleProposal(requestId: string, result: unknown, error: Error | null): void {
    const waiter = this.proposalWaiters.get(requestId);
    if (!waiter) return;
    this.proposalWaiters.delete(requestId);
    if (error) waiter.reject(error);
    else waiter.resolve(result);
  }

  private onReadState(context: string, index: number): void {
    const waiter = this.readWaiters.get(context);
    if (!waiter) return; // a duplicate release, or a read that already failed
    this.readWaiters.delete(context);
    waiter.index = index;
    this.releasedReads.push(waiter);
  }

  private releaseAppliedReads(): void {
    if (this.releasedReads.length === 0) return;
    const waiting: ReadWaiter[] = [];
    for (const w of this.releasedReads) {
      if (w.index <= this.appliedIndex) w.deferred.resolve();
      else waiting.push(w);
    }
    this.releasedReads = waiting;
  }

  private onSoftState(ss: SoftState): void {
    const previous = this.lastSoftState;
    this.lastSoftState = ss;
    this.options.onSoftState?.(ss, this.raw.term());
    if (previous.lead !== '' && previous.lead !== ss.lead) {
      // The leader our proposals and reads went through is gone: proposals may or may not
      // commit under the next leader, so their outcome is unknown; reads simply failed.
      const why = `leader changed from ${previous.lead} to ${ss.lead || 'none'}`;
      this.failWaiters(new OutcomeUnknownError(`${why} before the commit was known`), new NoLeaderError(why));
    }
  }

  /** Fails the waiters of proposals made here (entries and membership changes). */
  private failProposals(error: Error): void {
    for (const w of this.proposalWaiters.values()) w.reject(error);
    this.proposalWaiters.clear();
    for (const w of this.confChangeWaiters.values()) w.deferred.reject(error);
    this.confChangeWaiters.clear();
  }

  private failWaiters(proposalError: Error, readError: Error): void {
    this.failProposals(proposalError);
    this.queuedProposals = [];
    for (const w of this.readWaiters.values()) w.deferred.reject(readError);
    this.readWaiters.clear();
    for (const w of this.releasedReads) w.deferred.reject(readError);
    this.releasedReads = [];
  }

  private failAll(error: Error): void {
    this.runPreFlush(); // their proposals fail now (unavailable) instead of waiting for ever
    this.failWaiters(error, error);
  }

  private fail(error: Error): void {
    this.failure = error;
    this.logger.warn('raft group failed; it serves nothing until restarted', { group: this.groupId, error: error.message });
    this.failAll(new OutcomeUnknownError(`group failed: ${error.message}`, { cause: error }));
    this.caughtUp.reject(error);
    this.stopped = true;
    this.options.onFatal?.(error);
  }
}

/** A hard state whose term and commit reach the snapshot's (a snapshot holds only committed state). */
function hardStateAtLeast(hs: HardState, snapshot: SnapshotMetadata): HardState {
  const term = Math.max(hs.term, snapshot.term);
  return { term, vote: term === hs.term ? hs.vote : '', commit: Math.max(hs.commit, snapshot.index) };
}
