import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { adminChange } from '../admin/admin_client.js';
import { BackupNotLeaderError, registerAdminService, type SnapshotProvider } from '../admin/admin_service.js';
import { groupStatus } from '../admin/group_status.js';
import type { NodeStatus } from '../admin/status.js';
import type { CommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import type { ClientState, ServerContext } from '../commands/connection_context.js';
import type { ServerConfig } from '../config/config.js';
import { raftLogger } from '../observability/logger.js';
import { ConfChangeType, MessageType, type ConfChange, type Message } from '../raft/index.js';
import { error, type Reply } from '../resp/reply.js';
import type { Keyspace } from '../state/keyspace.js';
import { FileLog } from '../storage/file_log.js';
import type { MembersRecord } from '../storage/snapshot_image.js';
import { SnapshotStore } from '../storage/snapshot_store.js';
import { GrpcForwarder, registerForwardService } from '../transport/forward.js';
import { GrpcPeerTransport, peerServerOptions } from '../transport/grpc_transport.js';
import { SeededRandom } from '../util/random.js';
import { ActiveExpiry } from './active_expiry.js';
import { Gateway, type CommandResolution } from './gateway.js';
import { infoSection, infoSectionNames, type InfoSources } from './info.js';
import { KvStateMachine } from './kv_state_machine.js';
import { Membership } from './membership.js';
import { memoryFigures } from './process_usage.js';
import { RaftGroup } from './raft_group.js';
import { RespServer } from './resp_server.js';
import { ServerStats } from './server_stats.js';
import { WriteFlags, writeEntryWriter } from './write_entry.js';
import { ServerStartError, dataGroupId, groupLogDir, groupSnapshotDir, loadOrCreateMeta, prepareDataDir, saveMeta } from './data_dir.js';
import { SnapshotManager } from './snapshot_manager.js';

/** The command table as the server needs it (built from src/commands in catalog.ts). */
export interface CommandCatalog {
  /** Redis's unknown-command / unknown-subcommand and arity checks, then the spec to run. */
  resolve(args: readonly Buffer[]): CommandResolution;
  /** Every replicated command, the internal ones included (what apply may meet in the log). */
  resolveWrite(lowerCaseName: string): WriteCommandSpec | undefined;
  /** What COMMAND lists: the public commands. */
  publicTable(): readonly CommandSpec[];
  /** The internal command the leader's active expiry proposes: args are keys. */
  readonly expireKeysCommand: string;
  newKeyspace(): Keyspace;
  /** Keys with a TTL, sampled at random (for active expiry). */
  sampleKeysWithTtl(ks: Keyspace, count: number, random: () => number): Buffer[];
  isExpired(ks: Keyspace, key: Buffer, nowMs: number): boolean;
  keysWithTtl(ks: Keyspace): number;
  usedMemoryBytes(ks: Keyspace): number;
}

export { ServerStartError };

export const quorumkvVersion = '0.1.0';
/** What clients see as the Redis version they talk to (INFO, HELLO). */
export const compatibleRedisVersion = '7.0.0';

/**
 * One quorumkv node: its data group, the gRPC server (Raft peers, Forward, Admin), the RESP
 * listener, and the timers that drive them. `stop()` is the SIGTERM path: stop accepting, fail
 * in-flight requests, flush the log, release the data dir.
 */
export class QuorumServer {
  respPort = 0;
  grpcPort = 0;
  readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  private constructor(
    readonly config: ServerConfig,
    readonly logger: Logger,
    private readonly catalog: CommandCatalog,
    readonly group: RaftGroup,
    readonly stateMachine: KvStateMachine,
    private readonly transport: GrpcPeerTransport,
    private readonly forwarder: GrpcForwarder,
    private readonly grpcServer: grpc.Server,
    private readonly resp: RespServer,
    private readonly expiry: ActiveExpiry,
    private readonly lockPath: string,
    private readonly startedAtMs: number,
    readonly stats: ServerStats,
    readonly snapshots: SnapshotManager,
    private readonly snapshotStore: SnapshotStore,
  ) {}

  static async start(config: ServerConfig, logger: Logger, catalog: CommandCatalog): Promise<QuorumServer> {
    const clock = (): number => Date.now();
    const startedAtMs = clock();
    const lockPath = await prepareDataDir(config);
    try {
      const meta = await loadOrCreateMeta(config, logger);
      const random = new SeededRandom(randomBytes(4).readUInt32LE(0));
      const log = new FileLog({
        dir: groupLogDir(config.dataDir, dataGroupId),
        groupId: dataGroupId,
        logger: logger.child({ component: 'storage', group: dataGroupId }),
      });

      let group: RaftGroup | null = null;
      let snapshots: SnapshotManager | null = null;
      const transport = new GrpcPeerTransport({
        nodeId: config.id,
        peers: Object.entries(meta.peers).filter(([id]) => id !== config.id),
        onMessage: (groupId, message) => {
          // A snapshot travels only by InstallSnapshot, image and all: one without its image on
          // the message stream would make the core adopt state this node does not have.
          if (groupId === dataGroupId && message.type !== MessageType.MsgSnap) group?.step(message);
        },
        onUnreachable: (peerId) => group?.raw.reportUnreachable(peerId),
        onSnapshot: (incoming) => {
          if (!snapshots || !group) return Promise.reject(new Error('this node is still starting'));
          return snapshots.receive(incoming);
        },
        advertiseAddress: `${config.host}:${config.grpcPort}`,
        logger: raftLogger(logger, 'transport'),
      });
      const addressBook = new Map(Object.entries(meta.peers));
      // node.json writes one after the other (a replay applies many changes in one turn).
      let metaWrites = Promise.resolve();
      const saveAddressBook = (): void => {
        const snapshot = { id: config.id, peers: Object.fromEntries(addressBook) };
        metaWrites = metaWrites
          .then(() => saveMeta(config.dataDir, snapshot))
          .catch((err: Error) => logger.warn({ component: 'node', error: err.message }, 'could not save the address book'));
      };
      const onConfChange = (change: ConfChange): void => {
        if (change.type === ConfChangeType.RemoveNode) {
          addressBook.delete(change.nodeId);
          if (change.nodeId !== config.id) transport.removePeer(change.nodeId);
        } else if (change.context) {
          addressBook.set(change.nodeId, change.context);
          if (change.nodeId !== config.id) transport.setPeer(change.nodeId, change.context);
        }
        logger.info({ component: 'membership', change: { ...change, type: ['add-voter', 'add-learner', 'remove'][change.type] } }, 'membership change applied');
        saveAddressBook();
      };
      // Every node id the group ever had: RaftGroup adds to it as changes apply; snapshots carry it.
      const everMembers = new Set<string>();
      const restoreMembers = (record: MembersRecord): void => {
        for (const id of [...addressBook.keys()]) {
          if (!record.addresses.has(id) && id !== config.id) transport.removePeer(id);
        }
        addressBook.clear();
        for (const [id, address] of record.addresses) {
          addressBook.set(id, address);
          if (id !== config.id) transport.setPeer(id, address);
        }
        everMembers.clear();
        for (const id of record.everMembers) everMembers.add(id);
        saveAddressBook();
      };
      const keyspace = catalog.newKeyspace();
      const stateMachine = new KvStateMachine(keyspace, (name) => catalog.resolveWrite(name));
      const snapshotStore = await SnapshotStore.open({
        dir: groupSnapshotDir(config.dataDir, dataGroupId),
        groupId: dataGroupId,
        logger: logger.child({ component: 'snapshot-store', group: dataGroupId }),
      }).catch((err: Error) => {
        throw new ServerStartError(`snapshot store of group ${dataGroupId} is unusable: ${err.message}`, { cause: err });
      });
      snapshots = new SnapshotManager({
        groupId: dataGroupId,
        store: snapshotStore,
        state: {
          keyspace,
          newKeyspace: () => catalog.newKeyspace(),
          dedupRecords: () => stateMachine.dedup.image(),
          restoreDedup: (records) => stateMachine.dedup.restore(records),
          members: () => ({ addresses: new Map(addressBook), everMembers: [...everMembers] }),
          restoreMembers,
        },
        policy: { entries: config.snapshotEntries, bytes: config.snapshotBytes, catchupEntries: config.snapshotCatchupEntries, catchupBytes: config.snapshotCatchupBytes },
        sendSnapshot: (peerId, snapshot) => transport.sendSnapshot(peerId, snapshot),
        clock,
        random: () => random.intBelow(0x1_0000_0000) / 0x1_0000_0000,
        logger,
      });
      const loadStarted = performance.now();
      const initial = await snapshots.loadLatest();
      if (initial !== null) {
        logger.info({ component: 'snapshot', index: initial.index, keys: keyspace.size, ms: Math.round(performance.now() - loadStarted) }, 'loaded the newest snapshot');
      }
      const sendMessages = transport.sendFor(dataGroupId);
      const bootstrapVoters = config.join ? undefined : Object.keys(meta.peers).length > 0 ? Object.keys(meta.peers) : [config.id];
      group = await RaftGroup.open({
        groupId: dataGroupId,
        nodeId: config.id,
        log,
        residentLogBytes: config.logCacheBytes,
        stateMachine: {
          apply: (index, payload, requestId) => {
            snapshots!.noteApplied(payload.length);
            return stateMachine.apply(index, payload, requestId);
          },
        },
        transport: {
          send: (messages: readonly Message[]) => {
            let regular = messages;
            if (messages.some((m) => m.type === MessageType.MsgSnap)) {
              regular = messages.filter((m) => m.type !== MessageType.MsgSnap);
              for (const m of messages) if (m.type === MessageType.MsgSnap) snapshots!.ship(m);
            }
            if (regular.length > 0) sendMessages.send(regular);
          },
        },
        ...(bootstrapVoters ? { bootstrapVoters, bootstrapAddresses: addressBook } : {}),
        ...(initial !== null ? { initialSnapshot: { index: initial.index, term: initial.term, confState: initial.confState } } : {}),
        snapshots,
        everMembers,
        onConfChange,
        random,
        raft: { electionTick: config.electionTicks, heartbeatTick: config.heartbeatTicks },
        logger: raftLogger(logger, dataGroupId),
        onFatal: (err) => {
          // Crash-stop, as etcd does on a WAL error: the disk decides what survived.
          logger.fatal({ component: 'node', error: err.message }, 'the Raft log failed; stopping the process');
          setTimeout(() => process.exit(1), 50);
        },
        onSoftState: (ss, term) => logger.info({ component: 'raft', group: dataGroupId, role: ss.state, leader: ss.lead, term }, 'role changed'),
      });
      snapshots.attach(group);

      const forwarder = new GrpcForwarder(dataGroupId, (id) => transport.peers().get(id), clock);
      const requestIdPrefix = `${config.id}.${randomBytes(6).toString('base64url')}.`;
      const gateway = new Gateway({
        group,
        keyspace,
        resolve: (args) => catalog.resolve(args),
        forwarder,
        clock,
        random: () => random.intBelow(0x1_0000_0000) / 0x1_0000_0000,
        leaderWaitMs: config.leaderWaitMs,
        requestIdPrefix,
      });

      const grpcServer = new grpc.Server(peerServerOptions);
      transport.register(grpcServer);
      registerForwardService(
        grpcServer,
        (groupId, writes, deadline) =>
          groupId === dataGroupId
            ? gateway.handleForwarded(writes, (name) => catalog.resolveWrite(name), deadline)
            : Promise.resolve(writes.map(() => ({ status: 'not-leader' as const }))),
        clock,
      );
      const stats = new ServerStats(clock());
      let server: QuorumServer | null = null;
      const membership = new Membership({
        group,
        addressOf: (id) => addressBook.get(id) ?? transport.peers().get(id),
        onLeader: (address, call) => adminChange(address, call, { timeoutMs: 30_000 }),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        waitMs: 10_000,
      });
      registerAdminService(
        grpcServer,
        { status: () => server!.status() },
        { change: (call) => membership.run(call), promote: (nodeId) => membership.run({ kind: 'promote', nodeId }) },
        snapshotProvider(group, snapshots, (id) => addressBook.get(id) ?? transport.peers().get(id)),
      );
      const grpcPort = await new Promise<number>((resolve, reject) => {
        grpcServer.bindAsync(`${config.host}:${config.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
          err ? reject(new ServerStartError(`cannot listen for gRPC on ${config.host}:${config.grpcPort}: ${err.message}`)) : resolve(port),
        );
      });

      // Until the log is replayed, a restarted node must not serve an empty or stale state.
      let replayed = false;
      void group.ready().then(
        () => {
          replayed = true;
          logger.info({ component: 'node', applied: group!.applied }, 'log replayed; serving');
        },
        (err: Error) => logger.error({ component: 'node', error: err.message }, 'the group failed before its log was replayed'),
      );
      const loadingReply = error('LOADING Redis is loading the dataset in memory');
      const serverContext = makeServerContext(() => server!, catalog);
      const resp = new RespServer({
        host: config.host,
        port: config.respPort,
        maxClients: config.maxClients,
        executor: {
          classify: (ctx, args) => {
            const cmd = gateway.classify(ctx, args);
            // Until the log is replayed, a restarted node must not serve an empty or stale state.
            if (!replayed && (cmd.kind === 'read' || cmd.kind === 'write')) return { kind: 'immediate', reply: loadingReply };
            return cmd;
          },
          readRun: (items) => gateway.readRun(items),
          writeRun: (items) => gateway.writeRun(items),
        },
        server: serverContext,
        stats,
        clock,
        onClientError: () => {},
      });
      const respPort = await resp.listen().catch((err: Error) => {
        throw new ServerStartError(`cannot listen for RESP on ${config.host}:${config.respPort}: ${err.message}`);
      });

      const expiry = new ActiveExpiry({
        isLeader: () => group!.isLeader(),
        sampleKeysWithTtl: (count) => catalog.sampleKeysWithTtl(keyspace, count, () => random.intBelow(0x1_0000_0000) / 0x1_0000_0000),
        isExpired: (key, now) => catalog.isExpired(keyspace, key, now),
        proposeExpire: async (keys) => {
          const now = clock();
          const payload = writeEntryWriter({ flags: WriteFlags.dedup, timeMs: now, args: [Buffer.from(catalog.expireKeysCommand), ...keys] });
          const reply = (await group!.propose(payload, gateway.newRequestId())) as Reply;
          return reply.kind === 'integer' ? Number(reply.value) : 0;
        },
        clock,
        onExpired: (n) => {
          stats.expiredKeys += n;
        },
      });

      const promoter = setInterval(() => void membership.promoteCaughtUpLearners(), 500);
      server = new QuorumServer(config, logger, catalog, group, stateMachine, transport, forwarder, grpcServer, resp, expiry, lockPath, startedAtMs, stats, snapshots, snapshotStore);
      server.respPort = respPort;
      server.grpcPort = grpcPort;
      server.startTimers(clock);
      server.timers.push(promoter);
      expiry.start();
      logger.info({ component: 'node', resp: `${config.host}:${respPort}`, grpc: `${config.host}:${grpcPort}` }, 'quorumkv node started');
      return server;
    } catch (err) {
      await rm(lockPath, { force: true });
      throw err;
    }
  }

  private startTimers(clock: () => number): void {
    const tick = setInterval(() => this.group.tick(), this.config.tickMs);
    const sample = setInterval(() => {
      this.stats.sample(clock());
      this.stats.noteUsedMemory(memoryFigures().used);
    }, 100);
    this.timers.push(tick, sample);
  }

  get startedAt(): number {
    return this.startedAtMs;
  }

  get respServer(): RespServer {
    return this.resp;
  }

  get commandCatalog(): CommandCatalog {
    return this.catalog;
  }

  get peerTransport(): GrpcPeerTransport {
    return this.transport;
  }

  status(): NodeStatus {
    return {
      nodeId: this.config.id,
      addresses: { resp: `${this.config.host}:${this.respPort}`, grpc: `${this.config.host}:${this.grpcPort}` },
      groups: [groupStatus(this.group)],
    };
  }

  /** SIGTERM: stop accepting, fail or finish in-flight requests, flush, release the data dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.expiry.stop();
    await this.resp.close();
    await this.group.stop();
    await this.snapshots.stop();
    await this.snapshotStore.close();
    this.forwarder.close();
    await this.transport.close();
    await new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    await rm(this.lockPath, { force: true });
    this.logger.info({ component: 'node' }, 'stopped');
  }
}

function makeServerContext(server: () => QuorumServer, catalog: CommandCatalog): ServerContext {
  const sources = (): InfoSources => {
    const s = server();
    return {
      config: s.config,
      startedAtMs: s.startedAt,
      nowMs: Date.now(),
      respPort: s.respPort,
      stats: s.stats,
      clients: s.respServer.clients().length,
      group: s.group,
      snapshots: s.snapshots,
      keyspace: s.stateMachine.keyspace,
      catalog,
      version: quorumkvVersion,
      redisVersion: compatibleRedisVersion,
    };
  };
  return {
    nowMs: () => Date.now(),
    nowMicros: () => BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)),
    clients: (): readonly ClientState[] => server().respServer.clients(),
    killClient: (id) => server().respServer.kill(id),
    commandTable: () => catalog.publicTable(),
    infoSectionNames: () => infoSectionNames,
    infoSection: (name) => infoSection(name, sources()),
    serverName: 'redis',
    redisVersion: compatibleRedisVersion,
    role: () => (server().group.isLeader() ? 'master' : 'replica'),
  };
}

/**
 * Snapshot and Backup of the admin API. A backup is the leader's: it first confirms it still
 * leads and has applied everything committed (a read barrier, as a linearizable read), then
 * snapshots that state, so the backup holds every write acknowledged before it was asked for.
 */
function snapshotProvider(group: RaftGroup, snapshots: SnapshotManager, addressOf: (id: string) => string | undefined): SnapshotProvider {
  return {
    snapshotNow: async () => [await snapshots.snapshotNow()],
    backup: async () => {
      if (!group.isLeader()) {
        const leader = group.leaderId();
        throw new BackupNotLeaderError(leader === '' ? null : (addressOf(leader) ?? null));
      }
      await group.readBarrier();
      await snapshots.snapshotNow();
      const reader = await snapshots.openLatest();
      async function* chunks(): AsyncGenerator<Buffer> {
        try {
          yield* reader.chunks();
        } finally {
          await reader.close();
        }
      }
      return { info: reader.info, chunkBytes: snapshots.chunkBytes, chunks: chunks() };
    },
  };
}
