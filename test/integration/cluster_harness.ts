/**
 * Starts real quorumkv server processes (the compiled `bin/quorumkv.js server`) on free ports in
 * a temp dir, and stops every one of them when the test ends, also on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { freePort, raftInfo, spawnServer, waitForNode, waitForPort } from '../../jepsen-lite/node_probe.js';

// From test/integration, or from dist/test/integration when a compiled benchmark uses it.
export const repoRoot = resolve(import.meta.dirname, import.meta.dirname.split(sep).includes('dist') ? '../../..' : '../..');
export const binPath = join(repoRoot, 'bin/quorumkv.js');

export { freePort };

export interface NodeProcess {
  readonly id: string;
  /** Started with --join (added by the admin API) instead of --peers. */
  readonly join?: boolean;
  readonly respPort: number;
  readonly grpcPort: number;
  readonly dataDir: string;
  child: ChildProcess | null;
  output: string[];
  /** Extra environment for the next spawn (QKV_FAILPOINTS for the crash tests). */
  env?: Record<string, string>;
  /** Flags of this node's own, after the cluster's (--zone, say). */
  args?: readonly string[];
  /** How the last process exited. */
  lastExit?: { code: number | null; signal: NodeJS.Signals | null };
}

export interface ClusterOptions {
  readonly nodes?: number;
  readonly extraArgs?: readonly string[];
  /** Runs once ports and data dirs are chosen, before any node starts (to seed data dirs). */
  readonly beforeSpawn?: (cluster: TestCluster) => Promise<void>;
  /** Another build's `bin/quorumkv.js` (the A/B benchmark runs an older checkout beside this one). */
  readonly binPath?: string;
  /**
   * How long a node may take to start serving (default 15 s). A node loads its newest snapshot
   * before it listens: seeded data dirs (beforeSpawn) need longer on a loaded machine.
   */
  readonly startTimeoutMs?: number;
}

export class TestCluster {
  readonly nodes: NodeProcess[] = [];
  private readonly clients: Redis[] = [];

  private constructor(
    readonly dir: string,
    private readonly extraArgs: readonly string[],
    private readonly bin: string,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'qkv-it-'));
    const cluster = new TestCluster(dir, options.extraArgs ?? [], options.binPath ?? binPath);
    const count = options.nodes ?? 3;
    for (let i = 0; i < count; i++) {
      const id = `n${i + 1}`;
      cluster.nodes.push({ id, respPort: await freePort(), grpcPort: await freePort(), dataDir: join(dir, id), child: null, output: [] });
    }
    try {
      await options.beforeSpawn?.(cluster);
      for (const n of cluster.nodes) cluster.spawn(n);
      // Every node serving first, then the election: the leader wait is about electing one,
      // not about loading data (it used to include both, and a restored cluster loading 100,000
      // keys on a loaded machine had 'no leader after 20000 ms' with every node still loading).
      for (const n of cluster.nodes) await cluster.waitUp(n, options.startTimeoutMs);
      await cluster.waitForLeader();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  peers(): string {
    return this.nodes
      .filter((n) => !n.join)
      .map((n) => `${n.id}=127.0.0.1:${n.grpcPort}`)
      .join(',');
  }

  spawn(n: NodeProcess): void {
    if (n.child) throw new Error(`${n.id} is already running`);
    n.output = [];
    const child = spawnServer({
      binPath: this.bin,
      id: n.id,
      respPort: n.respPort,
      grpcPort: n.grpcPort,
      dataDir: n.dataDir,
      membership: n.join ? ['--join'] : ['--peers', this.peers()],
      extraArgs: [...this.extraArgs, ...(n.args ?? [])],
      env: { ...process.env, ...n.env },
      output: n.output,
    });
    n.lastExit = undefined;
    child.on('exit', (code, signal) => {
      n.lastExit = { code, signal };
      if (n.child === child) n.child = null;
    });
    n.child = child;
  }

  /** Starts a new, empty node with --join (the operator then adds it with admin add-node). */
  async startJoiner(id: string, env?: Record<string, string>): Promise<NodeProcess> {
    const n: NodeProcess = { id, join: true, respPort: await freePort(), grpcPort: await freePort(), dataDir: join(this.dir, id), child: null, output: [], ...(env ? { env } : {}) };
    this.nodes.push(n);
    this.spawn(n);
    await this.waitUp(n);
    return n;
  }

  /** Resolves with how `n` exited, once it has (it exits on its own: a failpoint, a fatal error). */
  async waitForExit(n: NodeProcess, timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const deadline = Date.now() + timeoutMs;
    while (n.child !== null) {
      if (Date.now() > deadline) throw new Error(`${n.id} still running after ${timeoutMs} ms\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return n.lastExit ?? { code: null, signal: null };
  }

  /** kill -9. */
  async kill(n: NodeProcess): Promise<void> {
    const child = n.child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
    n.child = null;
  }

  async restart(n: NodeProcess): Promise<void> {
    this.spawn(n);
    await this.waitUp(n);
  }

  client(n: NodeProcess, options: Record<string, unknown> = {}): Redis {
    const c = new Redis({ port: n.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, ...options });
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
    return waitForPort(port, timeoutMs);
  }

  /** Until the node just spawned listens on its RESP port; fails with its output if it exits. */
  private waitUp(n: NodeProcess, timeoutMs = 15_000): Promise<void> {
    if (!n.child) return Promise.reject(new Error(`${n.id} is not running`));
    return waitForNode(n.child, n.output, n.respPort, timeoutMs).catch((err: Error) => {
      throw new Error(`${n.id}: ${err.message}`);
    });
  }

  /** The INFO raft fields of one node. */
  raftInfo(n: NodeProcess): Promise<Record<string, string>> {
    return raftInfo(n.respPort);
  }

  async leader(): Promise<NodeProcess | undefined> {
    for (const n of this.nodes) {
      if (!n.child) continue;
      try {
        const info = await this.raftInfo(n);
        if (info.raft_role === 'leader') return n;
      } catch {
        // down or not yet listening
      }
    }
    return undefined;
  }

  async waitForLeader(timeoutMs = 20_000): Promise<NodeProcess> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l) return l;
      if (Date.now() > deadline) throw new Error(`no leader after ${timeoutMs} ms\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  logs(): string {
    return this.nodes.map((n) => `--- ${n.id}\n${n.output.join('').slice(-3000)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.child;
        if (!child) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs `quorumkv admin --addr <node's gRPC> ...args` as a real process. */
export function admin(node: NodeProcess, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return quorumkv('admin', '--addr', `127.0.0.1:${node.grpcPort}`, ...args);
}

/** One group as `admin groups --json` lists it. */
export interface GroupRow {
  group: string;
  slots: [number, number][];
  leader: string;
  voters: string[];
  learners: string[];
  keys: number;
  epoch: number;
}

/** `admin groups --json` at `node`: every group of the cluster as that node sees it. */
export async function adminGroups(node: NodeProcess): Promise<GroupRow[]> {
  const r = await admin(node, 'groups', '--json');
  if (r.code !== 0) throw new Error(`admin groups at ${node.id}: ${r.stderr}`);
  return JSON.parse(r.stdout) as GroupRow[];
}

/** The groups `node` hosts a replica of (its `admin status`), the meta group first. */
export async function hostedGroups(node: NodeProcess): Promise<string[]> {
  const r = await admin(node, 'status');
  if (r.code !== 0) throw new Error(`admin status at ${node.id}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { groups: { groupId: string }[] }).groups.map((g) => g.groupId);
}

/** Runs `quorumkv ...args` as a real process. */
export function quorumkv(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return quorumkvWithin(60_000, args);
}

/** `quorumkv(...args)`, killed if it has not exited within `timeoutMs` (a hung CLI fails its test, never hangs it). */
export function quorumkvWithin(timeoutMs: number, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [binPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls `fn` every 100 ms until it returns something truthy. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One writer per node, each SETting `${prefix}${w}:${i}` = `v${i}` in a loop until `stop()`;
 * `acked` holds every write answered OK (a failed one is retried after 50 ms with the next key).
 */
/**
 * An operator's replacement of a member, as docs/operations.md's runbook does it: start `newId` empty
 * with `--join`, `admin add-node` it through `addVia`, wait until it is a voter (promoted once
 * caught up), then `admin remove-node` the old one through `removeVia`. Each admin call must
 * succeed. Returns the new node.
 */
export async function replaceMember(
  c: TestCluster,
  old: NodeProcess,
  newId: string,
  addVia: NodeProcess,
  removeVia: NodeProcess,
  promotionTimeoutMs = 60_000,
): Promise<NodeProcess> {
  const fresh = await c.startJoiner(newId);
  const add = await admin(addVia, 'add-node', '--id', newId, '--grpc', `127.0.0.1:${fresh.grpcPort}`);
  expect(add.stderr).toBe('');
  expect(add.code).toBe(0);
  await until(
    `${newId} promoted`,
    async () => {
      const info = await c.raftInfo(fresh);
      return info.raft_voters.split(',').includes(newId) && info.raft_role !== 'learner';
    },
    promotionTimeoutMs,
  );
  const removed = await admin(removeVia, 'remove-node', '--id', old.id);
  expect(removed.stderr).toBe('');
  expect(removed.code).toBe(0);
  return fresh;
}

export function startWriters(c: TestCluster, nodes: readonly NodeProcess[], prefix: string): { acked: Map<string, string>; stop: () => Promise<void> } {
  const acked = new Map<string, string>();
  let running = true;
  const loops = nodes.map(async (node, w) => {
    const client = c.client(node, { commandTimeout: 5_000 });
    for (let i = 0; running; i++) {
      try {
        if ((await client.set(`${prefix}${w}:${i}`, `v${i}`)) === 'OK') acked.set(`${prefix}${w}:${i}`, `v${i}`);
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  return {
    acked,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
