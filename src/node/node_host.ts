import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { adminChange } from '../admin/admin_client.js';
import { BackupNotLeaderError, registerAdminService, type SnapshotProvider } from '../admin/admin_service.js';
import type { NodeStatus } from '../admin/status.js';
import type { ClientState, ClusterContext, ServerContext } from '../commands/connection_context.js';
import type { ServerConfig } from '../config/config.js';
import { ConfChangeType, type ConfChange, type Message } from '../raft/index.js';
import { withGroup, type MembershipCall } from '../admin/membership_call.js';
import { error } from '../resp/reply.js';
import type { MembersRecord } from '../state/snapshot_image.js';
import { GrpcForwarder, registerForwardService } from '../transport/forward.js';
import { GrpcPeerTransport, peerServerOptions } from '../transport/grpc_transport.js';
import type { HeldLock } from '../storage/lock_file.js';
import { QuorumError } from '../util/errors.js';
import { SeededRandom } from '../util/random.js';
import { initialLayout, isDataGroupId, metaGroupId, type ClusterLayout, type GroupLayout } from '../cluster/layout.js';
import { RoutingTable, compareGroupIds, layoutRecords, nodeRecordEntry, type GroupRecord } from '../cluster/meta_records.js';
import { META_PUT_COMMAND, metaPutArgs } from '../commands/internal/meta_put.js';
import { ownSlotsArgs } from '../commands/internal/own_slots.js';
import { SlotSet } from '../state/slot_set.js';
import { writeEntryWriter } from '../state/write_entry.js';
import type { CommandCatalog } from './command_catalog.js';
import { classifyCommand } from './command_classifier.js';
import { CommandRouter, type ClusterRouting } from './command_router.js';
import { ClusterTopology, type GroupFacts } from './cluster_view.js';
import { ServerStartError, hostedGroupIds, loadOrCreateMeta, prepareDataDir, saveMeta } from './data_dir.js';
import { MembershipError } from './membership.js';
import { GroupReplica } from './group_replica.js';
import { infoSection, infoSectionNames, type InfoSources } from './info.js';
import { memoryFigures } from './process_usage.js';
import { raftLogger } from './raft_logger.js';
import { RespServer } from './resp_server.js';
import { ServerStats } from './server_stats.js';

export { ServerStartError };

export const quorumkvVersion = '0.1.0';
/** What clients see as the Redis version they talk to (INFO, HELLO). */
export const compatibleRedisVersion = '7.0.0';

/** How often the host runs its replicas' housekeeping (expiry cycles, learner promotion) and samples its stats. */
const housekeepingMs = 100;

/**
 * One quorumkv node: the host of this node's group replicas.
 *
 *   RESP clients ─▶ RespServer ─▶ classify ─▶ route by group ─▶ replica.gateway
 *   gRPC peers   ─▶ GrpcPeerTransport ─▶ route by group id ─▶ replica.step / receiveSnapshot
 *                   Forward service    ─▶ route by group id ─▶ replica.gateway.handleForwarded
 *                   Admin service      ─▶ status of every replica; membership/backup of the data group
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
  private readonly stats: ServerStats;
  private readonly startedAtMs: number;
  private resp: RespServer | null = null;
  private stopped = false;

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
  ) {
    this.startedAtMs = clock();
    this.stats = new ServerStats(this.startedAtMs);
  }

  static async start(config: ServerConfig, logger: Logger, catalog: CommandCatalog): Promise<NodeHost> {
    const clock = (): number => Date.now();
    const dataDirLock = await prepareDataDir(config);
    let host: NodeHost | null = null;
    try {
      const meta = await loadOrCreateMeta(config, logger);
      const addressBook = new Map(Object.entries(meta.peers));
      const transport = new GrpcPeerTransport({
        nodeId: config.id,
        peers: [...addressBook].filter(([id]) => id !== config.id),
        onMessage: (groupId, message) => host?.deliver(groupId, message),
        onUnreachable: (peerId) => {
          for (const replica of host?.replicas.values() ?? []) replica.reportUnreachable(peerId);
        },
        onSnapshot: async (incoming) => {
          if (!host) throw new Error('this node is still starting');
          const replica = host.replicas.get(incoming.groupId) ?? (await host.openJoined(incoming.groupId));
          if (!replica) throw new Error(`group ${incoming.groupId} is not open on this node`);
          return replica.receiveSnapshot(incoming);
        },
        advertiseAddress: `${config.host}:${config.grpcPort}`,
        logger: raftLogger(logger, 'transport'),
      });
      const forwarder = new GrpcForwarder((id) => transport.peers().get(id), clock);
      const grpcServer = new grpc.Server(peerServerOptions);
      host = new NodeHost(config, logger, catalog, dataDirLock, addressBook, transport, forwarder, grpcServer, clock);
      const hosted = await hostedGroupIds(config.dataDir);
      if (hosted.length > 0) {
        for (const groupId of hosted) await host.openGroup(groupId, undefined);
      } else if (!config.join) {
        const nodes = addressBook.size > 0 ? [...addressBook.keys()] : [config.id];
        await host.bootstrap(initialLayout(nodes, config.groups, config.replicas));
      }
      host.refreshRouting();
      await host.listen();
      return host;
    } catch (err) {
      if (host) await host.stop().catch(() => {});
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
      replica.step(message);
      return;
    }
    if (message.to === this.config.id) void this.openJoined(groupId);
  }

  private readonly opening = new Map<string, Promise<GroupReplica | undefined>>();

  /**
   * Opens an empty replica of a group this node was added to (it hears from the group's leader
   * before it has any state of it): it starts as a --join node does, with no log, and catches up
   * from the leader (a snapshot, then the log). Messages that arrive while it opens are dropped;
   * Raft sends them again.
   */
  private openJoined(groupId: string): Promise<GroupReplica | undefined> {
    if (this.stopped || !(groupId === metaGroupId || isDataGroupId(groupId))) return Promise.resolve(undefined);
    const existing = this.replicas.get(groupId);
    if (existing) return Promise.resolve(existing);
    let opening = this.opening.get(groupId);
    if (!opening) {
      this.logger.info({ component: 'node', group: groupId }, 'a leader reached this node for a group it does not host yet: opening it empty');
      opening = this.openGroup(groupId, undefined)
        .then((replica) => {
          this.refreshRouting();
          return replica;
        })
        .catch((err: Error) => {
          this.logger.warn({ component: 'node', group: groupId, error: err.message }, 'could not open the group');
          return undefined;
        })
        .finally(() => this.opening.delete(groupId));
      this.opening.set(groupId, opening);
    }
    return opening;
  }

  /** Opens this node's replica of `groupId` (bootstrapping the group when `bootstrap` is given and it has no state yet). */
  private async openGroup(groupId: string, bootstrap: { voters: readonly string[]; proposals: readonly Uint8Array[] } | undefined): Promise<GroupReplica> {
    const { config, logger, transport, clock } = this;
    const replica = await GroupReplica.open({
      groupId,
      nodeId: config.id,
      dataDir: config.dataDir,
      settings: config,
      catalog: this.catalog,
      peers: {
        transport: transport.sendFor(groupId),
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
        onFatal: (err) => {
          // Crash-stop, as etcd does on a WAL error: the disk decides what survived.
          logger.fatal({ component: 'node', group: groupId, error: err.message }, 'the Raft log failed; stopping the process');
          setTimeout(() => process.exit(1), 50);
        },
      },
      ...(bootstrap ? { bootstrap: { voters: bootstrap.voters, addresses: this.addressBook, proposals: bootstrap.proposals } } : {}),
      requestIdPrefix: `${config.id}.${randomBytes(6).toString('base64url')}.`,
      clock,
      random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
      logger,
    });
    this.replicas.set(groupId, replica);
    return replica;
  }

  /** Binds the gRPC and RESP listeners and starts the timers. */
  private async listen(): Promise<void> {
    const { config, logger, clock } = this;
    this.transport.register(this.grpcServer);
    registerForwardService(
      this.grpcServer,
      (groupId, writes, deadline) => {
        const replica = this.replicas.get(groupId);
        return replica
          ? replica.gateway.handleForwarded(writes, (name) => this.catalog.resolveWrite(name), deadline)
          : Promise.resolve(writes.map(() => ({ status: 'not-leader' as const })));
      },
      clock,
    );
    registerAdminService(
      this.grpcServer,
      { status: () => this.status() },
      { change: (call) => this.membershipCall(call), promote: (nodeId, group) => this.membershipCall(withGroup({ kind: 'promote', nodeId }, group)) },
      this.snapshotProvider(),
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
      replica: (id) => this.replicas.get(id),
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
        for (const replica of this.replicas.values()) replica.tick();
      }, config.tickMs),
      setInterval(() => {
        this.stats.sample(clock());
        this.stats.noteUsedMemory(memoryFigures().used);
        this.refreshRouting();
        this.noteLeaders();
        this.registerAddresses();
        for (const replica of this.replicas.values()) replica.housekeeping(this.preferredLeaderOf(replica.groupId));
      }, housekeepingMs),
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
    const source = meta
      ? `meta@${meta.group.applied}`
      : [...this.replicas.values()].map((r) => `${r.groupId}@${r.group.applied}`).join(',');
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
   * CLUSTER SLOTS and -MOVED hand to clients) equal to the addresses it serves on now: proposed
   * through this node's meta replica, whose gateway forwards it to the meta group's leader, and
   * tried again every housekeeping round until the record says so. So a node restarted on another
   * RESP port corrects its record by itself. Only a node that hosts a meta replica can write it;
   * the others keep the record bootstrap wrote (their gRPC address, no RESP address).
   */
  private registerAddresses(): void {
    if (this.registering !== null || this.stopped || this.clock() < this.registerAfterMs) return;
    const meta = this.replicas.get(metaGroupId);
    if (!meta || !meta.serving) return;
    const want = { id: this.config.id, grpc: `${this.config.host}:${this.grpcPort}`, resp: `${this.config.host}:${this.respPort}` };
    const have = this.routingTable.node(want.id);
    if (have && have.grpc === want.grpc && have.resp === want.resp) return;
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
        this.logger.info({ component: 'node', grpc: want.grpc, resp: want.resp }, "registered this node's addresses in the meta group");
        // The reply comes from the meta leader once it applied the record; this node's replica
        // may apply it a little later. Until then the record still looks old here: no second write.
        this.registerAfterMs = this.clock() + 1_000;
        this.refreshRouting();
      })
      .finally(() => {
        this.registering = null;
      });
  }

  /** Whom the routing table names as the group's preferred leader ('' when none: the meta group leads wherever it won). */
  private preferredLeaderOf(groupId: string): string {
    // One data group has nothing to spread: it stays with whichever node won it.
    if (this.routingTable.groups().length < 2) return '';
    return this.routingTable.group(groupId)?.preferredLeader ?? '';
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
      return replica.membership.run(call);
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
    }
    if (lines.length === 0) {
      const who = memberOf(call);
      if (call.kind === 'transfer-leader') throw new MembershipError('NOT_A_VOTER', `${who} is not a voter of any group`);
      if (call.kind === 'add-node') throw new MembershipError('NODE_ID_USED', `${who} is already a member of every group`);
      throw new MembershipError('NOT_A_MEMBER', `${who} is not a member of any group`);
    }
    return lines.join('; ');
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
    const snapshot = { id: this.config.id, peers: Object.fromEntries(this.addressBook) };
    this.metaWrites = this.metaWrites
      .then(() => saveMeta(this.config.dataDir, snapshot))
      .catch((err: Error) => this.logger.warn({ component: 'node', error: err.message }, 'could not save the address book'));
  }

  // ------------------------------------------------------------------ what clients and operators read

  status(): NodeStatus {
    return {
      nodeId: this.config.id,
      addresses: { resp: `${this.config.host}:${this.respPort}`, grpc: `${this.config.host}:${this.grpcPort}` },
      groups: [...this.replicas.values()].map((r) => r.status()),
    };
  }

  /**
   * Snapshot and Backup of the admin API: snapshots of every replica; a backup of the data group,
   * from its leader (a cluster of several data groups cannot be backed up yet: refused).
   */
  private snapshotProvider(): SnapshotProvider {
    return {
      snapshotNow: () => Promise.all([...this.replicas.values()].map((r) => r.snapshotNow())),
      backup: async () => {
        const data = this.dataReplicas();
        if (data.length !== 1 || this.routingTable.groups().length > 1) {
          throw new QuorumError('BACKUP_UNSUPPORTED', `a backup covers one data group; this cluster has ${Math.max(data.length, this.routingTable.groups().length)}`, 'fail');
        }
        const replica = data[0]!;
        if (!replica.group.isLeader()) {
          const leader = replica.group.leaderId();
          throw new BackupNotLeaderError(leader === '' ? null : (this.addressOf(leader) ?? null));
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
    await this.resp?.close();
    for (const replica of this.replicas.values()) await replica.stop();
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

/** The node a membership call is about. */
function memberOf(call: MembershipCall): string {
  return call.kind === 'transfer-leader' ? call.to : call.nodeId;
}
