import type { Logger } from 'pino';
import type { MembershipCall } from '../admin/membership_call.js';
import type { GroupStatus } from '../admin/status.js';
import { MessageType, type ConfChange, type ConfState, type Message, type SnapshotMetadata } from '../raft/index.js';
import type { Reply } from '../resp/reply.js';
import { KvStateMachine, type SplitOff } from '../state/kv_state_machine.js';
import type { MembersRecord } from '../state/snapshot_image.js';
import { WriteFlags, writeEntryWriter } from '../state/write_entry.js';
import type { DurableLog } from '../storage/durable_log.js';
import { SnapshotStore, type SnapshotReader } from '../storage/snapshot_store.js';
import type { SnapshotInfo } from '../storage/snapshot_format.js';
import type { Forwarder } from '../transport/forward.js';
import { defaultPeerStreamLimits } from '../transport/grpc_transport.js';
import type { GroupTransport } from '../transport/group_transport.js';
import type { IncomingSnapshot, OutgoingSnapshot } from '../transport/snapshot_transfer.js';
import type { SeededRandom } from '../util/random.js';
import { ActiveExpiry } from './active_expiry.js';
import type { CommandCatalog } from './command_catalog.js';
import { ServerStartError, groupSnapshotDir } from './data_dir.js';
import { Gateway } from './gateway.js';
import { groupStatus } from './group_status.js';
import { Membership } from './membership.js';
import { RaftGroup } from './raft_group.js';
import type { ReadyRound } from './ready_round.js';
import { raftLogger } from './raft_logger.js';
import { SnapshotManager } from './snapshot_manager.js';
import { failpoint } from './failpoints.js';

/** Where every replica of a split-off group starts: a snapshot at index 1, term 1, the same on every node. */
export const splitGroupStart = { index: 1, term: 1 } as const;

/** The settings a replica takes from the node's configuration. */
export interface ReplicaSettings {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly leaderWaitMs: number;
  readonly logCacheBytes: number;
  readonly snapshotEntries: number;
  readonly snapshotBytes: number;
  readonly snapshotCatchupEntries: number;
  readonly snapshotCatchupBytes: number;
}

/** How a replica reaches the same group's replicas on other nodes (the node's transport, for this group). */
export interface ReplicaPeers {
  readonly transport: GroupTransport;
  /**
   * The host's Ready round: the replica's Ready loop runs in it with every other replica's, so
   * that what they all send in a turn leaves in one write per peer (ready_round.ts).
   */
  readonly round: ReadyRound;
  sendSnapshot(peerId: string, snapshot: OutgoingSnapshot): Promise<void>;
  readonly forwarder: Forwarder;
  /** A node's gRPC address, from the node's address book. */
  addressOf(nodeId: string): string | undefined;
  /** Runs a membership call at the node at `address` (the leader), for a replica that does not lead. */
  runOnLeader(address: string, call: MembershipCall): Promise<string>;
}

/** What the host hears from a replica. */
export interface ReplicaEvents {
  /** A membership change was applied (after the core adopted it): the node's address book follows. */
  onConfChange(change: ConfChange): void;
  /** A snapshot replaced the group's state, members included. */
  onMembersRestored(record: MembersRecord): void;
  /** Keys deleted by this replica's active expiry (INFO expired_keys). */
  onExpired(count: number): void;
  /** The group's log could not be written: the node must stop (see RaftGroupOptions.onFatal). */
  onFatal(error: Error): void;
  /**
   * The group applied a split (inside that apply): the host makes this node's replica of the new
   * group from `split`, with the members the group had at that index (`confState`).
   */
  onSplit(split: SplitOff, confState: ConfState): void;
}

export interface GroupReplicaOptions {
  readonly groupId: string;
  readonly nodeId: string;
  readonly dataDir: string;
  /** The group's durable log: its view of the node's shared log (or a FileLog of its own, in a data dir made before the shared log). */
  readonly log: DurableLog;
  readonly settings: ReplicaSettings;
  readonly catalog: CommandCatalog;
  readonly peers: ReplicaPeers;
  readonly events: ReplicaEvents;
  /**
   * The first voters, their addresses and the state machine's first entries, for a group that
   * does not exist yet; none for a replica that catches up from the group's leader.
   */
  readonly bootstrap?: { readonly voters: readonly string[]; readonly addresses: ReadonlyMap<string, string>; readonly proposals?: readonly Uint8Array[] };
  /**
   * The state of a group just split off its parent here (see NodeHost.splitOff), for a replica
   * whose store holds no snapshot yet: it starts from it in memory, at index 1, term 1 with
   * `confState`, as every replica of the new group does, and its first snapshot is written later.
   */
  readonly seed?: { readonly split: SplitOff; readonly confState: ConfState };
  /** Unique per process incarnation: prefix of the request ids this replica's gateway creates. */
  readonly requestIdPrefix: string;
  readonly clock: () => number;
  readonly random: SeededRandom;
  readonly logger: Logger;
}

/** An entry whose apply blocks the node's event loop this long is logged. */
const slowApplyMs = 50;

/**
 * The bytes of MsgApps a leader has in flight to one follower. Without it only their count was
 * bounded (maxInflightMsgs, each up to maxSizePerMsg): a follower far behind in the log (a move's target
 * catching up, a node back from a long absence) made the leader read that much of its log back
 * from disk and encode it in one synchronous turn, stalling every group on the node for seconds
 * (elections everywhere), and the peer stream, whose queue holds far less, dropped most of it
 * (so it was sent again, and again). Half the stream's queue leaves room for the other groups.
 */
const maxInflightBytesPerFollower = defaultPeerStreamLimits.maxQueuedBytes / 2;

/** How many housekeeping rounds (see housekeeping()) between two looks for caught-up learners. */
const promoteEveryRounds = 5;
/** ... and between two looks at whether leadership should go to the group's preferred leader. */
const rebalanceEveryRounds = 20;

/**
 * One replica of one group on this node, opened by group id from its own parts:
 *
 *   DurableLog (node log) ──┐
 *                           ├─▶ RaftGroup ◀── ticks, peer messages (from the host)
 *   KvStateMachine ─────────┤        │
 *   SnapshotManager ────────┘        ├─▶ Gateway      client reads and writes of this group
 *   (SnapshotStore, snapshots/<id>/) ├─▶ ActiveExpiry the leader's expiry cycle
 *                                    └─▶ Membership   add/remove/promote/transfer for this group
 *
 * Nothing here knows how many groups the node hosts: the host routes to a replica by group id
 * and gives it the node's transport for its group.
 */
export class GroupReplica {
  /**
   * Opened from a split's state in memory (options.seed) and no snapshot of it published yet:
   * nothing on this node's disk holds its state but the parent's log (the host clears this once
   * the first snapshot is durable).
   */
  firstSnapshotPending = false;
  private housekeepingRounds = 0;
  private replayed = false;
  private stopped = false;

  private constructor(
    readonly groupId: string,
    readonly group: RaftGroup,
    readonly stateMachine: KvStateMachine,
    readonly snapshots: SnapshotManager,
    private readonly store: SnapshotStore,
    readonly gateway: Gateway,
    readonly membership: Membership,
    private readonly expiry: ActiveExpiry,
    private readonly logger: Logger,
  ) {
    // Until the log is replayed, a restarted replica must not serve an empty or stale state.
    void group.ready().then(
      () => {
        this.replayed = true;
        logger.info({ component: 'node', group: groupId, applied: group.applied }, 'log replayed; serving');
      },
      (err: Error) => logger.error({ component: 'node', group: groupId, error: err.message }, 'the group failed before its log was replayed'),
    );
  }

  static async open(options: GroupReplicaOptions): Promise<GroupReplica> {
    const { groupId, nodeId, settings, catalog, peers, events, clock, random, logger } = options;
    const unit = (): number => random.intBelow(0x1_0000_0000) / 0x1_0000_0000;
    let group: RaftGroup | null = null;
    let replica: GroupReplica | null = null;
    const stateMachine = new KvStateMachine({
      newKeyspace: () => catalog.newKeyspace(),
      resolveWrite: (name) => catalog.resolveWrite(name),
      onSplit: (split) => events.onSplit(split, group!.confState()),
    });
    const store = await SnapshotStore.open({
      dir: groupSnapshotDir(options.dataDir, groupId),
      groupId,
      logger: logger.child({ component: 'snapshot-store', group: groupId }),
    }).catch((err: Error) => {
      throw new ServerStartError(`snapshot store of group ${groupId} is unusable: ${err.message}`, { cause: err });
    });
    try {
      const snapshots = new SnapshotManager({
        groupId,
        store,
        stateMachine: {
          beginSnapshot: () => stateMachine.beginSnapshot(),
          restore: async (image) => {
            const swap = await stateMachine.restore(image);
            return () => {
              swap();
              events.onMembersRestored(stateMachine.members.record());
            };
          },
        },
        policy: {
          entries: settings.snapshotEntries,
          bytes: settings.snapshotBytes,
          catchupEntries: settings.snapshotCatchupEntries,
          catchupBytes: settings.snapshotCatchupBytes,
        },
        sendSnapshot: (peerId, snapshot) => peers.sendSnapshot(peerId, snapshot),
        clock,
        random: unit,
        logger,
      });
      const loadStarted = performance.now();
      let initial: SnapshotMetadata | null = await snapshots.loadLatest();
      const seeded = initial === null && options.seed !== undefined;
      if (seeded) {
        const { split, confState } = options.seed!;
        stateMachine.keyspace.adopt(split.keyspace);
        stateMachine.dedup.restore(split.dedup);
        stateMachine.members.replace(split.members);
        events.onMembersRestored(stateMachine.members.record());
        initial = { ...splitGroupStart, confState };
      } else if (initial !== null) {
        logger.info(
          { component: 'snapshot', group: groupId, index: initial.index, keys: stateMachine.keyspace.size, ms: Math.round(performance.now() - loadStarted) },
          'loaded the newest snapshot',
        );
      }
      group = await RaftGroup.open({
        groupId,
        nodeId,
        log: options.log,
        residentLogBytes: settings.logCacheBytes,
        stateMachine: {
          apply: (index, payload, requestId) => {
            snapshots.noteApplied(payload.length);
            if (replica?.firstSnapshotPending === true) failpoint('split-child-pending');
            const started = performance.now();
            const reply = stateMachine.apply(index, payload, requestId);
            const ms = performance.now() - started;
            // Every group of the node waited for it (a split's extraction, say): said, with its cost.
            if (ms >= slowApplyMs) logger.info({ component: 'raft', group: groupId, index, ms: Math.round(ms) }, 'slow apply');
            return reply;
          },
          applyMemberChange: (change) => stateMachine.applyMemberChange(change),
        },
        transport: {
          // A snapshot travels only by InstallSnapshot, image and all (SnapshotManager.ship): the
          // core's MsgSnap carries only its metadata.
          send: (messages: readonly Message[]) => {
            let regular = messages;
            if (messages.some((m) => m.type === MessageType.MsgSnap)) {
              regular = messages.filter((m) => m.type !== MessageType.MsgSnap);
              for (const m of messages) if (m.type === MessageType.MsgSnap) snapshots.ship(m);
            }
            if (regular.length > 0) peers.transport.send(regular);
          },
        },
        ...(options.bootstrap
          ? { bootstrapVoters: options.bootstrap.voters, bootstrapAddresses: options.bootstrap.addresses, bootstrapProposals: options.bootstrap.proposals ?? [] }
          : {}),
        ...(initial !== null ? { initialSnapshot: { index: initial.index, term: initial.term, confState: initial.confState } } : {}),
        snapshots,
        round: peers.round,
        onConfChange: (change) => events.onConfChange(change),
        random,
        raft: { electionTick: settings.electionTicks, heartbeatTick: settings.heartbeatTicks, maxInflightBytes: maxInflightBytesPerFollower },
        logger: raftLogger(logger, 'raft', groupId),
        onFatal: (err) => events.onFatal(err),
        onSoftState: (ss, term) => logger.info({ component: 'raft', group: groupId, role: ss.state, leader: ss.lead, term }, 'role changed'),
      });
      snapshots.attach(group);
      const openGroup = group;
      const gateway = new Gateway({
        group: openGroup,
        keyspace: stateMachine.keyspace,
        forwarder: peers.forwarder,
        clock,
        random: unit,
        leaderWaitMs: settings.leaderWaitMs,
        requestIdPrefix: options.requestIdPrefix,
      });
      const membership = new Membership({
        group: openGroup,
        addressOf: (id) => stateMachine.members.addressOf(id) ?? peers.addressOf(id),
        wasMember: (id) => stateMachine.members.wasMember(id),
        // Passed on as a call on this group, so that the leader acts on this group only.
        onLeader: (address, call) => peers.runOnLeader(address, { ...call, group: groupId }),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        waitMs: 10_000,
      });
      const keyspace = stateMachine.keyspace;
      const expiry = new ActiveExpiry({
        isLeader: () => openGroup.isLeader(),
        sampleKeysWithTtl: (count) => catalog.sampleKeysWithTtl(keyspace, count, unit),
        isExpired: (key, now) => catalog.isExpired(keyspace, key, now),
        proposeExpire: async (keys) => {
          const payload = writeEntryWriter({ flags: WriteFlags.dedup, timeMs: clock(), args: [Buffer.from(catalog.expireKeysCommand), ...keys] });
          const reply = (await openGroup.propose(payload, gateway.newRequestId())) as Reply;
          return reply.kind === 'integer' ? Number(reply.value) : 0;
        },
        clock,
        onExpired: (n) => events.onExpired(n),
      });
      replica = new GroupReplica(groupId, openGroup, stateMachine, snapshots, store, gateway, membership, expiry, logger);
      replica.firstSnapshotPending = seeded;
      return replica;
    } catch (err) {
      await group?.stop().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  /** Whether the log is replayed up to what was committed at start (until then: LOADING). */
  get serving(): boolean {
    return this.replayed;
  }

  /** One Raft tick (the host's ticker). */
  tick(): void {
    this.group.tick();
  }

  /**
   * The host's periodic round (every 100 ms): the leader's active-expiry cycle, and now and then
   * the promotion of learners that caught up.
   */
  /** Writes applied per second here, over the last rate window (admin groups). */
  writesPerSec = 0;
  private rateWindow = { writes: 0, rounds: 0 };

  housekeeping(preferredLeader = ''): void {
    if (this.stopped) return;
    this.expiry.cycle();
    const round = ++this.housekeepingRounds;
    // Housekeeping runs every 100 ms: the rate over the last 2 s.
    if (++this.rateWindow.rounds === 20) {
      this.writesPerSec = (this.stateMachine.appliedWrites - this.rateWindow.writes) / 2;
      this.rateWindow = { writes: this.stateMachine.appliedWrites, rounds: 0 };
    }
    if (round % promoteEveryRounds === 0) void this.membership.promoteCaughtUpLearners();
    if (round % rebalanceEveryRounds === 0) this.handToPreferredLeader(preferredLeader);
  }

  /**
   * Leaders spread over the nodes: each group has a preferred leader (the layout's, kept by the
   * meta group), and a leader that is not it hands leadership over once the preferred one is a
   * voter whose log is complete. An election won by whichever node timed out first (a node that
   * started late, one that came back) is so undone within seconds, without anyone asking.
   */
  private handToPreferredLeader(preferred: string): void {
    if (preferred === '' || !this.group.isLeader() || preferred === this.group.nodeId) return;
    const status = this.group.raw.status();
    if (status.leadTransferee !== '' || !status.config.voters.includes(preferred)) return;
    const progress = status.progress.get(preferred);
    if (!progress || progress.matchIndex < status.lastIndex || !progress.recentActive) return;
    this.logger.info({ component: 'node', group: this.groupId, to: preferred }, 'handing leadership to the preferred leader');
    this.group.raw.transferLeader(preferred);
    this.group.tick();
  }

  /** A Raft message from a peer for this group. */
  step(message: Message): void {
    // A snapshot travels only by InstallSnapshot, image and all: one without its image on the
    // message stream would make the core adopt state this node does not have.
    if (message.type === MessageType.MsgSnap) return;
    this.group.step(message);
  }

  reportUnreachable(peerId: string): void {
    this.group.raw.reportUnreachable(peerId);
  }

  /** A snapshot streamed from this group's leader (InstallSnapshot). */
  receiveSnapshot(incoming: IncomingSnapshot): Promise<void> {
    return this.snapshots.receive(incoming);
  }

  /** Takes a snapshot now (admin snapshot). */
  snapshotNow(): Promise<SnapshotInfo> {
    return this.snapshots.snapshotNow();
  }

  /**
   * A consistent backup, on the leader: it first confirms it still leads and has applied
   * everything committed (a read barrier, as a linearizable read), then snapshots that state, so
   * the backup holds every write acknowledged before it was asked for. The caller closes the reader.
   */
  async backup(): Promise<SnapshotReader> {
    await this.group.readBarrier();
    await this.snapshots.snapshotNow();
    return this.snapshots.openLatest();
  }

  status(): GroupStatus {
    return groupStatus(this.group);
  }

  /** Fails what is in flight, flushes the log, closes the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.group.stop();
    await this.snapshots.stop();
    await this.store.close();
    this.logger.info({ component: 'node', group: this.groupId }, 'group replica stopped');
  }
}
