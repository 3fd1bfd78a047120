/**
 * The two servers the benchmark compares, started fresh in temp dirs on free ports:
 *
 * - a 3-node quorumkv cluster with production defaults (no flags beyond ids, ports, data dirs,
 *   peers: fsync on, 100 ms ticks, info logging), through the integration tests' harness;
 * - redis-server with `--appendonly yes --appendfsync always --save ''`: every write fsynced
 *   before the reply, the closest single-node equivalent of quorumkv's durability.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCluster, freePort, type NodeProcess } from '../integration/cluster_harness.js';
import { waitForPort } from '../../jepsen-lite/node_probe.js';

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

export class RedisReference {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
    /** redis-server's last output lines, for an error report. */
    readonly output: string[],
  ) {}

  static installed(): boolean {
    return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  }

  static async start(): Promise<RedisReference> {
    const dir = await mkdtemp(join(tmpdir(), 'qkv-bench-redis-'));
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--logfile', ''];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (d: Buffer): void => {
      output.push(d.toString());
      if (output.length > 100) output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const redis = new RedisReference(port, dir, child, output);
    try {
      await waitForPort(port, 10_000);
    } catch (err) {
      await redis.stop();
      throw new Error(`redis-server did not start: ${(err as Error).message}\n${output.join('')}`);
    }
    return redis;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
