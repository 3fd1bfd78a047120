import type { Reply } from '../resp/reply.js';
import type { CommandSpec } from './command_spec.js';

/** Per-connection state the gateway keeps and connection commands change. */
export interface ClientState {
  readonly id: number;
  /** `ip:port` of the client, and of our end. */
  readonly addr: string;
  readonly laddr: string;
  readonly createdAtMs: number;
  lastInteractionMs: number;
  name: string;
  /** 2 or 3 (HELLO). */
  protocol: 2 | 3;
  /** Always 0: quorumkv has one database (SELECT of any other is refused as Redis Cluster does). */
  db: number;
  lastCommand: string;
  /** Set by QUIT: the gateway closes the connection after writing the reply. */
  closeAfterReply: boolean;
  /**
   * Set by READONLY, cleared by READWRITE (cluster mode): reads of keys whose group has a replica
   * on this node are served here, after a ReadIndex barrier, instead of being redirected to the
   * group's leader. Writes are redirected all the same.
   */
  readOnly: boolean;
}

/** What connection commands may ask of the server. */
export interface ServerContext {
  /** Wall clock, for TIME and CLIENT LIST ages. */
  nowMs(): number;
  /** Microseconds part for TIME, from the same clock source. */
  nowMicros(): bigint;
  clients(): readonly ClientState[];
  /** Closes another client's connection (CLIENT KILL); false if there is no such client. */
  killClient(id: number): boolean;
  commandTable(): readonly CommandSpec[];
  /** Names of the INFO sections this server has, in order, lower-case. */
  infoSectionNames(): readonly string[];
  /** One INFO section's lines (`key:value`), without its `# Title` header. */
  infoSection(name: string): readonly string[];
  /** For HELLO: server name, version, mode, role. */
  readonly serverName: string;
  readonly redisVersion: string;
  role(): 'master' | 'replica';
  /** What CLUSTER, READONLY, READWRITE and ASKING need: whether cluster mode is on, and the cluster as this node sees it. */
  readonly cluster: ClusterContext;
}

/**
 * The cluster as Redis Cluster's commands show it, built by the node from the meta group's
 * records and what it knows of each group's leader: every data group is one shard, its leader
 * the master of its slots, its other voters the replicas.
 */
export interface ClusterContext {
  /** `--cluster-mode`: off, CLUSTER and its kin answer as Redis does with cluster support disabled. */
  readonly enabled: boolean;
  view(): ClusterView;
  /**
   * The live keys of one slot, up to `limit` of them, with their number (CLUSTER COUNTKEYSINSLOT
   * with limit 0, GETKEYSINSLOT): read from the replica of the slot's group on this node after a
   * ReadIndex barrier, as any read. `error` (the reply text, without the '-') when this node has no
   * replica of that group, none serves the slot, or no leader answered.
   */
  keysInSlot(slot: number, limit: number): Promise<{ readonly count: number; readonly keys: readonly Buffer[] } | { readonly error: string }>;
}

/** One node as CLUSTER NODES, SLOTS and SHARDS print it. */
export interface ClusterNodeView {
  /** Redis's node id: 40 hex characters, stable for the node's quorumkv id. */
  readonly id: string;
  /** Where clients reach it (its RESP address); port 0 when it has registered none. */
  readonly host: string;
  readonly port: number;
  /** What Redis calls the cluster bus port: here the node's gRPC port. */
  readonly busPort: number;
  readonly myself: boolean;
  /** The slots CLUSTER NODES lists for it: those of the groups whose master it is, as ranges. */
  readonly slots: readonly (readonly [number, number])[];
  /** Redis's config epoch: the highest Raft term among the groups whose master it is (0 when none, or unknown here). */
  readonly epoch: number;
}

/** One data group as a shard: its slot ranges, its master and its replicas. */
export interface ClusterShardView {
  readonly slots: readonly (readonly [number, number])[];
  readonly master: ClusterNodeView;
  readonly replicas: readonly ClusterNodeView[];
  /** The log index this node's replica of the group has applied (CLUSTER SHARDS replication-offset); 0 when it hosts none. */
  readonly offset: number;
}

export interface ClusterView {
  readonly myself: ClusterNodeView;
  /** Every node of the meta group's records, this one included, in id order. */
  readonly nodes: readonly ClusterNodeView[];
  /** Every data group that has a master, in the order of its first slot. */
  readonly shards: readonly ClusterShardView[];
  /** CLUSTER INFO's figures. */
  readonly info: {
    readonly state: 'ok' | 'fail';
    readonly slotsAssigned: number;
    readonly slotsOk: number;
    readonly slotsPfail: number;
    readonly slotsFail: number;
    readonly knownNodes: number;
    readonly size: number;
    readonly currentEpoch: number;
    readonly myEpoch: number;
  };
}

export interface ConnectionContext {
  readonly client: ClientState;
  readonly server: ServerContext;
}

/**
 * A connection command: PING, ECHO, SELECT, QUIT, HELLO, CLIENT, COMMAND, INFO, TIME, CLUSTER,
 * READONLY, READWRITE, ASKING. Most answer at once; the few that read keys (CLUSTER
 * COUNTKEYSINSLOT, GETKEYSINSLOT) answer after a read barrier, so they return a promise, and the
 * connection runs nothing after them until it settles (never rejects).
 */
export type ConnectionHandler = (ctx: ConnectionContext, args: readonly Buffer[]) => Reply | Promise<Reply>;
