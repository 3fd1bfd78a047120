import os from 'node:os';
import type { ServerConfig } from '../config/config.js';
import { StateType } from '../raft/types.js';
import type { Keyspace } from '../state/keyspace.js';
import type { RaftGroup } from './raft_group.js';
import { cpuFigures, memoryFigures } from './process_usage.js';
import type { SnapshotManager } from './snapshot_manager.js';
import type { CommandCatalog } from './command_catalog.js';
import type { ServerStats } from './server_stats.js';

/** Everything INFO reads, gathered by the server at the moment of the call. */
export interface InfoSources {
  readonly config: ServerConfig;
  readonly startedAtMs: number;
  readonly nowMs: number;
  readonly respPort: number;
  readonly stats: ServerStats;
  readonly clients: number;
  /** The group the unprefixed Raft fields describe: the meta group, or the first data group hosted (none while a --join node waits). */
  readonly primary: InfoGroup | null;
  /** The data groups hosted here, in group order; each adds its Raft fields prefixed with its id. */
  readonly dataGroups: readonly InfoGroup[];
  readonly catalog: CommandCatalog;
  readonly version: string;
  readonly redisVersion: string;
  /** The node's own Raft figures (INFO raft prints them after the groups' fields). */
  readonly raftNode?: RaftNodeFigures;
}

/** What INFO raft says of the node as a whole: quiet replicas and the peer transport's counters. */
export interface RaftNodeFigures {
  readonly groups: number;
  readonly quietGroups: number;
  readonly messagesSent: number;
  readonly messagesReceived: number;
  readonly batchesSent: number;
  readonly batchesReceived: number;
  readonly beatsSent: number;
  readonly beatsReceived: number;
}

/** What INFO reads of one group replica. */
export interface InfoGroup {
  readonly groupId: string;
  readonly group: RaftGroup;
  readonly snapshots: SnapshotManager;
  readonly stateMachine: { readonly keyspace: Keyspace };
}

/**
 * INFO's sections, in the order plain INFO prints them: Redis 7.0's order (genRedisInfoString),
 * with `raft` after `cpu`, where Redis lists its modules.
 */
export const infoSectionNames = ['server', 'clients', 'memory', 'stats', 'replication', 'cpu', 'raft', 'cluster', 'keyspace'] as const;

const runId = Array.from({ length: 40 }, (_, i) => ((i * 7919 + process.pid) % 16).toString(16)).join('');

export function infoSection(name: string, s: InfoSources): string[] {
  switch (name) {
    case 'server': {
      const uptime = Math.floor((s.nowMs - s.startedAtMs) / 1000);
      return [
        `redis_version:${s.redisVersion}`,
        `quorumkv_version:${s.version}`,
        `redis_mode:${s.config.clusterMode ? 'cluster' : 'standalone'}`,
        `os:${os.type()} ${os.release()} ${os.arch()}`,
        `arch_bits:${process.arch.endsWith('64') ? 64 : 32}`,
        `process_id:${process.pid}`,
        `run_id:${runId}`,
        `tcp_port:${s.respPort}`,
        `server_time_usec:${s.nowMs * 1000}`,
        `uptime_in_seconds:${uptime}`,
        `uptime_in_days:${Math.floor(uptime / 86400)}`,
        `hz:10`,
        `executable:${process.argv[1] ?? ''}`,
        `node_version:${process.version}`,
      ];
    }
    case 'clients':
      return [`connected_clients:${s.clients}`, `maxclients:${s.config.maxClients}`, 'blocked_clients:0'];
    case 'memory': {
      const mem = memoryFigures();
      s.stats.noteUsedMemory(mem.used);
      const peak = s.stats.usedMemoryPeak;
      // Redis's dataset is what it holds beyond its own overhead; here the keyspace's estimate of
      // its keys, values and TTLs, which eviction under maxmemory counts.
      let dataset = 0;
      for (const g of s.dataGroups) dataset += s.catalog.usedMemoryBytes(g.stateMachine.keyspace);
      return [
        `used_memory:${mem.used}`,
        `used_memory_human:${bytesToHuman(mem.used)}`,
        `used_memory_rss:${mem.rss}`,
        `used_memory_rss_human:${bytesToHuman(mem.rss)}`,
        `used_memory_peak:${peak}`,
        `used_memory_peak_human:${bytesToHuman(peak)}`,
        `used_memory_dataset:${dataset}`,
        'maxmemory:0',
        'maxmemory_human:0B',
        'maxmemory_policy:noeviction',
        // What Redis prints when built on the C library's malloc rather than jemalloc: Node
        // allocates off-heap memory (Buffers) with libc's malloc and has no jemalloc, so none of
        // jemalloc's figures (allocator_*) or MEMORY MALLOC-STATS exist here. V8 maps its heap
        // pages itself.
        'mem_allocator:libc',
        // quorumkv's own: the part of used_memory that is V8's heap.
        `used_memory_heap:${mem.heapUsed}`,
      ];
    }
    case 'stats': {
      const st = s.stats;
      let hits = 0;
      let misses = 0;
      for (const g of s.dataGroups) {
        hits += g.stateMachine.keyspace.readHits;
        misses += g.stateMachine.keyspace.readMisses;
      }
      return [
        `total_connections_received:${st.totalConnectionsReceived}`,
        `total_commands_processed:${st.totalCommandsProcessed}`,
        `instantaneous_ops_per_sec:${st.instantaneousOpsPerSec()}`,
        `total_net_input_bytes:${st.totalNetInputBytes}`,
        `total_net_output_bytes:${st.totalNetOutputBytes}`,
        `rejected_connections:${st.rejectedConnections}`,
        `expired_keys:${st.expiredKeys}`,
        `keyspace_hits:${hits}`,
        `keyspace_misses:${misses}`,
      ];
    }
    case 'replication': {
      const group = s.primary?.group;
      const leader = group?.isLeader() ?? false;
      return [`role:${leader ? 'master' : 'slave'}`, `connected_slaves:${leader ? Math.max(0, group!.confState().voters.length - 1) : 0}`];
    }
    case 'cpu': {
      const cpu = cpuFigures();
      const lines = [
        `used_cpu_sys:${cpuSeconds(cpu.sys)}`,
        `used_cpu_user:${cpuSeconds(cpu.user)}`,
        `used_cpu_sys_children:${cpuSeconds(cpu.childrenSys)}`,
        `used_cpu_user_children:${cpuSeconds(cpu.childrenUser)}`,
      ];
      // Redis too leaves these out where the system cannot tell a thread's time.
      if (cpu.mainThread !== null) {
        lines.push(`used_cpu_sys_main_thread:${cpuSeconds(cpu.mainThread.sys)}`, `used_cpu_user_main_thread:${cpuSeconds(cpu.mainThread.user)}`);
      }
      return lines;
    }
    case 'raft': {
      if (s.primary === null) return [];
      const lines = raftSection(s.primary.group, s.primary.snapshots, '');
      // With the meta group first, every data group adds its own, prefixed (g1_raft_role:...).
      for (const g of s.dataGroups) if (g !== s.primary) lines.push(...raftSection(g.group, g.snapshots, `${g.groupId}_`));
      const n = s.raftNode;
      if (n) {
        lines.push(
          `raft_groups:${n.groups}`,
          `raft_quiet_groups:${n.quietGroups}`,
          `raft_messages_sent:${n.messagesSent}`,
          `raft_messages_received:${n.messagesReceived}`,
          `raft_batches_sent:${n.batchesSent}`,
          `raft_batches_received:${n.batchesReceived}`,
          `raft_liveness_beats_sent:${n.beatsSent}`,
          `raft_liveness_beats_received:${n.beatsReceived}`,
        );
      }
      return lines;
    }
    case 'cluster':
      // Redis prints the section whether cluster support is on or not.
      return [`cluster_enabled:${s.config.clusterMode ? 1 : 0}`];
    case 'keyspace': {
      let keys = 0;
      let expires = 0;
      for (const g of s.dataGroups) {
        keys += g.stateMachine.keyspace.size;
        expires += s.catalog.keysWithTtl(g.stateMachine.keyspace);
      }
      if (keys === 0) return [];
      return [`db0:keys=${keys},expires=${expires},avg_ttl=0`];
    }
    default:
      return [];
  }
}

/** The contract's `# Raft` fields, then each member's progress as the leader sees it; every name prefixed with `prefix`. */
function raftSection(group: RaftGroup, snapshots: SnapshotManager, prefix: string): string[] {
  const status = group.raw.status();
  const { voters, learners } = status.config;
  const log = group.logMemory();
  const state = status.softState.state;
  const role = learners.includes(group.nodeId) ? 'learner' : state === StateType.PreCandidate ? 'candidate' : state;
  const lines = [
    `raft_node_id:${group.nodeId}`,
    `raft_group_id:${group.groupId}`,
    `raft_role:${role}`,
    `raft_leader_id:${status.softState.lead}`,
    `raft_term:${status.hardState.term}`,
    `raft_commit_index:${status.hardState.commit}`,
    `raft_applied_index:${group.applied}`,
    `raft_last_index:${status.lastIndex}`,
    `raft_first_index:${status.firstIndex}`,
    `raft_voters:${voters.join(',')}`,
    `raft_learners:${learners.join(',')}`,
    `raft_fsyncs:${group.stats.fsyncs}`,
    `raft_snapshot_index:${snapshots.latestInfo?.index ?? 0}`,
    `raft_snapshots_taken:${snapshots.stats.taken}`,
    `raft_snapshots_sent:${snapshots.stats.shipped}`,
    `raft_snapshots_installed:${snapshots.stats.installed}`,
    `raft_snapshot_in_progress:${snapshots.inProgress ? 1 : 0}`,
    `raft_last_snapshot_ms:${Math.round(snapshots.stats.lastDurationMs)}`,
    `raft_log_resident_bytes:${log.residentPayloadBytes}`,
    `raft_log_page_ins:${log.pageIns}`,
    `raft_quiet:${group.quiet ? 1 : 0}`,
  ];
  if (state === StateType.Leader) {
    const last = status.lastIndex;
    for (const [id, pr] of status.progress) {
      if (id === group.nodeId) continue;
      lines.push(`raft_member_${id.replace(/-/g, '_')}:match=${pr.matchIndex},lag=${Math.max(0, last - pr.matchIndex)},state=${pr.state}`);
    }
  }
  return prefix === '' ? lines : lines.map((line) => prefix + line);
}

/**
 * Redis's bytesToHuman: whole bytes below 1024, else two decimals and K, M, G, T or P (powers of
 * 1024); whole bytes again past 2^53, where a count is no longer exact here. printf's %.2f rounds the exact value with ties to even (1152 is
 * 1.12K); toFixed would round a tie up, so the rounding is done here on integers: n / 1024^k is
 * exact in binary, so every tie is a real one.
 */
export function bytesToHuman(bytes: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  let unit = -1;
  while (unit + 1 < units.length && bytes >= 1024 ** (unit + 2)) unit++;
  if (unit < 0 || !Number.isSafeInteger(bytes)) return `${bytes}B`;
  const divisor = 1024n ** BigInt(unit + 1);
  const scaled = BigInt(bytes) * 100n;
  let hundredths = scaled / divisor;
  const twiceRemainder = (scaled % divisor) * 2n;
  if (twiceRemainder > divisor || (twiceRemainder === divisor && hundredths % 2n === 1n)) hundredths++;
  const text = hundredths.toString().padStart(3, '0');
  return `${text.slice(0, -2)}.${text.slice(-2)}${units[unit]}`;
}

/** Microseconds as Redis prints getrusage's timevals: `%ld.%06ld` seconds. */
export function cpuSeconds(micros: number): string {
  const whole = Math.floor(micros);
  return `${Math.floor(whole / 1_000_000)}.${String(whole % 1_000_000).padStart(6, '0')}`;
}
