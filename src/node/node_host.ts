import { randomBytes } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { adminChange, adminMoveReplica, adminSplit, adminStatus } from '../admin/admin_client.js';
import { BackupNotLeaderError, registerAdminService, type GroupSummary, type MoveReplicaCall, type NodeSummary, type SnapshotProvider } from '../admin/admin_service.js';
import type { NodeStatus } from '../admin/status.js';
import type { ClientState, ClusterContext, ServerContext } from '../commands/connection_context.js';
import type { ServerConfig } from '../config/config.js';
import { ConfChangeType, MessageType, type ConfChange, type ConfState, type Message } from '../raft/index.js';
import { withGroup, type MembershipCall } from '../admin/membership_call.js';
import { error } from '../resp/reply.js';
import type { MembersRecord } from '../state/snapshot_image.js';
import { GrpcForwarder, registerForwardService } from '../transport/forward.js';
import { GrpcPeerTransport, peerServerOptions } from '../transport/grpc_transport.js';
import type { HeldLock } from '../storage/lock_file.js';
import { QuorumError } from '../util/errors.js';
import { SeededRandom } from '../util/random.js';
import { dataGroupName, initialLayout, isDataGroupId, metaGroupId, type ClusterLayout, type GroupLayout } from '../cluster/layout.js';
import { RoutingTable, compareGroupIds, groupCounterName, groupRecordEntry, layoutRecords, metaRecordsOf, nodeRecordEntry, type GroupRecord } from '../cluster/meta_records.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import { META_PUT_COMMAND, metaNextArgs, metaPutArgs } from '../commands/internal/meta_put.js';
import { splitArgs } from '../commands/internal/split.js';
import { ownSlotsArgs } from '../commands/internal/own_slots.js';
import type { SplitOff } from '../state/kv_state_machine.js';
import { SlotSet, formatSlotRanges } from '../state/slot_set.js';
import type { DurableLog } from '../storage/durable_log.js';
import { FileLog } from '../storage/file_log.js';
import { NodeLog } from '../storage/node_log.js';
import { SnapshotStore } from '../storage/snapshot_store.js';
import type { Reply } from '../resp/reply.js';
import { writeEntryWriter } from '../state/write_entry.js';
import type { CommandCatalog } from './command_catalog.js';
import { classifyCommand } from './command_classifier.js';
import { CommandRouter, type ClusterRouting, type GroupEndpoint } from './command_router.js';
import { ClusterTopology, type GroupFacts } from './cluster_view.js';
import { RemoteGroup } from './remote_group.js';
import { ServerStartError, groupLogDir, groupSnapshotDir, hostedGroupIds, loadOrCreateMeta, nodeLogDir, prepareDataDir, saveMeta } from './data_dir.js';
import { failpoint, failpointArmed } from './failpoints.js';
import { clearSplitPending, markSplitPending, pendingSplits, type PendingSplit } from './split_marker.js';
import { MembershipError, forwardToLeader } from './membership.js';
import { NodeLiveness } from './node_liveness.js';
import { RemovedReplicaCheck, type ReplicaView } from './removed_replica_check.js';
import { StallWatch } from './stall_watch.js';
import { Quiescence } from './quiescence.js';
import { ReadyRound } from './ready_round.js';
import { GroupReplica } from './group_replica.js';
import { infoSection, infoSectionNames, type InfoSources, type RaftNodeFigures } from './info.js';
import type { RaftGroup } from './raft_group.js';
import { usedMemory } from './process_usage.js';
import { raftLogger } from './raft_logger.js';
import { RespServer } from './resp_server.js';
import { ServerStats } from './server_stats.js';

export { ServerStartError };

export const quorumkvVersion = '0.1.0';
/** What clients see as the Redis version they talk to (INFO, HELLO). */
export const compatibleRedisVersion = '7.0.0';

/** How often the host runs its replicas' housekeeping (expiry cycles, learner promotion) and samples its stats. */
const housekeepingMs = 100;
/** How long a move waits for its target to catch up and be promoted. */
const moveCatchUpMs = 240_000;
/**
 * The deadline of one step of a move passed on to the leader (adding the target, or removing the
 * source, with a hand-off of the leadership first if the source leads).
 */
const moveStepTimeoutMs = 60_000;
/** An event-loop stall at least this long is logged (stall_watch.ts). */
const stallReportMs = 200;

/**
 * One quorumkv node: the host of this node's group replicas.
 *
 *   RESP clients ─▶ RespServer ─▶ classify ─▶ route by group ─▶ replica.gateway
 *   gRPC peers   ─▶ GrpcPeerTransport ─▶ route by group id ─▶ replica.step / receiveSnapshot
 *                   Forward service    ─▶ route by group id ─▶ replica.gateway.handleForwarded
 *                   Admin service      ─▶ status of every replica; membership, backup of a group
 *   one ticker   ─▶ every replica.tick();  housekeeping every 100 ms ─▶ replica.housekeeping()
 *
 * The host owns what is one per process: the data dir and its lock, the address book
 * (node.json), the peer transport, the gRPC and RESP servers, the timers, the stats. Today it
 * opens one data group; every path above already goes through the map of replicas by group id.
 * `stop()` is the SIGTERM path: stop accepting, fail in-flight requests, flush, release the dir.
 */
export class NodeHost {
  respPort = 0;
  grpcPort = 0;
  private readonly replicas = new Map<string, GroupReplica>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stallWatch: StallWatch | null = null;
  private readonly stats: ServerStats;
  private readonly startedAtMs: number;
  private resp: RespServer | null = null;
  private stopped = false;
  /** Random per process start: peers tell a restart of this node by it (node liveness). */
  private readonly incarnation = randomBytes(8).toString('hex');
  private readonly liveness: NodeLiveness;
  private readonly quiescence: Quiescence;
  private readonly removedCheck: RemovedReplicaCheck;
  /** Every replica's Ready loop runs in it, so what they send in a turn leaves together. */
  private readonly readyRound = new ReadyRound();

  private constructor(
    readonly config: ServerConfig,
    private readonly logger: Logger,
    private readonly catalog: CommandCatalog,
    /** The data dir's lock: held, its fd open, from start until stop() has flushed everything. */
    private readonly dataDirLock: HeldLock,
    private readonly addressBook: Map<string, string>,
    private readonly transport: GrpcPeerTransport,
    private readonly forwarder: GrpcForwarder,
    private readonly grpcServer: grpc.Server,
    private readonly clock: () => number,
    /** The node's one log, shared by its groups: one write and one fdatasync per round for all of them. */
    private readonly nodeLog: NodeLog,
    /** Groups this node was removed from (node.json's leftGroups): never opened here again. */
    private readonly leftGroups: Set<string> = new Set(),
  ) {
    this.startedAtMs = clock();
    this.stats = new ServerStats(this.startedAtMs);
    // A peer not heard from for an election timeout looks down: the same patience a follower's
    // election timer has with a leader's heartbeats.
    this.liveness = new NodeLiveness(config.id, config.electionTicks);
    this.quiescence = new Quiescence(this.liveness, config.quiesce);
    this.removedCheck = new RemovedReplicaCheck({
      selfId: config.id,
      askStatus: (nodeId) => {
        const address = this.addressBook.get(nodeId);
        return address === undefined ? Promise.resolve(null) : adminStatus(address, { timeoutMs: 2_000 });
      },
      clock,
      // Several election timeouts: a group in an ordinary election has a leader again by then.
      patienceMs: 5 * config.electionTicks * config.tickMs,
      onRemoved: (groupId, by) => this.learnRemoval(groupId, by),
    });
  }

  static async start(config: ServerConfig, logger: Logger, catalog: CommandCatalog): Promise<NodeHost> {
    const clock = (): number => Date.now();
    const dataDirLock = await prepareDataDir(config);
    let host: NodeHost | null = null;
    let nodeLog: NodeLog | null = null;
    try {
      const meta = await loadOrCreateMeta(config, logger);
      const addressBook = new Map(Object.entries(meta.peers));
      const leftGroups = new Set(meta.leftGroups ?? []);
      const transport = new GrpcPeerTransport({
        nodeId: config.id,
        peers: [...addressBook].filter(([id]) => id !== config.id),
        onMessage: (groupId, message) => host?.deliver(groupId, message),
        onBeat: (nodeId, incarnation) => host?.liveness.heard(nodeId, incarnation),
        onUnreachable: (peerId) => {
          for (const replica of host?.replicas.values() ?? []) replica.reportUnreachable(peerId);
        },
        onSnapshot: async (incoming) => {
          if (!host) throw new Error('this node is still starting');
          if (host.awaitingParent.has(incoming.groupId)) throw new Error(`group ${incoming.groupId} waits for its parent's replay of the split here`);
          const replica = host.replicas.get(incoming.groupId) ?? (await host.openJoined(incoming.groupId));
          if (!replica) throw new Error(`group ${incoming.groupId} is not open on this node`);
          return replica.receiveSnapshot(incoming);
        },
        advertiseAddress: `${config.host}:${config.grpcPort}`,
        logger: raftLogger(logger, 'transport'),
      });
      const forwarder = new GrpcForwarder((id) => transport.peers().get(id), clock);
      const grpcServer = new grpc.Server(peerServerOptions);
      nodeLog = new NodeLog({ dir: nodeLogDir(config.dataDir), logger: logger.child({ component: 'storage' }) });
      await nodeLog.open().catch((err: Error) => {
        throw new ServerStartError(`the node log in ${nodeLogDir(config.dataDir)} is unusable: ${err.message}`, { cause: err });
      });
      host = new NodeHost(config, logger, catalog, dataDirLock, addressBook, transport, forwarder, grpcServer, clock, nodeLog, leftGroups);
      // The meta group first: the routing table is read out of it.
      const found = [...new Set([...(await hostedGroupIds(config.dataDir)), ...nodeLog.groupIds()])].sort((a, b) =>
        a === metaGroupId ? -1 : b === metaGroupId ? 1 : compareGroupIds(a, b),
      );
      await host.findPendingSplits();
      const hosted = [];
      for (const groupId of found) {
        // Removed, and stopped before its files were deleted: they go now, unopened.
        if (leftGroups.has(groupId)) await host.deleteGroupFiles(groupId);
        // Made again by its parent's replay of the split (findPendingSplits).
        else if (!host.awaitingParent.has(groupId)) hosted.push(groupId);
      }
      if (hosted.length > 0) {
        for (const groupId of hosted) await host.openOnce(groupId);
      } else if (!config.join) {
        const nodes = addressBook.size > 0 ? [...addressBook.keys()] : [config.id];
        await host.bootstrap(initialLayout(nodes, config.groups, config.replicas));
      }
      host.refreshRouting();
      host.watchPendingSplits();
      await host.listen();
      return host;
    } catch (err) {
      if (host) await host.stop().catch(() => {});
      else await nodeLog?.close().catch(() => {});
      dataDirLock.release();
      throw err;
    }
  }

  /**
   * Creates this node's replicas of a new cluster's groups (those of the layout it is a voter
   * of), each with the entries every initial replica writes: its slots for a data group, the
   * layout itself for the meta group. The preferred leader of each campaigns at once.
   */
  private async bootstrap(layout: ClusterLayout): Promise<void> {
    const self = this.config.id;
    const initial = (g: GroupLayout): Uint8Array[] =>
      g.id === metaGroupId
        ? [writeEntryBytes(ownSlotsArgs(SlotSet.empty())), writeEntryBytes(metaPutArgs(layoutRecords(layout, this.addressBook)))]
        : [writeEntryBytes(ownSlotsArgs(SlotSet.of(g.slots)))];
    for (const g of [layout.meta, ...layout.data]) {
      if (!g.voters.includes(self)) continue;
      const replica = await this.openGroup(g.id, { voters: g.voters, proposals: initial(g) });
      if (g.preferredLeader === self) replica.group.campaign();
    }
    this.logger.info({ component: 'node', groups: layout.data.length, hosted: [...this.replicas.keys()] }, 'new cluster: groups created');
  }

  /** A peer's Raft message: to the replica of its group; a group this node does not host yet is opened for it (see openJoined). */
  private deliver(groupId: string, message: Message): void {
    const replica = this.replicas.get(groupId);
    if (replica) {
      this.quiescence.beforeStep(replica.group, message);
      replica.step(message);
      return;
    }
    if (this.awaitingParent.has(groupId)) return;
    // Being opened (a split applied here an instant after the new group's first leader campaigned,
    // say): handed over once open, in order, so that its vote is not lost to an election timeout.
    const opening = this.opening.get(groupId);
    if (opening) {
      const held = this.heldForOpening.get(groupId) ?? 0;
      if (held >= maxHeldForOpening) return;
      this.heldForOpening.set(groupId, held + 1);
      void opening.then(
        (r) => {
          this.heldForOpening.delete(groupId);
          if (this.replicas.get(groupId) !== r) return;
          this.quiescence.beforeStep(r.group, message);
          r.step(message);
        },
        () => this.heldForOpening.delete(groupId),
      );
      return;
    }
    // Only a leader's message opens an empty replica: a candidate's vote request for a group this
    // node does not host yet is most often a split's new group campaigning before this node
    // applied the split, which would then find the group open, empty, and never make it.
    if (message.to === this.config.id && opensJoinedReplica(message.type)) void this.openJoined(groupId);
  }

  /** Messages waiting for a replica being opened, per group. */
  private readonly heldForOpening = new Map<string, number>();

  private readonly opening = new Map<string, Promise<GroupReplica>>();

  /**
   * Opens an empty replica of a group this node was added to (it hears from the group's leader
   * before it has any state of it): it starts as a --join node does, with no log, and catches up
   * from the leader (a snapshot, then the log). Messages that arrive while it opens are handed to
   * it once open (deliver).
   */
  private openJoined(groupId: string): Promise<GroupReplica | undefined> {
    if (this.stopped || !(groupId === metaGroupId || isDataGroupId(groupId))) return Promise.resolve(undefined);
    // A group this node left: a leader that has not applied the removal yet still sends to it.
    // An empty replica opened for it would never be a member again (ids are never reused in a
    // group), yet the router would send the group's commands to it rather than to the nodes that
    // host the group, and it would report every slot as its own (no slots record): the node
    // answered no command of the group (each waited for the leader-wait and timed out), and
    // `admin groups` showed the group owning every slot (jepsen-lite: register --groups 3 under
    // move, seed 100 of groups.test.ts's register run: a move from the group's leader).
    if (this.leftGroups.has(groupId)) return Promise.resolve(undefined);
    if (!this.replicas.has(groupId) && !this.opening.has(groupId)) {
      failpoint('join-before-open');
      this.logger.info({ component: 'node', group: groupId }, 'a leader reached this node for a group it does not host yet: opening it empty');
    }
    return this.openOnce(groupId).catch((err: Error) => {
      this.logger.warn({ component: 'node', group: groupId, error: err.message }, 'could not open the group');
      return undefined;
    });
  }

  /**
   * Opens this node's replica of `groupId` from what its data dir holds (nothing: an empty replica
   * that catches up from the group's leader), once, whoever asks first: the start-up, a leader's
   * message, a split replayed from the log.
   */
  private openOnce(groupId: string): Promise<GroupReplica> {
    const existing = this.replicas.get(groupId);
    if (existing) return Promise.resolve(existing);
    let opening = this.opening.get(groupId);
    if (!opening) {
      opening = this.openGroup(groupId, undefined)
        .then((replica) => {
          this.refreshRouting();
          return replica;
        })
        .finally(() => this.opening.delete(groupId));
      this.opening.set(groupId, opening);
    }
    return opening;
  }

  /** Opens this node's replica of `groupId` (bootstrapping the group when `bootstrap` is given and it has no state yet). */
  private async openGroup(
    groupId: string,
    bootstrap: { voters: readonly string[]; proposals: readonly Uint8Array[] } | undefined,
    seed?: { split: SplitOff; confState: ConfState },
  ): Promise<GroupReplica> {
    const { config, logger, transport, clock } = this;
    const replica = await GroupReplica.open({
      groupId,
      nodeId: config.id,
      dataDir: config.dataDir,
      log: await this.logOf(groupId),
      settings: config,
      catalog: this.catalog,
      peers: {
        transport: transport.sendFor(groupId),
        round: this.readyRound,
        sendSnapshot: (peerId, snapshot) => transport.sendSnapshot(peerId, snapshot),
        forwarder: this.forwarder.forGroup(groupId),
        addressOf: (id) => this.addressOf(id),
        runOnLeader: (address, call) => adminChange(address, call, { timeoutMs: 30_000 }),
      },
      events: {
        onConfChange: (change) => this.onConfChange(groupId, change),
        onMembersRestored: (record) => this.onMembersRestored(groupId, record),
        onExpired: (n) => {
          this.stats.expiredKeys += n;
        },
        onSplit: (split, confState) => this.splitOff(groupId, split, confState),
        onFatal: (err) => {
          // Crash-stop, as etcd does on a WAL error: the disk decides what survived.
          logger.fatal({ component: 'node', group: groupId, error: err.message }, 'the Raft log failed; stopping the process');
          setTimeout(() => process.exit(1), 50);
        },
      },
      ...(bootstrap ? { bootstrap: { voters: bootstrap.voters, addresses: this.addressBook, proposals: bootstrap.proposals } } : {}),
      ...(seed ? { seed } : {}),
      requestIdPrefix: `${config.id}.${randomBytes(6).toString('base64url')}.`,
      clock,
      random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
      logger,
    });
    this.replicas.set(groupId, replica);
    return replica;
  }

  // ------------------------------------------------------------------ splits

  /**
   * Split-off groups whose replica here was serving from memory when the node stopped, their
   * first snapshot not durable (a pending-split marker; split_marker.ts): they wait, unopened,
   * for their parent's replay of the split to make them again. Nothing else opens them: not a
   * leader's message, not start-up from the node log (which holds only what came after the split).
   */
  private readonly awaitingParent = new Map<string, PendingSplit>();

  /**
   * At start-up, before any group opens: the pending-split markers. A group whose first snapshot
   * was published before the crash (the marker not yet removed) is durable: its marker goes and it
   * opens as any group. The others wait for their parent's replay.
   */
  private async findPendingSplits(): Promise<void> {
    const { dataDir } = this.config;
    for (const [groupId, pending] of await pendingSplits(dataDir)) {
      if (this.leftGroups.has(groupId) || (await hasPublishedSnapshot(dataDir, groupId))) {
        await clearSplitPending(dataDir, groupId);
        continue;
      }
      this.awaitingParent.set(groupId, pending);
      this.logger.info({ component: 'split', group: groupId, parent: pending.parent, index: pending.index }, "the split-off group's first snapshot was not durable: it waits for its parent's replay of the split");
    }
  }

  /**
   * A group whose parent's state here begins after the split (its newest snapshot covers the
   * split: it cannot happen while the parent takes and installs no snapshot until the marker is
   * gone) cannot be made here: it stays unopened, so that its replica here takes no part in the
   * group (the other replicas carry it; `admin move-replica` replaces this one), and says so.
   */
  private watchPendingSplits(): void {
    for (const [groupId, pending] of this.awaitingParent) {
      const parentStart = this.replicas.get(pending.parent)?.snapshots.latestInfo?.index ?? 0;
      if (this.replicas.has(pending.parent) && parentStart < pending.index) continue;
      this.logger.error(
        { component: 'split', group: groupId, parent: pending.parent, index: pending.index, parentSnapshot: parentStart },
        "the parent's log here no longer holds the split: the split-off group's replica here stays closed",
      );
    }
  }

  /**
   * A group applied a split (this runs inside that apply, on every replica of the group): this
   * node makes its replica of the new group, on the same members, from the split-off state as of
   * the split's index. The replica opens from that state in memory, after a durable pending-split
   * marker; its first snapshot is written in the background. Until that snapshot is durable the
   * parent takes no snapshot (so the split entry stays in the parent's log, and a restart replays
   * it to make the new group again, its own log entries then applying on top). On the node that
   * leads the parent, the new group campaigns at once instead of waiting out an election timeout.
   */
  private splitOff(parentId: string, split: SplitOff, confState: ConfState): void {
    const parent = this.replicas.get(parentId);
    this.logger.info({ component: 'split', parent: parentId, group: split.childGroupId, index: split.index, keys: split.keyspace.size, slots: split.keyspace.ownedSlots.toString() }, 'group split');
    const groupId = split.childGroupId;
    // Already hosted or being opened: made by an earlier apply of this split, or opened empty for
    // the new group's leader, which catches it up. A group this node has left is never made again.
    if (this.replicas.has(groupId) || this.opening.has(groupId) || this.leftGroups.has(groupId)) return;
    // The new group's members are the parent's at the split. A node that joined the parent later
    // (a move's target catching up from the log) applies the split too, but is no member of the
    // new group and never will be: a replica made here would have no leader, yet the router would
    // send the group's commands to it, and they would all time out (jepsen-lite counter --groups 3,
    // a move to a spare after a split: every write through the spare timed out).
    if (!confState.voters.includes(this.config.id) && !confState.learners.includes(this.config.id)) return;
    // A fresh split at the parent's leader (not a replay at start-up, where no replica leads yet).
    const campaign = parent?.group.isLeader() === true;
    let firstSnapshot: Promise<void> = Promise.resolve();
    // Registered before anything is awaited, so that nothing else opens the group meanwhile.
    const opening = this.openSplitGroup(parentId, split, confState)
      .then(({ replica, seeded }) => {
        if (seeded) {
          if (campaign) {
            replica.group.campaign();
            void this.recordSplit(parentId, replica);
          }
          firstSnapshot = this.persistFirstSnapshot(replica);
        }
        return replica;
      })
      .finally(() => this.opening.delete(groupId));
    this.opening.set(groupId, opening);
    const done = opening.then(
      () => {
        this.refreshRouting();
        return firstSnapshot;
      },
      (err: Error) => this.logger.error({ component: 'split', group: groupId, parent: parentId, error: err.message }, 'could not make the split-off group here'),
    );
    parent?.snapshots.holdSnapshotsUntil(done);
  }

  /**
   * This node's replica of a split-off group: opened from its store when its first snapshot is
   * durable already (a replay of the split at start-up, the group opened before or after it);
   * otherwise from the split's state, in memory, once the pending-split marker is durable.
   */
  private async openSplitGroup(parentId: string, split: SplitOff, confState: ConfState): Promise<{ replica: GroupReplica; seeded: boolean }> {
    const groupId = split.childGroupId;
    failpoint('split-before-write');
    const pending = this.awaitingParent.has(groupId);
    // A snapshot directory without a marker: written by a marker-less split (older releases) or
    // published and unmarked; either way durable, and newer than the split.
    if (!pending && (await pathExists(groupSnapshotDir(this.config.dataDir, groupId)))) return { replica: await this.openGroup(groupId, undefined), seeded: false };
    if (!pending) await markSplitPending(this.config.dataDir, groupId, { parent: parentId, index: split.index });
    failpoint('split-before-open');
    const replica = await this.openGroup(groupId, undefined, { split, confState });
    this.awaitingParent.delete(groupId);
    return { replica, seeded: replica.firstSnapshotPending };
  }

  /**
   * On the node that led the parent when the split applied: both groups' records in the meta group
   * in one write, at once. Left to each group's leader (reconcileMetaRecords), they came a
   * housekeeping round or more after the split and one at a time, and between the two the moved
   * slots were routed to no group. Routes only: ownership is each group's own state, and a command
   * on a stale route is refused by the group and sent again.
   */
  private async recordSplit(parentId: string, child: GroupReplica): Promise<void> {
    const meta = this.replicas.get(metaGroupId);
    const parent = this.replicas.get(parentId);
    if (!meta || !parent) return;
    this.refreshRouting();
    const record = this.routingTable.group(parentId);
    const parentVoters = parent.group.confState().voters;
    const childVoters = child.group.confState().voters;
    const entries = [
      groupRecordEntry({
        id: parentId,
        voters: parentVoters,
        preferredLeader: record?.preferredLeader && parentVoters.includes(record.preferredLeader) ? record.preferredLeader : this.leastPreferred(parentVoters),
        slots: parent.stateMachine.keyspace.ownedSlots.ranges(),
        epoch: (record?.epoch ?? 0) + 1,
      }),
      groupRecordEntry({ id: child.groupId, voters: childVoters, preferredLeader: this.leastPreferred(childVoters), slots: child.stateMachine.keyspace.ownedSlots.ranges(), epoch: 1 }),
    ];
    const [reply] = await meta.gateway.writeRun([{ spec: this.internal(META_PUT_COMMAND), args: metaPutArgs(entries) }]);
    if (reply!.kind === 'error') this.logger.warn({ component: 'split', group: child.groupId, error: reply!.message }, "could not record the split in the meta group; the groups' leaders will");
    this.refreshRouting();
  }

  /**
   * Writes a split-off group's first snapshot (by its own snapshot manager: the state as applied
   * when it starts, taken copy-on-write while the group serves), trying again until it is
   * durable or the node stops; then removes the pending-split marker, which releases the parent's
   * snapshots.
   */
  private async persistFirstSnapshot(replica: GroupReplica): Promise<void> {
    const groupId = replica.groupId;
    // The crash test's window: the group serves and takes writes, its snapshot never durable.
    if (failpointArmed('split-child-pending')) return new Promise<void>(() => {});
    // Not before the group has a leader (or an election timeout or two passed): writing it takes
    // the CPU that the other replicas, still applying the split on the same cores, need to vote.
    for (const until = this.clock() + 2 * this.config.electionTicks * this.config.tickMs; replica.group.leaderId() === '' && this.clock() < until; ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (let attempt = 1; ; attempt++) {
      if (this.stopped || this.replicas.get(groupId) !== replica) return;
      try {
        const info = await replica.snapshots.snapshotNow();
        failpoint('split-before-unmark');
        await clearSplitPending(this.config.dataDir, groupId);
        replica.firstSnapshotPending = false;
        this.logger.info({ component: 'split', group: groupId, index: info.index, keys: info.recordCount }, "the split-off group's first snapshot is durable");
        return;
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn({ component: 'split', group: groupId, attempt, error: (err as Error).message }, "could not write the split-off group's first snapshot; trying again");
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * attempt)));
      }
    }
  }

  /**
   * `admin split`: on the group's leader (another node passes the call on to it), a new group id
   * from the meta group's counter, then the split as an entry in the group's own log. With
   * `wait`, returns once the routing table says the new group serves its slots and it has a
   * leader.
   */
  private async splitGroup(groupId: string, atSlot: number | null, wait: boolean): Promise<string> {
    const replica = this.replicas.get(groupId);
    if (!replica || groupId === metaGroupId) throw new MembershipError('UNKNOWN_GROUP', `group ${groupId} is not a data group hosted on this node`);
    if (!replica.group.isLeader()) {
      const answer = await this.onLeader(replica, (address) => adminSplit(address, { group: groupId, atSlot, wait }, { timeoutMs: 60_000 }));
      if (answer !== null) return answer;
    }
    const owned = replica.stateMachine.keyspace.ownedSlots;
    const slots = owned.ranges().flatMap(([a, b]) => [a, b]);
    if (owned.size < 2) throw new MembershipError('CANNOT_SPLIT', `group ${groupId} owns ${owned.size} slot(s): nothing to split`);
    const at = atSlot ?? middleSlot(owned);
    if (!owned.has(at) || at === slots[0]) throw new MembershipError('CANNOT_SPLIT', `slot ${at} is not inside ${groupId}'s slots ${owned.toString()} (nor may it be the first)`);
    const meta = this.replicas.get(metaGroupId);
    if (!meta) throw new MembershipError('NO_META', 'this node hosts no replica of the meta group, which gives new groups their ids');
    const [next] = await meta.gateway.writeRun([{ spec: this.internal('qkv.meta-next'), args: metaNextArgs(groupCounterName) }]);
    if (next!.kind !== 'integer') throw new MembershipError('SPLIT_FAILED', `no new group id: ${describeReply(next!)}`);
    const childId = dataGroupName(Number(next!.value));
    const [reply] = await replica.gateway.writeRun([{ spec: this.internal('qkv.split'), args: splitArgs(childId, at) }]);
    if (reply!.kind === 'error') throw new MembershipError('SPLIT_FAILED', `split of ${groupId} at slot ${at}: ${reply!.message}`);
    const line = `split ${groupId} at slot ${at}: ${childId} serves ${formatSlotRanges(owned.ranges().flatMap(([a, b]) => (b >= at ? [[Math.max(a, at), b] as const] : [])))}`;
    if (!wait) return `${line} (not waited for)`;
    const deadline = this.clock() + 60_000;
    for (;;) {
      this.refreshRouting();
      const child = this.replicas.get(childId);
      const routed = this.routingTable.group(childId);
      if (routed && routed.slots.length > 0 && child && child.group.leaderId() !== '') return line;
      if (this.clock() > deadline) throw new MembershipError('SPLIT_TIMEOUT', `${line}, but it did not come to serve within 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * `admin move-replica`: on the group's leader (another node passes the call on), the target is
   * added as a learner, caught up (a snapshot, then the log) and promoted by the promoter; then
   * the source is removed. A source that leads hands its leadership off first and passes the rest
   * of the move to the new leader. The source's replica destroys itself when it applies its
   * removal.
   *
   * Every step looks at the group's configuration before acting, so a move cut short at any step
   * (the node running it killed, the call timed out) resumes where it stopped when run again, and
   * one that had finished answers as done: a crash between the removal and the answer must not
   * leave the operator a move that can neither be finished nor shown finished.
   */
  private async moveReplica(call: MoveReplicaCall): Promise<string> {
    const { group: groupId, from, to } = call;
    const replica = this.replicas.get(groupId);
    if (!replica) throw new MembershipError('UNKNOWN_GROUP', `group ${groupId} is not hosted on this node; send the call to a node that hosts it`);
    if (from === to) throw new MembershipError('BAD_MOVE', 'the source and the target are the same node');
    if (!replica.group.isLeader()) {
      const answer = await this.moveViaLeader(replica, call);
      if (answer !== null) return answer;
    }
    const done = `moved ${groupId}'s replica from ${from} to ${to}`;
    // The configuration a step looks at must hold every change in this leader's log: a leader new
    // since the move was cut short may not have applied the target's addition yet, and would
    // propose it again (refused: a change is in progress) instead of going on.
    for (const until = this.clock() + this.config.leaderWaitMs; replica.group.hasUnappliedConfChange() && this.clock() < until; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const conf = replica.group.confState();
    if (!conf.voters.includes(from)) {
      if (conf.voters.includes(to)) return done;
      throw new MembershipError('NOT_A_VOTER', `${from} is not a voter of ${groupId}`);
    }
    if (!conf.voters.includes(to) && !conf.learners.includes(to)) {
      const address = call.address ?? this.addressOf(to) ?? this.routingTable.node(to)?.grpc;
      if (!address) throw new MembershipError('UNKNOWN_NODE', `the cluster knows no address for ${to}: give it with --grpc HOST:PORT`);
      await replica.membership.run({ kind: 'add-node', nodeId: to, address, group: groupId });
      failpoint('move-after-learner');
    }
    if (!call.wait) return `adding ${to} to ${groupId}; ${from} is to be removed once ${to} is a voter (not waited for)`;
    await this.awaitPromotion(replica, to);
    failpoint('move-after-promote');
    if (from === this.config.id) {
      // A leader cannot remove itself: the new leader finishes the move (it finds the target a
      // voter and goes on with the removal).
      await replica.membership.handOff(from);
      return this.moveReplica(call);
    }
    failpoint('move-before-remove');
    await replica.membership.run({ kind: 'remove-node', nodeId: from, group: groupId });
    failpoint('move-after-remove');
    return done;
  }

  /**
   * A move asked of a node that does not lead the group, passed on to the leader in steps so that
   * no call to it spans the target's catch-up (long for a large group, and a leader may change or
   * a connection drop meanwhile): the first step adds the
   * target, and returns; this node then waits for its own replica to apply the target's
   * promotion (the configuration is replicated here as on every member); the second step removes
   * the source. A step cut short is asked again, and resumes (see moveReplica). Null when this
   * node leads, or comes to lead: the caller runs the rest of the move here.
   */
  private async moveViaLeader(replica: GroupReplica, call: MoveReplicaCall): Promise<string | null> {
    const resumeUntil = this.clock() + moveCatchUpMs;
    const step = (wait: boolean): Promise<string | null> =>
      this.onLeader(replica, (address) => adminMoveReplica(address, { ...call, wait }, { timeoutMs: moveStepTimeoutMs }), resumeUntil);
    if (!replica.group.confState().voters.includes(call.to)) {
      const added = await step(false);
      if (added === null || !call.wait) return added;
      if (!(await this.awaitPromotion(replica, call.to))) return null;
    }
    return step(true);
  }

  /**
   * Until `to` is a voter of the replica's group (promoted by the leader's promoter once caught
   * up); false if this node came to lead meanwhile without it (its caller runs the move here).
   */
  private async awaitPromotion(replica: GroupReplica, to: string): Promise<boolean> {
    const wasLeader = replica.group.isLeader();
    const deadline = this.clock() + moveCatchUpMs;
    while (!replica.group.confState().voters.includes(to)) {
      if (!wasLeader && replica.group.isLeader()) return false;
      if (this.clock() > deadline) throw new MembershipError('MOVE_TIMEOUT', `${to} did not catch up with ${replica.groupId} within ${moveCatchUpMs / 1000} s; it stays a learner (run the move again to go on waiting)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  }

  /**
   * Passes an admin call on to the group's leader (forwardToLeader), waiting up to
   * --leader-wait-ms for one; null when this node leads (or came to lead meanwhile).
   */
  private onLeader(replica: GroupReplica, call: (address: string) => Promise<string>, resumeUntil?: number): Promise<string | null> {
    return forwardToLeader(replica.group, call, {
      addressOf: (id) => this.addressOf(id),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      clock: this.clock,
      waitMs: this.config.leaderWaitMs,
      ...(resumeUntil !== undefined ? { resumeUntil } : {}),
    });
  }

  /** `admin groups`: the meta group, then every data group of the routing table (and any hosted one it does not list yet). */
  private groupSummaries(): GroupSummary[] {
    const ids = [metaGroupId, ...this.routingTable.groups().map((g) => g.id)];
    for (const r of this.dataReplicas()) if (!ids.includes(r.groupId)) ids.push(r.groupId);
    return ids.flatMap((id) => {
      const replica = this.replicas.get(id);
      const record = this.routingTable.group(id);
      if (!replica && !record) return [];
      const conf = replica?.group.confState();
      const ks = replica?.stateMachine.keyspace;
      return [
        {
          group: id,
          slots: id === metaGroupId ? [] : (ks?.ownedSlots.ranges() ?? record?.slots ?? []),
          leader: replica?.group.leaderId() ?? '',
          voters: conf?.voters ?? record?.voters ?? [],
          learners: conf?.learners ?? [],
          epoch: record?.epoch ?? 1,
          keys: ks?.size ?? 0,
          bytes: ks?.usedMemoryBytes ?? 0,
          writesPerSec: replica?.writesPerSec ?? 0,
          hosted: replica !== undefined,
        },
      ];
    });
  }

  /**
   * `admin nodes`: every node that is a voter or learner of some group (a removed node's record
   * stays in the meta group; it is not listed), with what its record says: addresses and zone.
   */
  private nodeSummaries(): NodeSummary[] {
    const groups = this.groupSummaries();
    const ids = new Set([...this.routingTable.nodes().map((n) => n.id), ...groups.flatMap((g) => [...g.voters, ...g.learners])]);
    return [...ids].sort().flatMap((id) => {
      const memberOf = groups.filter((g) => g.voters.includes(id) || g.learners.includes(id)).map((g) => g.group);
      if (memberOf.length === 0) return [];
      const record = this.routingTable.node(id);
      return [{ node: id, grpc: record?.grpc ?? this.addressOf(id) ?? '', resp: record?.resp ?? '', zone: record?.zone ?? '', groups: memberOf }];
    });
  }

  private internal(name: string): WriteCommandSpec {
    const spec = this.catalog.resolveWrite(name);
    if (!spec) throw new Error(`internal command ${name} is missing from the table`);
    return spec;
  }

  // ------------------------------------------------------------------ the meta group's records

  private reconcileRounds = 0;
  /**
   * Per data group led here: the applied indexes (its own, the meta group's) at which its record
   * was last found true. Neither moved, nothing to compare again: an idle node with many groups
   * spent most of its housekeeping formatting the same slot ranges every 500 ms.
   */
  private readonly reconciledAt = new Map<string, string>();

  /**
   * Each data group's leader keeps the group's record in the meta group true (its slots, its
   * voters): so a split's two groups, and a group whose members changed, are routed right within
   * a round of housekeeping. Only a leader that hosts a meta replica writes (it proposes through
   * it); a new group's preferred leader is the voter that is preferred by the fewest groups.
   */
  private reconcileMetaRecords(): void {
    if (++this.reconcileRounds % reconcileEveryRounds !== 0) return;
    const meta = this.replicas.get(metaGroupId);
    if (!meta || !meta.serving) return;
    for (const replica of this.dataReplicas()) {
      if (!replica.group.isLeader() || !replica.serving) continue;
      const at = `${replica.group.applied}/${meta.group.applied}`;
      if (this.reconciledAt.get(replica.groupId) === at) continue;
      const slots = replica.stateMachine.keyspace.ownedSlots.ranges();
      const voters = replica.group.confState().voters;
      const record = this.routingTable.group(replica.groupId);
      if (record && formatSlotRanges(record.slots) === formatSlotRanges(slots) && record.voters.join(',') === voters.join(',')) {
        this.reconciledAt.set(replica.groupId, at);
        continue;
      }
      this.reconciledAt.delete(replica.groupId);
      const preferredLeader = record?.preferredLeader && voters.includes(record.preferredLeader) ? record.preferredLeader : this.leastPreferred(voters);
      const entry = groupRecordEntry({ id: replica.groupId, voters, preferredLeader, slots, epoch: (record?.epoch ?? 0) + 1 });
      void meta.gateway.writeRun([{ spec: this.internal('qkv.meta-put'), args: metaPutArgs([entry]) }]).then(() => this.refreshRouting());
    }
  }

  private leastPreferred(voters: readonly string[]): string {
    const load = new Map(voters.map((v) => [v, 0]));
    for (const g of this.routingTable.groups()) if (load.has(g.preferredLeader)) load.set(g.preferredLeader, load.get(g.preferredLeader)! + 1);
    return [...load].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : 1))[0]?.[0] ?? '';
  }

  /**
   * A group's durable log: its view of the node log; a group whose log is a directory of its own
   * (a data dir made before the node log) keeps that FileLog.
   */
  private async logOf(groupId: string): Promise<DurableLog> {
    const dir = groupLogDir(this.config.dataDir, groupId);
    if (await pathExists(dir)) return new FileLog({ dir, groupId, logger: this.logger.child({ component: 'storage', group: groupId }) });
    return this.nodeLog.group(groupId);
  }

  /** Binds the gRPC and RESP listeners and starts the timers. */
  private async listen(): Promise<void> {
    const { config, logger, clock } = this;
    this.transport.register(this.grpcServer);
    registerForwardService(
      this.grpcServer,
      {
        forward: (groupId, writes, deadline) => {
          const replica = this.replicas.get(groupId);
          return replica
            ? replica.gateway.handleForwarded(writes, (name) => this.catalog.resolveWrite(name), deadline)
            : Promise.resolve(writes.map(() => ({ status: 'not-leader' as const })));
        },
        read: async (groupId, commands) => {
          const replica = this.replicas.get(groupId);
          if (!replica || !replica.serving) return { hosted: false, replies: [] };
          const items = commands.map((args) => {
            const spec = this.catalog.resolveRead(args[0]!.toString('latin1').toLowerCase());
            return spec ? { spec, args } : null;
          });
          if (items.some((i) => i === null)) return { hosted: true, replies: commands.map(() => error('ERR unknown forwarded command')) };
          return { hosted: true, replies: await replica.gateway.readRun(items as { spec: ReadCommandSpec; args: readonly Buffer[] }[]) };
        },
        leaderOf: (groupId) => this.replicas.get(groupId)?.group.leaderId() ?? '',
        metaRecords: () => {
          const meta = this.replicas.get(metaGroupId);
          if (!meta || !meta.serving) return { hosted: false, appliedIndex: 0, records: [] };
          return { hosted: true, appliedIndex: meta.group.applied, records: metaRecordsOf(meta.stateMachine.keyspace, this.clock()) };
        },
      },
      clock,
    );
    registerAdminService(
      this.grpcServer,
      { status: () => this.status() },
      { change: (call) => this.membershipCall(call), promote: (nodeId, group) => this.membershipCall(withGroup({ kind: 'promote', nodeId }, group)) },
      this.snapshotProvider(),
      { split: (group, atSlot, wait) => this.splitGroup(group, atSlot, wait), groups: () => this.groupSummaries(), moveReplica: (call) => this.moveReplica(call), nodes: () => this.nodeSummaries() },
    );
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(`${config.host}:${config.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(new ServerStartError(`cannot listen for gRPC on ${config.host}:${config.grpcPort}: ${err.message}`)) : resolve(port),
      );
    });

    const loadingReply = error('LOADING Redis is loading the dataset in memory');
    const router = new CommandRouter({
      routing: () => this.routingTable,
      refreshRouting: () => this.refreshRouting(),
      endpoint: (id) => this.endpoint(id),
      clock,
      random: () => Math.random(),
      routeWaitMs: config.leaderWaitMs,
      ...(config.clusterMode ? { cluster: this.clusterRouting() } : {}),
    });
    const resp = new RespServer({
      host: config.host,
      port: config.respPort,
      maxClients: config.maxClients,
      executor: {
        classify: (ctx, args) => {
          const cmd = classifyCommand((a) => this.catalog.resolve(a), ctx, args, config.clusterMode);
          // Until its log is replayed, a restarted replica must not serve an empty or stale state.
          if ((cmd.kind === 'read' || cmd.kind === 'write') && !router.serving(cmd.spec, cmd.args)) return { kind: 'immediate', reply: loadingReply };
          return cmd;
        },
        readRun: (items, client) => router.readRun(items, client),
        writeRun: (items, client) => router.writeRun(items, client),
      },
      server: this.serverContext(),
      stats: this.stats,
      clock,
      onClientError: () => {},
    });
    this.resp = resp;
    this.respPort = await resp.listen().catch((err: Error) => {
      throw new ServerStartError(`cannot listen for RESP on ${config.host}:${config.respPort}: ${err.message}`);
    });

    this.timers.push(
      setInterval(() => {
        // One liveness beat per peer per tick, whatever groups are quiet (quiescence.ts).
        if (config.quiesce) this.transport.sendBeats(this.incarnation);
        this.quiescence.tick(this.tickedGroups());
      }, config.tickMs),
      setInterval(() => {
        this.stats.sample(clock());
        this.stats.noteUsedMemory(usedMemory());
        this.refreshRouting();
        this.reconcileMetaRecords();
        this.noteLeaders();
        this.registerAddresses();
        for (const replica of this.replicas.values()) replica.housekeeping(this.preferredLeaderOf(replica.groupId));
        this.removedCheck.round(this.leaderlessReplicas());
      }, housekeepingMs),
    );
    this.stallWatch = new StallWatch(config.tickMs, stallReportMs, () => performance.now(), (ms) =>
      logger.warn({ component: 'node', ms }, 'event loop stalled'),
    );
    logger.info({ component: 'node', resp: `${config.host}:${this.respPort}`, grpc: `${config.host}:${this.grpcPort}` }, 'quorumkv node started');
  }

  // ------------------------------------------------------------------ routing

  private routingTable: RoutingTable = RoutingTable.of([], []);
  private routingSource = '';

  /**
   * Rebuilds the routing table when what it is read from changed: the meta group's records when
   * this node hosts the meta group, otherwise the slots of the data groups it hosts (a cluster
   * made before the meta group existed, whose one group g0 serves every slot). Cheap when nothing
   * changed (the meta group's applied index says).
   */
  refreshRouting(): void {
    const meta = this.replicas.get(metaGroupId);
    if (!meta && this.fetchedRouting !== null) {
      this.routingTable = this.fetchedRouting;
      this.fetchRemoteRouting();
      return;
    }
    const source = meta
      ? `meta@${meta.group.applied}`
      : [...this.replicas.values()].map((r) => `${r.groupId}@${r.group.applied}`).join(',');
    if (!meta) this.fetchRemoteRouting();
    if (source === this.routingSource) return;
    this.routingSource = source;
    if (meta) {
      const problems: string[] = [];
      this.routingTable = RoutingTable.fromMeta(meta.stateMachine.keyspace, this.clock(), problems);
      for (const p of problems) this.logger.warn({ component: 'routing', problem: p }, 'a meta record does not parse');
      return;
    }
    const groups = [...this.dataReplicas()].map((r) => ({
      id: r.groupId,
      voters: r.group.confState().voters,
      preferredLeader: '',
      slots: r.stateMachine.keyspace.ownedSlots.ranges(),
    }));
    this.routingTable = RoutingTable.of(groups, [...this.addressBook].map(([id, grpc]) => ({ id, grpc, resp: '' })));
  }

  private readonly localEndpoints = new WeakMap<GroupReplica, GroupEndpoint>();
  private readonly remoteGroups = new Map<string, RemoteGroup>();

  /**
   * Where a data group's commands go from here: this node's replica, or, for a group it does not
   * host, the nodes that do (a RemoteGroup). Stable objects, so that a run's commands for one
   * group are recognized as one run.
   */
  private endpoint(groupId: string): GroupEndpoint | undefined {
    const replica = this.replicas.get(groupId);
    if (replica) {
      let local = this.localEndpoints.get(replica);
      if (!local) {
        local = {
          groupId,
          get serving() {
            return replica.serving;
          },
          readRun: (items) => replica.gateway.readRun(items),
          writeRun: (items) => replica.gateway.writeRun(items),
        };
        this.localEndpoints.set(replica, local);
      }
      return local;
    }
    if (!this.routingTable.group(groupId)) return undefined;
    let remote = this.remoteGroups.get(groupId);
    if (!remote) {
      remote = new RemoteGroup({
        groupId,
        forwarder: this.forwarder,
        candidates: () => {
          const record = this.routingTable.group(groupId);
          if (!record) return [];
          return [...(record.preferredLeader ? [record.preferredLeader] : []), ...record.voters.filter((v) => v !== record.preferredLeader && v !== this.config.id)];
        },
        clock: this.clock,
        leaderWaitMs: this.config.leaderWaitMs,
        requestIdPrefix: `${this.config.id}.${randomBytes(6).toString('base64url')}.${groupId}.`,
      });
      this.remoteGroups.set(groupId, remote);
    }
    return remote;
  }

  // ------------------------------------------------------------------ Redis Cluster's view

  /** Each hosted group's last known leader: who CLUSTER SLOTS shows while an election runs. */
  private readonly lastLeaders = new Map<string, string>();

  private noteLeaders(): void {
    for (const replica of this.replicas.values()) {
      const leader = replica.group.leaderId();
      if (leader !== '') this.lastLeaders.set(replica.groupId, leader);
    }
  }

  /** What this node knows of a data group, for the cluster's view (read fresh at each call). */
  private groupFacts(group: GroupRecord): GroupFacts {
    const replica = this.replicas.get(group.id);
    if (!replica) return { hosted: false, leader: '', lastLeader: '', voters: group.voters, term: 0, appliedIndex: 0 };
    const leader = replica.group.leaderId();
    if (leader !== '') this.lastLeaders.set(group.id, leader);
    const raft = replica.group;
    return {
      hosted: true,
      leader,
      lastLeader: this.lastLeaders.get(group.id) ?? '',
      // Read only when needed (a redirect is decided from the leader alone).
      get voters() {
        return raft.confState().voters;
      },
      term: raft.term(),
      appliedIndex: raft.applied,
    };
  }

  /** The cluster as Redis Cluster clients see it, from this node now (cluster_view.ts). */
  private topology(): ClusterTopology {
    return new ClusterTopology(
      { id: this.config.id, host: this.config.host, respPort: this.respPort, grpcPort: this.grpcPort },
      this.routingTable,
      (group) => this.groupFacts(group),
      // A member of a group hosted here, or a voter of the record of one that is not.
      (id) => this.memberOfAnyGroup(id) || this.routingTable.groups().some((g) => !this.replicas.has(g.id) && g.voters.includes(id)),
    );
  }

  private clusterRouting(): ClusterRouting {
    return {
      route: (group, readOnlyRead) => this.topology().route(group, readOnlyRead),
      ledGroups: () => this.routingTable.groups().filter((g) => this.replicas.get(g.id)?.group.isLeader() === true),
    };
  }

  private clusterContext(): ClusterContext {
    return {
      enabled: this.config.clusterMode,
      view: () => this.topology().view(),
      keysInSlot: async (slot, limit) => {
        const group = this.routingTable.groupOfSlot(slot);
        if (!group) return { error: `CLUSTERDOWN Hash slot not served` };
        const replica = this.replicas.get(group.id);
        if (!replica) return { error: `ERR slot ${slot} belongs to group ${group.id}, which has no replica on this node: ask a node of that group` };
        if (!replica.serving) return { error: 'LOADING Redis is loading the dataset in memory' };
        // A read like any other: linearizable, after a ReadIndex barrier.
        const refused = await replica.gateway.readBarrier();
        if (refused) return { error: refused.kind === 'error' ? refused.message : 'ERR no leader' };
        return replica.stateMachine.keyspace.keysInSlot(slot, this.clock(), limit);
      },
    };
  }

  // ------------------------------------------------------------------ this node's record

  /** The registration write under way, if any: one at a time. */
  private registering: Promise<void> | null = null;
  /** No new attempt before this time (after a failed one). */
  private registerAfterMs = 0;

  /**
   * Keeps this node's record in the meta group (`node:<id>`: its gRPC and RESP addresses, which
   * CLUSTER SLOTS and -MOVED hand to clients, and its --zone) equal to what it serves on now: proposed
   * through this node's meta replica, whose gateway forwards it to the meta group's leader, and
   * tried again every housekeeping round until the record says so. So a node restarted on another
   * RESP port (or with another --zone) corrects its record by itself. Only a node that hosts a meta replica can write it;
   * the others keep the record bootstrap wrote (their gRPC address, no RESP address).
   */
  private registerAddresses(): void {
    if (this.registering !== null || this.stopped || this.clock() < this.registerAfterMs) return;
    const meta = this.replicas.get(metaGroupId);
    if (!meta || !meta.serving) return;
    const want = { id: this.config.id, grpc: `${this.config.host}:${this.grpcPort}`, resp: `${this.config.host}:${this.respPort}`, zone: this.config.zone };
    const have = this.routingTable.node(want.id);
    if (have && have.grpc === want.grpc && have.resp === want.resp && (have.zone ?? '') === want.zone) return;
    const spec = this.catalog.resolveWrite(META_PUT_COMMAND)!;
    this.registering = meta.gateway
      .writeRun([{ spec, args: metaPutArgs([nodeRecordEntry(want)]) }])
      .then(([reply]) => {
        // Not awaited by stop(): a write still looking for a leader ends by its own deadline.
        if (this.stopped) return;
        if (reply!.kind === 'error') {
          // No meta leader within --leader-wait-ms, say: the next rounds try again.
          this.registerAfterMs = this.clock() + 1_000;
          this.logger.warn({ component: 'node', error: reply!.message }, "could not register this node's addresses in the meta group; will try again");
          return;
        }
        this.logger.info({ component: 'node', grpc: want.grpc, resp: want.resp, zone: want.zone }, "registered this node's addresses in the meta group");
        // The reply comes from the meta leader once it applied the record; this node's replica
        // may apply it a little later. Until then the record still looks old here: no second write.
        this.registerAfterMs = this.clock() + 1_000;
        this.refreshRouting();
      })
      .finally(() => {
        this.registering = null;
      });
  }

  /** The Raft groups of every replica hosted here, for the ticker. */
  private tickedGroups(): RaftGroup[] {
    const groups: RaftGroup[] = [];
    for (const replica of this.replicas.values()) groups.push(replica.group);
    return groups;
  }

  /** Whom the routing table names as the group's preferred leader ('' when none: the meta group leads wherever it won). */
  private preferredLeaderOf(groupId: string): string {
    // One data group has nothing to spread: it stays with whichever node won it.
    if (this.routingTable.groups().length < 2) return '';
    return this.routingTable.group(groupId)?.preferredLeader ?? '';
  }

  /** The routing table last fetched from a node hosting the meta group (for a node that hosts none). */
  private fetchedRouting: RoutingTable | null = null;
  private fetchingRouting = false;
  /** The gRPC address of the peer the routing table was last fetched from: a node hosting the meta group. */
  private metaHostAddress: string | null = null;
  private lastRoutingFetchMs = 0;

  /**
   * A node without a meta replica asks a peer that has one for the meta group's records, at most
   * every 500 ms (a wrong-group refusal asks again sooner than the housekeeping would).
   */
  private fetchRemoteRouting(): void {
    const now = this.clock();
    if (this.fetchingRouting || now - this.lastRoutingFetchMs < 500 || this.stopped) return;
    this.fetchingRouting = true;
    this.lastRoutingFetchMs = now;
    const peers = [...this.addressBook.keys()].filter((id) => id !== this.config.id);
    void (async () => {
      for (const peer of peers) {
        try {
          const m = await this.forwarder.metaRecords(peer, 1_000);
          if (!m.hosted) continue;
          this.fetchedRouting = RoutingTable.fromRecords(m.records);
          this.metaHostAddress = this.transport.peers().get(peer) ?? this.addressBook.get(peer) ?? null;
          this.routingTable = this.fetchedRouting;
          for (const n of this.fetchedRouting.nodes()) {
            if (n.id !== this.config.id && !this.addressBook.has(n.id)) this.transport.setPeer(n.id, n.grpc);
          }
          return;
        } catch {
          // Try the next peer.
        }
      }
    })().finally(() => {
      this.fetchingRouting = false;
    });
  }

  /** This node's replicas of data groups, in group order. */
  private dataReplicas(): GroupReplica[] {
    return [...this.replicas.values()].filter((r) => r.groupId !== metaGroupId).sort((a, b) => compareGroupIds(a.groupId, b.groupId));
  }

  /** The group INFO's unprefixed Raft fields describe: the meta group, or else the first data group hosted here. */
  private primaryReplica(): GroupReplica | undefined {
    return this.replicas.get(metaGroupId) ?? this.dataReplicas()[0];
  }

  /**
   * A membership call of the admin API: on its group, or, without one, on every group of the
   * cluster it makes sense for (adding a node adds it to every group; removing it removes it
   * from every group it is in; a transfer moves every group's leadership to it). Each group's
   * call goes to that group's leader, which acts.
   */
  private async membershipCall(call: MembershipCall): Promise<string> {
    if (call.group !== undefined) {
      const replica = this.replicas.get(call.group);
      if (!replica) throw new MembershipError('UNKNOWN_GROUP', `group ${call.group} is not hosted on this node; send the call to a node that hosts it`);
      const line = await replica.membership.run(call);
      if (call.kind === 'transfer-leader') await this.preferLeader(call.group, call.to);
      return line;
    }
    const groups = [...(this.replicas.has(metaGroupId) ? [metaGroupId] : []), ...this.dataReplicas().map((r) => r.groupId)];
    const lines: string[] = [];
    for (const groupId of groups) {
      const replica = this.replicas.get(groupId)!;
      const { voters, learners } = replica.group.confState();
      const member = voters.includes(memberOf(call)) || learners.includes(memberOf(call));
      if ((call.kind === 'remove-node' || call.kind === 'promote') && !member) continue;
      if (call.kind === 'transfer-leader' && !voters.includes(call.to)) continue;
      if (call.kind === 'add-node' && member) continue;
      lines.push(`${groupId}: ${await replica.membership.run({ ...call, group: groupId })}`);
      if (call.kind === 'transfer-leader' && groupId !== metaGroupId) await this.preferLeader(groupId, call.to);
    }
    if (lines.length === 0) {
      const who = memberOf(call);
      if (call.kind === 'transfer-leader') throw new MembershipError('NOT_A_VOTER', `${who} is not a voter of any group`);
      if (call.kind === 'add-node') throw new MembershipError('NODE_ID_USED', `${who} is already a member of every group`);
      throw new MembershipError('NOT_A_MEMBER', `${who} is not a member of any group`);
    }
    return lines.join('; ');
  }

  /**
   * An operator's transfer of a data group's leadership makes the target the group's preferred
   * leader, so that the leader balancing (which hands each group to its preferred leader) keeps
   * it there instead of undoing it. Written through this node's meta replica; a node without one
   * leaves the preference as it is.
   */
  private async preferLeader(groupId: string, nodeId: string): Promise<void> {
    const meta = this.replicas.get(metaGroupId);
    const record = this.routingTable.group(groupId);
    if (!meta || !record || record.preferredLeader === nodeId) return;
    const entry = groupRecordEntry({ ...record, preferredLeader: nodeId, epoch: (record.epoch ?? 0) + 1 });
    const [reply] = await meta.gateway.writeRun([{ spec: this.internal(META_PUT_COMMAND), args: metaPutArgs([entry]) }]);
    if (reply!.kind === 'error') this.logger.warn({ component: 'membership', group: groupId, error: reply!.message }, 'could not record the new preferred leader');
    this.refreshRouting();
  }

  private addressOf(nodeId: string): string | undefined {
    return this.addressBook.get(nodeId) ?? this.transport.peers().get(nodeId);
  }

  // ------------------------------------------------------------------ the address book

  /**
   * The address book is every node some group hosted here has as a member: a node removed from
   * one group keeps its address while another group still has it.
   */
  private onConfChange(groupId: string, change: ConfChange): void {
    const { config, transport } = this;
    if (change.type === ConfChangeType.RemoveNode) {
      // This node left the group: its replica goes (after this apply; its data with it), and the
      // group is never opened here again (saved with the address book below).
      if (change.nodeId === config.id) {
        this.leftGroups.add(groupId);
        setImmediate(() => void this.destroyReplica(groupId));
      }
      if (!this.memberOfAnyGroup(change.nodeId)) {
        this.addressBook.delete(change.nodeId);
        if (change.nodeId !== config.id) transport.removePeer(change.nodeId);
      }
    } else if (change.context) {
      this.addressBook.set(change.nodeId, change.context);
      if (change.nodeId !== config.id) transport.setPeer(change.nodeId, change.context);
    }
    this.logger.info({ component: 'membership', group: groupId, change: { ...change, type: ['add-voter', 'add-learner', 'remove'][change.type] } }, 'membership change applied');
    this.saveAddressBook();
  }

  private onMembersRestored(_groupId: string, record: MembersRecord): void {
    const { config, transport } = this;
    for (const id of [...this.addressBook.keys()]) {
      if (!record.addresses.has(id) && id !== config.id && !this.memberOfAnyGroup(id)) {
        this.addressBook.delete(id);
        transport.removePeer(id);
      }
    }
    for (const [id, address] of record.addresses) {
      this.addressBook.set(id, address);
      if (id !== config.id) transport.setPeer(id, address);
    }
    this.saveAddressBook();
  }

  /** The replicas hosted here that know no leader, for the removed-replica check. */
  private leaderlessReplicas(): ReplicaView[] {
    const views: ReplicaView[] = [];
    for (const r of this.replicas.values()) {
      if (r.group.leaderId() !== '') continue;
      const { voters, learners } = r.group.confState();
      const record = this.routingTable.group(r.groupId);
      const notInRecord = record !== undefined && !record.voters.includes(this.config.id);
      views.push({ groupId: r.groupId, appliedIndex: r.group.applied, members: [...voters, ...learners], notInRecord });
    }
    return views;
  }

  /**
   * Another member's status shows this node removed from the group, a removal this replica never
   * applied (removed_replica_check.ts): it goes as if it had.
   */
  private learnRemoval(groupId: string, by: string): void {
    if (this.leftGroups.has(groupId) || !this.replicas.has(groupId)) return;
    this.logger.warn({ component: 'membership', group: groupId, by }, 'removed from the group without applying the removal here (its commit never arrived): the replica goes');
    this.leftGroups.add(groupId);
    this.saveAddressBook();
    void this.destroyReplica(groupId);
  }

  /**
   * Stops this node's replica of a group it was removed from and deletes its log and snapshots:
   * nothing of it may serve again. A message from the group afterwards (a leader that has not
   * yet heard of the removal) would open an empty replica, with no vote of its own to give.
   */
  private async destroyReplica(groupId: string): Promise<void> {
    const replica = this.replicas.get(groupId);
    if (!replica || this.stopped) return;
    this.replicas.delete(groupId);
    this.refreshRouting();
    await replica.stop().catch(() => {});
    // node.json's leftGroups first: a crash from here on must find the group left at the restart,
    // which then deletes what remains of it instead of opening it (a replica no longer a member).
    await this.metaWrites;
    failpoint('leave-before-delete');
    await this.deleteGroupFiles(groupId);
    this.logger.info({ component: 'membership', group: groupId }, 'removed from the group: its replica here is gone');
  }

  /** A group's log (its entries in the node log, or a log directory of its own) and snapshots, gone from the data dir. */
  private async deleteGroupFiles(groupId: string): Promise<void> {
    await this.nodeLog.dropGroup(groupId).catch((err: Error) => this.logger.warn({ component: 'membership', group: groupId, error: err.message }, 'could not drop the group from the node log'));
    await rm(groupLogDir(this.config.dataDir, groupId), { recursive: true, force: true });
    await rm(groupSnapshotDir(this.config.dataDir, groupId), { recursive: true, force: true });
  }

  private memberOfAnyGroup(nodeId: string): boolean {
    for (const replica of this.replicas.values()) {
      const { voters, learners } = replica.group.confState();
      if (voters.includes(nodeId) || learners.includes(nodeId)) return true;
    }
    return false;
  }

  /** node.json writes go one after the other (a replay applies many changes in one turn). */
  private metaWrites = Promise.resolve();

  private saveAddressBook(): void {
    const snapshot = { id: this.config.id, peers: Object.fromEntries(this.addressBook), ...(this.leftGroups.size > 0 ? { leftGroups: [...this.leftGroups].sort() } : {}) };
    this.metaWrites = this.metaWrites
      .then(() => saveMeta(this.config.dataDir, snapshot))
      .catch((err: Error) => this.logger.warn({ component: 'node', error: err.message }, 'could not save the address book'));
  }

  // ------------------------------------------------------------------ what clients and operators read

  status(): NodeStatus {
    return {
      nodeId: this.config.id,
      addresses: { resp: `${this.config.host}:${this.respPort}`, grpc: `${this.config.host}:${this.grpcPort}` },
      groups: [...(this.replicas.has(metaGroupId) ? [this.replicas.get(metaGroupId)!] : []), ...this.dataReplicas()].map((r) => r.status()),
    };
  }

  /**
   * Snapshot and Backup of the admin API: snapshots of every replica; a backup of one group,
   * from its leader. A node that does not lead the group points to its leader; one that hosts no
   * replica of it points to a node that does (a data group's preferred leader, from the meta
   * group's records; for the meta group, the peer this node reads the routing table from). The
   * cluster backup (src/cli/cluster_backup.ts) asks for every group in turn.
   */
  private snapshotProvider(): SnapshotProvider {
    return {
      snapshotNow: () => Promise.all([...this.replicas.values()].map((r) => r.snapshotNow())),
      backup: async (requested) => {
        const groupId = requested === '' ? this.onlyDataGroup() : requested;
        const replica = this.replicas.get(groupId);
        if (!replica) throw new BackupNotLeaderError(this.hostOf(groupId) ?? null, { group: groupId, notHosted: true });
        if (!replica.group.isLeader()) {
          const leader = replica.group.leaderId();
          throw new BackupNotLeaderError(leader === '' ? null : (this.addressOf(leader) ?? this.routingTable.node(leader)?.grpc ?? null), { group: groupId });
        }
        const reader = await replica.backup();
        async function* chunks(): AsyncGenerator<Buffer> {
          try {
            yield* reader.chunks();
          } finally {
            await reader.close();
          }
        }
        return { info: reader.info, chunkBytes: replica.snapshots.chunkBytes, chunks: chunks() };
      },
    };
  }

  /** A Backup that names no group (an admin client from before cluster backups): the cluster's one data group. */
  private onlyDataGroup(): string {
    const ids = new Set([...this.routingTable.groups().map((g) => g.id), ...this.dataReplicas().map((r) => r.groupId)]);
    if (ids.size !== 1) throw new QuorumError('BACKUP_GROUP_REQUIRED', `this cluster has ${ids.size} data groups: name the group (quorumkv admin backup does)`, 'fail');
    return [...ids][0]!;
  }

  /** The gRPC address of a node that hosts `groupId`, for a group this node hosts no replica of. */
  private hostOf(groupId: string): string | undefined {
    if (groupId === metaGroupId) return this.metaHostAddress ?? undefined;
    const record = this.routingTable.group(groupId);
    if (!record) return undefined;
    for (const id of [record.preferredLeader, ...record.voters]) {
      if (id === '' || id === this.config.id) continue;
      const address = this.addressOf(id) ?? this.routingTable.node(id)?.grpc;
      if (address) return address;
    }
    return undefined;
  }

  private infoSources(): InfoSources {
    return {
      config: this.config,
      startedAtMs: this.startedAtMs,
      nowMs: this.clock(),
      respPort: this.respPort,
      stats: this.stats,
      clients: this.resp?.clients().length ?? 0,
      primary: this.primaryReplica() ?? null,
      dataGroups: this.dataReplicas(),
      catalog: this.catalog,
      version: quorumkvVersion,
      redisVersion: compatibleRedisVersion,
      raftNode: this.raftNodeFigures(),
    };
  }

  private raftNodeFigures(): RaftNodeFigures {
    const t = this.transport.stats();
    let quiet = 0;
    for (const r of this.replicas.values()) if (r.group.quiet) quiet++;
    return {
      groups: this.replicas.size,
      quietGroups: quiet,
      messagesSent: t.messagesSent,
      messagesReceived: t.messagesReceived,
      batchesSent: t.batchesSent,
      batchesReceived: t.batchesReceived,
      beatsSent: t.beatsSent,
      beatsReceived: t.beatsReceived,
    };
  }

  private serverContext(): ServerContext {
    return {
      nowMs: () => this.clock(),
      nowMicros: () => BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)),
      clients: (): readonly ClientState[] => this.resp?.clients() ?? [],
      killClient: (id) => this.resp?.kill(id) ?? false,
      commandTable: () => this.catalog.publicTable(),
      infoSectionNames: () => infoSectionNames,
      infoSection: (name) => infoSection(name, this.infoSources()),
      serverName: 'redis',
      redisVersion: compatibleRedisVersion,
      role: () => (this.primaryReplica()?.group.isLeader() ? 'master' : 'replica'),
      cluster: this.clusterContext(),
    };
  }

  /** SIGTERM: stop accepting, fail or finish in-flight requests, flush, release the data dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.stallWatch?.stop();
    await this.resp?.close();
    for (const replica of this.replicas.values()) await replica.stop();
    await this.nodeLog.close().catch((err: Error) => this.logger.warn({ component: 'storage', error: err.message }, 'closing the node log failed'));
    this.forwarder.close();
    await this.transport.close();
    await new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    await this.metaWrites;
    // Last, and only once the rest has stopped: a stop that failed half-way keeps the lock until
    // the process exits, so that no other node opens the dir while this one may still write.
    this.dataDirLock.release();
    this.logger.info({ component: 'node' }, 'stopped');
  }
}

/** The bytes of a write entry of the node's own (a bootstrap entry): no request id to deduplicate, time 0. */
function writeEntryBytes(args: readonly Buffer[]): Uint8Array {
  const writer = writeEntryWriter({ flags: 0, timeMs: 0, args });
  const bytes = Buffer.alloc(writer.size);
  writer.writeTo(bytes, 0);
  return bytes;
}

/** Whether the group's snapshot store holds a published snapshot (opened and closed again). */
async function hasPublishedSnapshot(dataDir: string, groupId: string): Promise<boolean> {
  const dir = groupSnapshotDir(dataDir, groupId);
  if (!(await pathExists(dir))) return false;
  const store = await SnapshotStore.open({ dir, groupId });
  try {
    return store.latestInfo !== null;
  } finally {
    await store.close();
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** At most this many messages per group wait for its replica to open (Raft sends again what is dropped). */
const maxHeldForOpening = 256;

/** Messages only a group's leader sends: one of them for a group not hosted here opens an empty replica of it. */
function opensJoinedReplica(type: MessageType): boolean {
  return type === MessageType.MsgApp || type === MessageType.MsgHeartbeat || type === MessageType.MsgSnap;
}

/** How many housekeeping rounds between two looks at the meta group's records. */
const reconcileEveryRounds = 5;

/** The slot at the middle of a set of slots (the default place to split). */
function middleSlot(slots: SlotSet): number {
  const target = Math.floor(slots.size / 2);
  let seen = 0;
  for (const [a, b] of slots.ranges()) {
    if (seen + (b - a + 1) > target) return a + (target - seen);
    seen += b - a + 1;
  }
  return slots.ranges()[0]![0];
}

function describeReply(reply: Reply): string {
  return reply.kind === 'error' ? reply.message : JSON.stringify(reply);
}

/** The node a membership call is about. */
function memberOf(call: MembershipCall): string {
  return call.kind === 'transfer-leader' ? call.to : call.nodeId;
}
