/**
 * A real cluster of quorumkv processes for the fault harness: free ports, a temp data dir,
 * start / stop / kill -9 / restart / SIGSTOP / SIGCONT per node, members replaced while it runs,
 * and every directed peer link through a harness proxy so that partitions need no root.
 *
 * ```
 *   n1 ──(grpc_proxy)──▶ egress proxy of n1 ──CONNECT 127.0.0.1:<n2's gRPC port>──▶ n2
 *                        │ link n1→n2: cut? refuse the CONNECT and drop its open tunnels
 *                        └ link n1→n3 ...
 * ```
 *
 * Each node is started with `grpc_proxy=http://127.0.0.1:<its egress proxy>`, which grpc-js
 * honours for every channel it opens (Raft streams, forwarded writes, admin calls passed on to
 * the leader), so every byte from `a` to `b` goes through a tunnel that a's egress proxy opened
 * for the link a→b. The address a node gives its peers (`--peers`, `add-node --grpc`, the
 * identity on its streams) is its real gRPC address, the same for everybody.
 *
 * Why not one plain TCP proxy per link, with each node's `--peers` pointing at its own outgoing
 * proxies (the first design)? A membership change carries ONE address for the new node, which
 * lands in every node's address book; and a `--join` node takes the other members' addresses
 * from the ConfChange entries it replays (the bootstrap entries hold the leader's --peers: its
 * own real port, and the leader's outgoing proxies for the others) plus the identity its peers
 * advertise (their real ports). So a replacement would dial through the leader's links or
 * around the proxies, and no per-link proxy could be given to it. With a per-source egress
 * proxy the link is known from who dials (the proxy) and whom (the CONNECT target).
 *
 * The node list is dynamic: `replaceMember` style callers `retire()` a removed node and `addNode()`
 * a fresh one; partitions and every nemesis work on `nodes`, the current members. `stop()`
 * ends every process and proxy, also after a failure.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { adminChange, adminGroups, adminStatus } from '../src/admin/admin_client.js';
import { nameHashSlot, slotCount } from '../src/state/hash_slot.js';
import { pick, type SeededRandom } from '../src/util/random.js';
import { freePort, raftInfo, raftInfoGroups, spawnServer, waitForNode, waitForPort } from './node_probe.js';

/** The repository root, from either `jepsen-lite/` (vitest) or `dist/jepsen-lite/` (compiled). */
export const repoRoot = resolve(import.meta.dirname, import.meta.dirname.includes(`${join('dist', 'jepsen-lite')}`) ? '../..' : '..');
export const binPath = join(repoRoot, 'bin/quorumkv.js');

export { freePort } from './node_probe.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One directed peer link `from→to`: while cut, its tunnels are dropped and new ones refused. */
export class Link {
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;

  constructor(readonly from: string, readonly to: string) {}

  get isCut(): boolean {
    return this.blocked;
  }

  /** Keeps a tunnel's sockets, to drop them on `cut()`. */
  track(...sockets: net.Socket[]): void {
    for (const s of sockets) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    }
  }

  cut(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.blocked = false;
  }
}

/**
 * The HTTP CONNECT proxy every outgoing gRPC connection of one node goes through. A CONNECT to
 * a member's gRPC port opens a tunnel on the link `node→member` unless that link is cut; a
 * CONNECT anywhere else (a removed node, a typo) is refused.
 */
export class EgressProxy {
  private server: http.Server | null = null;
  private readonly open = new Set<net.Socket>();

  constructor(readonly nodeId: string, readonly port: number, private readonly linkTo: (targetPort: number) => Link | undefined) {}

  async start(): Promise<void> {
    const server = http.createServer((_req, res) => {
      res.writeHead(405).end();
    });
    server.on('connect', (req: http.IncomingMessage, inbound: net.Socket, head: Buffer) => {
      this.open.add(inbound);
      inbound.once('close', () => this.open.delete(inbound));
      inbound.on('error', () => inbound.destroy());
      const port = Number(/:(\d+)$/.exec(req.url ?? '')?.[1] ?? NaN);
      const link = this.linkTo(port);
      if (!link || link.isCut) {
        inbound.end(`HTTP/1.1 ${link ? '503 link cut' : '502 not a member'}\r\n\r\n`);
        return;
      }
      const outbound = net.connect(port, '127.0.0.1');
      this.open.add(outbound);
      link.track(inbound, outbound);
      const close = (): void => {
        inbound.destroy();
        outbound.destroy();
        this.open.delete(outbound);
      };
      outbound.on('error', close);
      outbound.on('close', close);
      inbound.on('close', close);
      outbound.once('connect', () => {
        if (link.isCut) return close();
        inbound.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) outbound.write(head);
        inbound.pipe(outbound);
        outbound.pipe(inbound);
      });
    });
    await new Promise<void>((r, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => r());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    this.open.clear();
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
  /** Started empty with `--join` (a replacement added by `admin add-node`). */
  readonly joined: boolean;
  child: ChildProcess | null;
  paused: boolean;
  output: string[];
}

/** One group as the nodes report it (Cluster.groupView). */
export interface GroupState {
  readonly id: string;
  /** The nodes that host a replica of it, with their INFO raft fields for it. */
  readonly hosts: Map<string, Record<string, string>>;
  leader: string | undefined;
  /** As its leader reports them; empty when no leader. */
  voters: string[];
  learners: string[];
}

/** For each slot, a key in it (`__health{hN}`), found once: writes to a group's key test that group. */
let healthKeys: string[] | null = null;

export function healthKeyOf(slot: number): string {
  if (healthKeys === null) {
    const keys: string[] = new Array<string>(slotCount);
    let found = 0;
    for (let i = 0; found < slotCount; i++) {
      const slot = nameHashSlot(`h${i}`);
      if (keys[slot] === undefined) {
        keys[slot] = `__health{h${i}}`;
        found++;
      }
    }
    healthKeys = keys;
  }
  return healthKeys[slot]!;
}

export interface ClusterOptions {
  readonly nodes?: number;
  readonly extraArgs?: readonly string[];
  /** Data groups of the new cluster (`server --groups N`); default 1, and no flag passed. */
  readonly groups?: number;
  /**
   * Nodes started empty with `--join` after the first ones, members of no group: somewhere for
   * `move` to move replicas to (ids are never reused within a group, so a replica cannot move
   * back to a node the group had).
   */
  readonly spares?: number;
  /**
   * Health and leaders judged group by group (see `groupsHealthProblem`): implied by more than one
   * data group or a spare node; set it too when groups will come (a split).
   */
  readonly multiGroup?: boolean;
  /** Passed through to each node's stdout/stderr tail (for reports). */
  readonly keepOutputChunks?: number;
}

export class Cluster {
  /** The current members, in the order they joined. */
  readonly nodes: ClusterNode[] = [];
  /** Removed members (stopped), kept for their logs. */
  readonly retired: ClusterNode[] = [];
  /** `from→to` → the link, for every ordered pair of current members. */
  readonly links = new Map<string, Link>();
  private readonly egress = new Map<string, EgressProxy>();
  private nextNodeNumber = 1;
  /**
   * Every node each group ever had as a member, as far as the harness saw or did: a group refuses
   * an id it had, so `move` never picks one of these as a target. A split-off group inherits its
   * parent's (its members came from it).
   */
  readonly everMembers = new Map<string, Set<string>>();
  /** Health and "the leader" judged group by group (several data groups, or spare nodes). */
  readonly multiGroup: boolean;
  /** Voters a data group has (the servers' --replicas default, at most the first nodes). */
  readonly replicas: number;
  /** Voters the meta group has: the first nodes, at most 5. */
  metaVoters: number;

  private constructor(readonly dir: string, private readonly extraArgs: readonly string[], options: ClusterOptions) {
    const first = options.nodes ?? 3;
    this.multiGroup = options.multiGroup === true || (options.groups ?? 1) > 1 || (options.spares ?? 0) > 0;
    this.replicas = Math.min(3, first);
    this.metaVoters = Math.min(5, first);
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-'));
    const groups = options.groups ?? 1;
    const cluster = new Cluster(dir, [...(options.extraArgs ?? []), ...(groups > 1 ? ['--groups', String(groups)] : [])], options);
    try {
      const count = options.nodes ?? 3;
      for (let i = 0; i < count; i++) await cluster.newNode(false);
      for (const n of cluster.nodes) cluster.spawn(n);
      for (const n of cluster.nodes) await cluster.waitUp(n);
      await cluster.waitForLeader();
      for (let i = 0; i < (options.spares ?? 0); i++) {
        // A spare joins the meta group: a --join node in no group knows no peer, so it could not
        // even route a command (TRYAGAIN: no group serves the slot); in the meta group it has
        // the routing table, and serves every key through the groups' nodes.
        const spare = await cluster.addNode();
        await adminChange(cluster.grpcAddress(cluster.nodes[0]!), { kind: 'add-node', nodeId: spare.id, address: cluster.grpcAddress(spare), group: 'meta' }, { timeoutMs: 30_000 });
        cluster.metaVoters++;
      }
      if (cluster.multiGroup) {
        const problem = await cluster.waitHealthy(30_000);
        if (problem !== null) throw new Error(`the cluster of ${groups} data groups is not healthy after 30 s: ${problem}\n${cluster.logs()}`);
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** A new member (not started): fresh id and data dir, its egress proxy, links both ways with every member. */
  private async newNode(joined: boolean): Promise<ClusterNode> {
    const id = `n${this.nextNodeNumber++}`;
    const n: ClusterNode = { id, respPort: await freePort(), grpcPort: await freePort(), dataDir: join(this.dir, id), joined, child: null, paused: false, output: [] };
    const proxy = new EgressProxy(id, await freePort(), (port) => {
      const target = this.nodes.find((m) => m.grpcPort === port);
      return target ? this.links.get(`${id}→${target.id}`) : undefined;
    });
    await proxy.start();
    this.egress.set(id, proxy);
    for (const m of this.nodes) {
      this.links.set(`${id}→${m.id}`, new Link(id, m.id));
      this.links.set(`${m.id}→${id}`, new Link(m.id, id));
    }
    this.nodes.push(n);
    return n;
  }

  /**
   * Starts a replacement: a new id, an empty data dir, `--join`; waits until its RESP port
   * listens. It is a member of the harness's model from now on; `admin add-node` with
   * `grpcAddress(n)` makes it one of the cluster's.
   */
  async addNode(): Promise<ClusterNode> {
    const n = await this.newNode(true);
    this.spawn(n);
    await this.waitUp(n);
    return n;
  }

  /** Stops a removed member (SIGTERM) and drops it, its links and its egress proxy from the model. */
  async retire(n: ClusterNode): Promise<void> {
    await this.stopProcess(n);
    const i = this.nodes.indexOf(n);
    if (i >= 0) this.nodes.splice(i, 1);
    this.retired.push(n);
    for (const [key, link] of this.links) {
      if (link.from === n.id || link.to === n.id) {
        link.cut();
        this.links.delete(key);
      }
    }
    await this.egress.get(n.id)?.stop();
    this.egress.delete(n.id);
  }

  /** The address peers dial for `n` (through their egress proxies): its real gRPC address. */
  grpcAddress(n: ClusterNode): string {
    return `127.0.0.1:${n.grpcPort}`;
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  link(from: string, to: string): Link {
    const l = this.links.get(`${from}→${to}`);
    if (!l) throw new Error(`no link ${from}→${to}`);
    return l;
  }

  /** The --peers of the first members: every one at its gRPC address (the same list for all). */
  initialPeers(): string {
    return this.nodes.filter((m) => !m.joined).map((m) => `${m.id}=${this.grpcAddress(m)}`).join(',');
  }

  isUp(n: ClusterNode): boolean {
    return n.child !== null && !n.paused;
  }

  upNodes(): ClusterNode[] {
    return this.nodes.filter((n) => this.isUp(n));
  }

  private spawn(n: ClusterNode): void {
    if (n.child) throw new Error(`${n.id} is already running`);
    // Every gRPC channel of the node goes through its egress proxy; no_grpc_proxy wins over a
    // no_proxy of the environment that would exempt 127.0.0.1.
    const proxy = this.egress.get(n.id);
    if (!proxy) throw new Error(`${n.id} has no egress proxy`);
    const env = { ...process.env, grpc_proxy: `http://127.0.0.1:${proxy.port}`, no_grpc_proxy: 'no-such-host.invalid' };
    const child = spawnServer({
      binPath,
      id: n.id,
      respPort: n.respPort,
      grpcPort: n.grpcPort,
      dataDir: n.dataDir,
      membership: n.joined ? ['--join'] : ['--peers', this.initialPeers()],
      extraArgs: this.extraArgs,
      env,
      output: n.output,
    });
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
    await this.waitUp(n);
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

  /** Until the node just spawned listens on its RESP port; fails with its output if it exits. */
  private waitUp(n: ClusterNode): Promise<void> {
    if (!n.child) return Promise.reject(new Error(`${n.id} is not running`));
    return waitForNode(n.child, n.output, n.respPort).catch((err: Error) => {
      throw new Error(`${n.id}: ${err.message}`);
    });
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
   * Every group as the nodes that are up report it in INFO raft: who hosts it, the leader (a host
   * that says it leads; the highest term wins) and that leader's voters and learners. Nodes that
   * do not answer are left out.
   */
  async groupView(): Promise<Map<string, GroupState>> {
    const reports = new Map<string, Map<string, Record<string, string>>>();
    await Promise.all(
      this.upNodes().map(async (n) => {
        const groups = await raftInfoGroups(n.respPort, 2_000).catch(() => null);
        if (groups) reports.set(n.id, groups);
      }),
    );
    const view = new Map<string, GroupState>();
    for (const [nodeId, groups] of reports) {
      for (const [groupId, fields] of groups) {
        let g = view.get(groupId);
        if (!g) view.set(groupId, (g = { id: groupId, hosts: new Map(), leader: undefined, voters: [], learners: [] }));
        g.hosts.set(nodeId, fields);
      }
    }
    for (const g of view.values()) {
      let bestTerm = -1;
      for (const [nodeId, fields] of g.hosts) {
        const term = Number(fields.raft_term ?? 0);
        if (fields.raft_role === 'leader' && term > bestTerm) {
          bestTerm = term;
          g.leader = nodeId;
          g.voters = (fields.raft_voters ?? '').split(',').filter((v) => v !== '');
          g.learners = (fields.raft_learners ?? '').split(',').filter((v) => v !== '');
        }
      }
      // What the harness knows of who the group ever had (see everMembers).
      const ever = this.everMembers.get(g.id) ?? new Set<string>();
      for (const v of [...g.voters, ...g.learners]) ever.add(v);
      this.everMembers.set(g.id, ever);
    }
    return view;
  }

  /** The data groups of a view (g1, g2, ...), in id order. */
  static dataGroups(view: ReadonlyMap<string, GroupState>): GroupState[] {
    return [...view.values()].filter((g) => /^g\d+$/.test(g.id)).sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }

  /**
   * "The leader" with several groups: the node leading a random data group (of those with a
   * leader), and that group; undefined when none has one.
   */
  async someGroupLeader(rng: SeededRandom): Promise<{ node: ClusterNode; group: string } | undefined> {
    const led = Cluster.dataGroups(await this.groupView()).filter((g) => g.leader !== undefined && this.nodes.some((n) => n.id === g.leader));
    if (led.length === 0) return undefined;
    const g = pick(rng, led);
    return { node: this.node(g.leader!), group: g.id };
  }

  /**
   * Health: every member up, one leader that every member names, the leader's voters exactly
   * the current members, and a write through every member succeeds (group by group when
   * `multiGroup`: see groupsHealthProblem). Returns a reason when not healthy within the time.
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

  /** '' when healthy now, else what is wrong (see `waitHealthy`). */
  async healthProblem(): Promise<string> {
    if (this.multiGroup) return this.groupsHealthProblem();
    const down = this.nodes.filter((n) => !this.isUp(n));
    if (down.length > 0) return `down: ${down.map((n) => n.id).join(',')}`;
    const leaders = new Set<string>();
    const infos = new Map<string, Record<string, string>>();
    for (const n of this.nodes) {
      try {
        const info = await this.raftInfo(n);
        infos.set(n.id, info);
        leaders.add(info.raft_leader_id ?? '');
      } catch (err) {
        return `${n.id}: ${(err as Error).message}`;
      }
    }
    if (leaders.size !== 1 || leaders.has('')) return `leaders disagree: ${[...leaders].join(',') || 'none'}`;
    const [leaderId] = leaders;
    const voters = (infos.get(leaderId!)?.raft_voters ?? '').split(',').filter((v) => v !== '').sort();
    const members = this.nodes.map((n) => n.id).sort();
    if (!infos.has(leaderId!)) return `leader ${leaderId} is not a member`;
    if (voters.join(',') !== members.join(',')) return `voters ${voters.join(',')} instead of ${members.join(',')}`;
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

  /**
   * Health of a cluster of several groups, each judged on its own (a node hosts only some of
   * them once replicas moved):
   *
   * - every member up;
   * - every group has one leader, which every one of its voters names; its voters are current
   *   members, as many as the group was made with (a data group `replicas`, the meta group
   *   `metaVoters`), and it has no learner (no change half done);
   * - the meta group's routing table (`admin groups` of a node hosting it) gives every slot to
   *   exactly one data group, and each of those groups is one the nodes report;
   * - a write to a key of every data group through every member succeeds.
   */
  async groupsHealthProblem(): Promise<string> {
    const down = this.nodes.filter((n) => !this.isUp(n));
    if (down.length > 0) return `down: ${down.map((n) => n.id).join(',')}`;
    const view = await this.groupView();
    const members = new Set(this.nodes.map((n) => n.id));
    for (const g of view.values()) {
      if (g.leader === undefined) return `${g.id}: no leader (hosts ${[...g.hosts.keys()].join(',')})`;
      if (g.learners.length > 0) return `${g.id}: learners ${g.learners.join(',')}`;
      const expected = g.id === 'meta' ? this.metaVoters : this.replicas;
      if (g.voters.length !== expected) return `${g.id}: voters ${g.voters.join(',')} (${expected} expected)`;
      for (const v of g.voters) {
        if (!members.has(v)) return `${g.id}: voter ${v} is not a member`;
        const named = g.hosts.get(v)?.raft_leader_id;
        if (named !== g.leader) return `${g.id}: ${v} names leader '${named ?? '(does not host it)'}', not ${g.leader}`;
      }
    }
    const meta = view.get('meta');
    const via = meta?.leader !== undefined ? this.node(meta.leader) : undefined;
    if (!via) return 'meta: no leader';
    let routed;
    try {
      routed = (await adminGroups(this.grpcAddress(via), { timeoutMs: 2_000 })).filter((g) => g.group !== 'meta');
    } catch (err) {
      return `admin groups at ${via.id}: ${(err as Error).message}`;
    }
    const owner = new Int32Array(slotCount).fill(-1);
    for (const [i, g] of routed.entries()) {
      if (!view.has(g.group)) return `the routing table names ${g.group}, which no node reports`;
      for (const [first, last] of g.slots) {
        for (let s = first; s <= last; s++) {
          if (owner[s] !== -1) return `slot ${s} is in ${routed[owner[s]!]!.group} and ${g.group}`;
          owner[s] = i;
        }
      }
    }
    const unowned = owner.indexOf(-1);
    if (unowned >= 0) return `slot ${unowned} is in no group of the routing table`;
    for (const n of this.nodes) {
      const c = this.client(n, { commandTimeout: 3_000, connectTimeout: 1_000, enableOfflineQueue: true });
      try {
        const failed = await Promise.all(
          routed.map((g) =>
            c.set(healthKeyOf(g.slots[0]![0]), n.id).then(
              () => '',
              (err: unknown) => `${g.group} ${(err as Error).message}`,
            ),
          ),
        );
        const problems = failed.filter((f) => f !== '');
        if (problems.length > 0) return `${n.id}: write failed: ${problems.join('; ')}`;
      } finally {
        c.disconnect();
      }
    }
    return '';
  }

  /** The members of the data group as the leader's admin API reports them (role, lag). */
  async memberStatus(timeoutMs = 2_000): Promise<{ leader: ClusterNode; commitIndex: number; members: readonly { nodeId: string; role: string; lag?: number }[] } | undefined> {
    const leader = await this.leader();
    if (!leader) return undefined;
    const status = await adminStatus(this.grpcAddress(leader), { timeoutMs });
    // The data group's entry (the group raftInfo describes, which `leader` leads), not the meta group's.
    const dataGroupId = (await this.raftInfo(leader)).raft_group_id;
    const group = status.groups.find((g) => g.groupId === dataGroupId);
    if (!group) return undefined;
    return { leader, commitIndex: group.commitIndex, members: group.members };
  }

  /** Every node's kept output (its last 200 chunks), removed nodes too. */
  fullLogs(): string {
    return [...this.nodes, ...this.retired].map((n) => `--- ${n.id}${this.retired.includes(n) ? ' (removed)' : ''}\n${n.output.join('')}`).join('\n');
  }

  logs(): string {
    return [...this.nodes, ...this.retired].map((n) => `--- ${n.id}${this.retired.includes(n) ? ' (removed)' : ''}\n${n.output.join('').slice(-3000)}`).join('\n');
  }

  /** SIGTERM (SIGKILL after 5 s); resolves once the process is gone. */
  private async stopProcess(n: ClusterNode): Promise<void> {
    const child = n.child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (n.paused) child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    n.child = null;
    n.paused = false;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes, ...this.retired].map((n) => this.stopProcess(n)));
    for (const l of this.links.values()) l.cut();
    await Promise.all([...this.egress.values()].map((p) => p.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
