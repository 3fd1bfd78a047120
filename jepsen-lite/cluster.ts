/**
 * A real cluster of quorumkv processes for the fault harness: free ports, a temp data dir,
 * start / stop / kill -9 / restart / SIGSTOP / SIGCONT per node, and a TCP proxy per directed
 * peer link so that partitions need no root.
 *
 * ```
 *   n1 ──▶ proxy(n1→n2) ──▶ n2's gRPC port        n1's --peers: n1=<own port>,
 *   n1 ──▶ proxy(n1→n3) ──▶ n3's gRPC port                      n2=<proxy n1→n2>, n3=<proxy n1→n3>
 * ```
 *
 * Each node's `--peers` points at its own outgoing proxies from the first start, so its log's
 * bootstrap entries and node.json carry the proxy addresses: every Raft message and every
 * forwarded write from `a` to `b` goes through proxy(a→b). Cutting a link destroys the proxy's
 * open connections and refuses new ones until it is healed. `stop()` ends every process and
 * proxy, also after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, raftInfo, waitForPort } from './node_probe.js';

/** The repository root, from either `jepsen-lite/` (vitest) or `dist/jepsen-lite/` (compiled). */
export const repoRoot = resolve(import.meta.dirname, import.meta.dirname.includes(`${join('dist', 'jepsen-lite')}`) ? '../..' : '..');
export const binPath = join(repoRoot, 'bin/quorumkv.js');

export { freePort } from './node_probe.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy for one directed link; `cut()` drops and refuses connections until `heal()`. */
export class LinkProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;

  constructor(readonly from: string, readonly to: string, readonly port: number, private readonly targetPort: number) {}

  get isCut(): boolean {
    return this.blocked;
  }

  async start(): Promise<void> {
    const server = net.createServer((inbound) => {
      if (this.blocked) {
        inbound.destroy();
        return;
      }
      const outbound = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(inbound);
      this.sockets.add(outbound);
      const close = (): void => {
        inbound.destroy();
        outbound.destroy();
        this.sockets.delete(inbound);
        this.sockets.delete(outbound);
      };
      inbound.on('error', close);
      outbound.on('error', close);
      inbound.on('close', close);
      outbound.on('close', close);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((r, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => r());
    });
    this.server = server;
  }

  cut(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.blocked = false;
  }

  async stop(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

export interface ClusterNode {
  readonly id: string;
  readonly respPort: number;
  readonly grpcPort: number;
  readonly dataDir: string;
  child: ChildProcess | null;
  paused: boolean;
  output: string[];
}

export interface ClusterOptions {
  readonly nodes?: number;
  readonly extraArgs?: readonly string[];
  /** Passed through to each node's stdout/stderr tail (for reports). */
  readonly keepOutputChunks?: number;
}

export class Cluster {
  readonly nodes: ClusterNode[] = [];
  /** `from→to` → its proxy. */
  readonly links = new Map<string, LinkProxy>();

  private constructor(readonly dir: string, private readonly extraArgs: readonly string[]) {}

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-'));
    const cluster = new Cluster(dir, options.extraArgs ?? []);
    try {
      const count = options.nodes ?? 3;
      for (let i = 0; i < count; i++) {
        const id = `n${i + 1}`;
        cluster.nodes.push({ id, respPort: await freePort(), grpcPort: await freePort(), dataDir: join(dir, id), child: null, paused: false, output: [] });
      }
      for (const a of cluster.nodes) {
        for (const b of cluster.nodes) {
          if (a === b) continue;
          const proxy = new LinkProxy(a.id, b.id, await freePort(), b.grpcPort);
          await proxy.start();
          cluster.links.set(`${a.id}→${b.id}`, proxy);
        }
      }
      for (const n of cluster.nodes) cluster.spawn(n);
      for (const n of cluster.nodes) await cluster.waitForPort(n.respPort);
      await cluster.waitForLeader();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  link(from: string, to: string): LinkProxy {
    const l = this.links.get(`${from}→${to}`);
    if (!l) throw new Error(`no link ${from}→${to}`);
    return l;
  }

  /** The --peers of node `n`: itself at its real port, every other node through n's proxy to it. */
  peersOf(n: ClusterNode): string {
    return this.nodes.map((m) => `${m.id}=127.0.0.1:${m === n ? m.grpcPort : this.link(n.id, m.id).port}`).join(',');
  }

  isUp(n: ClusterNode): boolean {
    return n.child !== null && !n.paused;
  }

  upNodes(): ClusterNode[] {
    return this.nodes.filter((n) => this.isUp(n));
  }

  private spawn(n: ClusterNode): void {
    if (n.child) throw new Error(`${n.id} is already running`);
    const args = [
      binPath, 'server',
      '--id', n.id,
      '--resp-port', String(n.respPort),
      '--grpc-port', String(n.grpcPort),
      '--data-dir', n.dataDir,
      '--peers', this.peersOf(n),
      ...this.extraArgs,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      n.output.push(chunk.toString());
      if (n.output.length > 200) n.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('exit', () => {
      if (n.child === child) {
        n.child = null;
        n.paused = false;
      }
    });
    n.child = child;
    n.paused = false;
  }

  /** kill -9 (a paused node is killed too). */
  async kill(n: ClusterNode): Promise<void> {
    const child = n.child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
    n.child = null;
    n.paused = false;
  }

  /** Starts a node that is down; waits until its RESP port listens. */
  async restart(n: ClusterNode): Promise<void> {
    if (n.child) return;
    this.spawn(n);
    await this.waitForPort(n.respPort);
  }

  pause(n: ClusterNode): void {
    if (!n.child || n.paused) return;
    n.child.kill('SIGSTOP');
    n.paused = true;
  }

  resume(n: ClusterNode): void {
    if (!n.child || !n.paused) return;
    n.child.kill('SIGCONT');
    n.paused = false;
  }

  /** Cuts both directions between every node of `a` and every node of `b`. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.link(x, y).cut();
        this.link(y, x).cut();
      }
    }
  }

  healNetwork(): void {
    for (const l of this.links.values()) l.heal();
  }

  cutLinks(): string[] {
    return [...this.links.entries()].filter(([, l]) => l.isCut).map(([k]) => k);
  }

  client(n: ClusterNode, options: Record<string, unknown> = {}): Redis {
    const c = new Redis({ port: n.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, enableOfflineQueue: false, ...options });
    c.on('error', () => {});
    return c;
  }

  waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
    return waitForPort(port, timeoutMs);
  }

  /** The INFO raft fields of one node. */
  raftInfo(n: ClusterNode, timeoutMs = 1_000): Promise<Record<string, string>> {
    return raftInfo(n.respPort, timeoutMs);
  }

  /** A node that says it is the leader (the one with the highest term, if several do). */
  async leader(): Promise<ClusterNode | undefined> {
    let best: { n: ClusterNode; term: number } | undefined;
    await Promise.all(
      this.upNodes().map(async (n) => {
        try {
          const info = await this.raftInfo(n);
          const term = Number(info.raft_term ?? 0);
          if (info.raft_role === 'leader' && (!best || term > best.term)) best = { n, term };
        } catch {
          // down or not yet listening
        }
      }),
    );
    return best?.n;
  }

  async waitForLeader(timeoutMs = 20_000): Promise<ClusterNode> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l) return l;
      if (Date.now() > deadline) throw new Error(`no leader after ${timeoutMs} ms\n${this.logs()}`);
      await sleep(100);
    }
  }

  /**
   * Health: every node up, one leader that every node names, and a write through every node
   * succeeds. Returns a reason when not healthy within the time.
   */
  async waitHealthy(timeoutMs = 20_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    let reason = 'not checked';
    while (Date.now() < deadline) {
      reason = await this.healthProblem();
      if (reason === '') return null;
      await sleep(200);
    }
    return reason;
  }

  private async healthProblem(): Promise<string> {
    const down = this.nodes.filter((n) => !this.isUp(n));
    if (down.length > 0) return `down: ${down.map((n) => n.id).join(',')}`;
    const leaders = new Set<string>();
    for (const n of this.nodes) {
      try {
        const info = await this.raftInfo(n);
        leaders.add(info.raft_leader_id ?? '');
      } catch (err) {
        return `${n.id}: ${(err as Error).message}`;
      }
    }
    if (leaders.size !== 1 || leaders.has('')) return `leaders disagree: ${[...leaders].join(',') || 'none'}`;
    for (const n of this.nodes) {
      const c = this.client(n, { commandTimeout: 2_000, connectTimeout: 1_000, enableOfflineQueue: true });
      try {
        await c.set('__health', n.id);
      } catch (err) {
        return `${n.id}: write failed: ${(err as Error).message}`;
      } finally {
        c.disconnect();
      }
    }
    return '';
  }

  logs(): string {
    return this.nodes.map((n) => `--- ${n.id}\n${n.output.join('').slice(-3000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.child;
        if (!child) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        if (n.paused) child.kill('SIGCONT');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all([...this.links.values()].map((l) => l.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
