/**
 * The two servers the benchmark compares, started fresh in temp dirs on free ports:
 *
 * - a 3-node quorumkv cluster with production defaults (no flags beyond ids, ports, data dirs,
 *   peers: fsync on, 100 ms ticks, info logging), through the integration tests' harness;
 * - redis-server with `--appendonly yes --appendfsync always --save ''`: every write fsynced
 *   before the reply, the closest single-node equivalent of quorumkv's durability.
 */
import { readFileSync } from 'node:fs';
import { TestCluster, type NodeProcess } from '../integration/cluster_harness.js';
import { RedisServer } from '../support/redis_server.js';

/** Resident set size of a process, from /proc (Linux); null when unreadable. */
export function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export class BenchCluster {
  private constructor(readonly cluster: TestCluster) {}

  static async start(): Promise<BenchCluster> {
    return new BenchCluster(await TestCluster.start());
  }

  get nodes(): readonly NodeProcess[] {
    return this.cluster.nodes;
  }

  /** The current leader, by INFO raft (`raft_role:leader`), waiting for one if need be. */
  leader(): Promise<NodeProcess> {
    return this.cluster.waitForLeader();
  }

  /** The highest `raft_term` among the nodes that answer. */
  async term(): Promise<number> {
    let term = 0;
    for (const n of this.nodes) {
      if (!n.child) continue;
      try {
        term = Math.max(term, Number((await this.cluster.raftInfo(n)).raft_term));
      } catch {
        // down or busy: the others tell
      }
    }
    return term;
  }

  stop(): Promise<void> {
    return this.cluster.stop();
  }
}

/** The reference redis-server: test/support/redis_server.ts, with every write fsynced (AOF always). */
export class RedisReference {
  private constructor(private readonly server: RedisServer) {}

  static installed(): boolean {
    return RedisServer.installed();
  }

  static async start(): Promise<RedisReference> {
    return new RedisReference(await RedisServer.start({ persistence: 'aof-always', dirPrefix: 'qkv-bench-redis-' }));
  }

  get port(): number {
    return this.server.port;
  }

  get dir(): string {
    return this.server.dir;
  }

  /** redis-server's last output lines, for an error report. */
  get output(): readonly string[] {
    return this.server.output;
  }

  get pid(): number | undefined {
    return this.server.pid;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
