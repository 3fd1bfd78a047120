import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { adminChange } from '../admin/admin_client.js';
import { BackupNotLeaderError, registerAdminService, type SnapshotProvider } from '../admin/admin_service.js';
import type { NodeStatus } from '../admin/status.js';
import type { ClientState, ServerContext } from '../commands/connection_context.js';
import type { ServerConfig } from '../config/config.js';
import { ConfChangeType, type ConfChange } from '../raft/index.js';
import { error } from '../resp/reply.js';
import type { MembersRecord } from '../state/snapshot_image.js';
import { GrpcForwarder, registerForwardService } from '../transport/forward.js';
import { GrpcPeerTransport, peerServerOptions } from '../transport/grpc_transport.js';
import type { HeldLock } from '../storage/lock_file.js';
import { SeededRandom } from '../util/random.js';
import type { CommandCatalog } from './command_catalog.js';
import { classifyCommand } from './command_classifier.js';
import { ServerStartError, dataGroupId, loadOrCreateMeta, prepareDataDir, saveMeta } from './data_dir.js';
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
        onMessage: (groupId, message) => host?.replicas.get(groupId)?.step(message),
        onUnreachable: (peerId) => {
          for (const replica of host?.replicas.values() ?? []) replica.reportUnreachable(peerId);
        },
        onSnapshot: (incoming) => {
          const replica = host?.replicas.get(incoming.groupId);
          return replica ? replica.receiveSnapshot(incoming) : Promise.reject(new Error(`group ${incoming.groupId} is not open on this node`));
        },
        advertiseAddress: `${config.host}:${config.grpcPort}`,
        logger: raftLogger(logger, 'transport'),
      });
      const forwarder = new GrpcForwarder((id) => transport.peers().get(id), clock);
      const grpcServer = new grpc.Server(peerServerOptions);
      host = new NodeHost(config, logger, catalog, dataDirLock, addressBook, transport, forwarder, grpcServer, clock);
      await host.openGroup(dataGroupId, config.join ? undefined : bootstrapVoters(config.id, addressBook));
      await host.listen();
      return host;
    } catch (err) {
      if (host) await host.stop().catch(() => {});
      dataDirLock.release();
      throw err;
    }
  }

  /** Opens this node's replica of `groupId` (bootstrapping the group when `bootstrap` is given and it has no state yet). */
  private async openGroup(groupId: string, bootstrap: readonly string[] | undefined): Promise<GroupReplica> {
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
        onConfChange: (change) => this.onConfChange(change),
        onMembersRestored: (record) => this.onMembersRestored(record),
        onExpired: (n) => {
          this.stats.expiredKeys += n;
        },
        onFatal: (err) => {
          // Crash-stop, as etcd does on a WAL error: the disk decides what survived.
          logger.fatal({ component: 'node', group: groupId, error: err.message }, 'the Raft log failed; stopping the process');
          setTimeout(() => process.exit(1), 50);
        },
      },
      ...(bootstrap ? { bootstrap: { voters: bootstrap, addresses: this.addressBook } } : {}),
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
    const data = (): GroupReplica => this.dataReplica();
    registerAdminService(
      this.grpcServer,
      { status: () => this.status() },
      { change: (call) => data().membership.run(call), promote: (nodeId) => data().membership.run({ kind: 'promote', nodeId }) },
      this.snapshotProvider(),
    );
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(`${config.host}:${config.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(new ServerStartError(`cannot listen for gRPC on ${config.host}:${config.grpcPort}: ${err.message}`)) : resolve(port),
      );
    });

    const loadingReply = error('LOADING Redis is loading the dataset in memory');
    const resp = new RespServer({
      host: config.host,
      port: config.respPort,
      maxClients: config.maxClients,
      executor: {
        classify: (ctx, args) => {
          const cmd = classifyCommand((a) => this.catalog.resolve(a), ctx, args);
          // Until its log is replayed, a restarted replica must not serve an empty or stale state.
          if ((cmd.kind === 'read' || cmd.kind === 'write') && !this.replicaFor(cmd.args).serving) return { kind: 'immediate', reply: loadingReply };
          return cmd;
        },
        readRun: (items) => this.replicaFor(items[0]!.args).gateway.readRun(items),
        writeRun: (items) => this.replicaFor(items[0]!.args).gateway.writeRun(items),
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
        for (const replica of this.replicas.values()) replica.housekeeping();
      }, housekeepingMs),
    );
    logger.info({ component: 'node', resp: `${config.host}:${this.respPort}`, grpc: `${config.host}:${this.grpcPort}` }, 'quorumkv node started');
  }

  /**
   * The replica that serves a command with these arguments. One data group holds every key
   * today; hash slots will route here.
   */
  private replicaFor(_args: readonly Buffer[]): GroupReplica {
    return this.dataReplica();
  }

  private dataReplica(): GroupReplica {
    const replica = this.replicas.get(dataGroupId);
    if (!replica) throw new Error(`group ${dataGroupId} is not open on this node`);
    return replica;
  }

  private addressOf(nodeId: string): string | undefined {
    return this.addressBook.get(nodeId) ?? this.transport.peers().get(nodeId);
  }

  // ------------------------------------------------------------------ the address book

  private onConfChange(change: ConfChange): void {
    const { config, transport } = this;
    if (change.type === ConfChangeType.RemoveNode) {
      this.addressBook.delete(change.nodeId);
      if (change.nodeId !== config.id) transport.removePeer(change.nodeId);
    } else if (change.context) {
      this.addressBook.set(change.nodeId, change.context);
      if (change.nodeId !== config.id) transport.setPeer(change.nodeId, change.context);
    }
    this.logger.info({ component: 'membership', change: { ...change, type: ['add-voter', 'add-learner', 'remove'][change.type] } }, 'membership change applied');
    this.saveAddressBook();
  }

  private onMembersRestored(record: MembersRecord): void {
    const { config, transport } = this;
    for (const id of [...this.addressBook.keys()]) {
      if (!record.addresses.has(id) && id !== config.id) transport.removePeer(id);
    }
    this.addressBook.clear();
    for (const [id, address] of record.addresses) {
      this.addressBook.set(id, address);
      if (id !== config.id) transport.setPeer(id, address);
    }
    this.saveAddressBook();
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

  /** Snapshot and Backup of the admin API: snapshots of every replica; backups of the data group, from its leader. */
  private snapshotProvider(): SnapshotProvider {
    return {
      snapshotNow: () => Promise.all([...this.replicas.values()].map((r) => r.snapshotNow())),
      backup: async () => {
        const replica = this.dataReplica();
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
    const replica = this.dataReplica();
    return {
      config: this.config,
      startedAtMs: this.startedAtMs,
      nowMs: this.clock(),
      respPort: this.respPort,
      stats: this.stats,
      clients: this.resp?.clients().length ?? 0,
      group: replica.group,
      snapshots: replica.snapshots,
      keyspace: replica.stateMachine.keyspace,
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
      role: () => (this.dataReplica().group.isLeader() ? 'master' : 'replica'),
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

/** The voters a new cluster starts with: --peers, or this node alone. */
function bootstrapVoters(nodeId: string, addressBook: ReadonlyMap<string, string>): readonly string[] {
  return addressBook.size > 0 ? [...addressBook.keys()] : [nodeId];
}
