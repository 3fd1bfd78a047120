/**
 * What many idle groups cost: a 3-node cluster started with `--groups N` does nothing, and the
 * CPU each node spends is read from /proc/<pid>/stat (utime + stime) over a window, after the
 * cluster settled (every group has a leader, leaders handed to their preferred nodes). Where INFO
 * reports the node's Raft transport counters (raft_messages_sent, ...), their rates over the same
 * window are printed too.
 *
 * Optionally (--failover K) it also times K failovers of the data group g1 on a `--groups 1`
 * cluster: kill -9 of g1's leader, then the time to the first write acknowledged after the kill,
 * once with writes going on before the kill ("busy": the group is awake) and once after the
 * cluster idled ("idle": a group that may have gone quiet must first notice its leader is gone).
 *
 *   npm run bench:idle-groups -- [--groups 64,1] [--seconds 30] [--settle 15] [--failover 5] [--json FILE]
 *                                [--server-args "--no-quiesce ..."] [--bin OTHER/bin/quorumkv.js]
 *
 * --server-args are added to every node's command line (--no-quiesce measures groups that never
 * go quiet, as they were before quiescence, with this build's counters). --bin runs another
 * build's nodes (an older checkout, built) with this script, for a before/after of the same command.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { TestCluster, type NodeProcess } from '../integration/cluster_harness.js';
import { runBench } from './children.js';
import { leadersOf, nodeInfo as info, waitAllLeaders } from './group_leaders.js';
import { describeMachine, uptimeLine } from './machine.js';
import { progress, sleep } from './progress.js';
import { median } from './report.js';

interface NodeCpu {
  readonly node: string;
  readonly cpuPercent: number;
  /** Per second over the window, from INFO raft's transport counters (null when INFO has none). */
  readonly messagesSentPerSec: number | null;
  readonly batchesSentPerSec: number | null;
  readonly quietGroups: number | null;
  readonly groups: number;
}

interface IdleResult {
  readonly groups: number;
  readonly seconds: number;
  readonly nodes: readonly NodeCpu[];
}

interface FailoverResult {
  readonly mode: 'busy' | 'idle';
  readonly killsMs: readonly number[];
  readonly medianMs: number;
}

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function counter(fields: Record<string, string>, name: string): number | null {
  const v = fields[name];
  return v === undefined ? null : Number(v);
}

async function measureIdle(groups: number, seconds: number, settleSeconds: number, serverArgs: readonly string[]): Promise<IdleResult> {
  progress(`--groups ${groups}: starting 3 nodes${serverArgs.length > 0 ? ` with ${serverArgs.join(' ')}` : ''}`);
  const c = await TestCluster.start({ extraArgs: ['--groups', String(groups), ...serverArgs], startTimeoutMs: 60_000, ...binOption() });
  try {
    await waitAllLeaders(c, groups);
    progress(`--groups ${groups}: every group has a leader; settling ${settleSeconds} s`);
    await sleep(settleSeconds * 1000);
    const before = await Promise.all(c.nodes.map(async (n) => ({ cpu: cpuSeconds(n.child!.pid!), raft: await info(n, 'raft'), at: performance.now() })));
    progress(`--groups ${groups}: measuring ${seconds} s of idle`);
    await sleep(seconds * 1000);
    const after = await Promise.all(c.nodes.map(async (n) => ({ cpu: cpuSeconds(n.child!.pid!), raft: await info(n, 'raft'), at: performance.now() })));
    const nodes = c.nodes.map((n, i): NodeCpu => {
      const a = before[i]!;
      const b = after[i]!;
      const wall = (b.at - a.at) / 1000;
      const rate = (name: string): number | null => {
        const x = counter(a.raft, name);
        const y = counter(b.raft, name);
        return x === null || y === null ? null : Math.round(((y - x) / wall) * 10) / 10;
      };
      return {
        node: n.id,
        cpuPercent: Math.round(((b.cpu - a.cpu) / wall) * 1000) / 10,
        messagesSentPerSec: rate('raft_messages_sent'),
        batchesSentPerSec: rate('raft_batches_sent'),
        quietGroups: counter(b.raft, 'raft_quiet_groups'),
        groups: leadersOf(b.raft).size,
      };
    });
    for (const r of nodes) {
      progress(
        `--groups ${groups}: ${r.node} cpu ${r.cpuPercent}% of a core` +
          (r.messagesSentPerSec === null ? '' : `, ${r.messagesSentPerSec} raft messages/s and ${r.batchesSentPerSec} batches/s sent`) +
          (r.quietGroups === null ? '' : `, ${r.quietGroups}/${r.groups} replicas quiet`),
      );
    }
    return { groups, seconds, nodes };
  } finally {
    await c.stop();
  }
}

/** g1's leader as the nodes that answer see it. */
async function g1Leader(c: TestCluster): Promise<NodeProcess> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    for (const n of c.nodes) {
      if (!n.child) continue;
      try {
        if ((await info(n, 'raft')).g1_raft_role === 'leader') return n;
      } catch {
        // down or starting
      }
    }
    if (Date.now() > deadline) throw new Error('g1 has no leader');
    await sleep(50);
  }
}

/**
 * kill -9 of g1's leader, then SETs every 5 ms through both survivors until one written after
 * the kill is acknowledged. `busy`: the SETs run for 200 ms before the kill too.
 */
async function failoverOnce(c: TestCluster, mode: 'busy' | 'idle'): Promise<number> {
  const leader = await g1Leader(c);
  const survivors = c.nodes.filter((n) => n !== leader && n.child);
  const clients = survivors.map((n) => new Redis({ port: n.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0 }));
  for (const cl of clients) cl.on('error', () => {});
  try {
    for (const cl of clients) await cl.set('failover:probe', 'ready');
    let killedAt = Number.POSITIVE_INFINITY;
    let firstAck: number | undefined;
    const probe = (): void => {
      for (const cl of clients) {
        const sentAt = performance.now();
        cl.set('failover:probe', String(sentAt)).then(
          () => {
            if (sentAt >= killedAt && firstAck === undefined) firstAck = performance.now();
          },
          () => {},
        );
      }
    };
    let timer: NodeJS.Timeout | null = null;
    if (mode === 'busy') {
      timer = setInterval(probe, 5);
      await sleep(200);
    } else {
      // Long enough for an idle group to have gone quiet.
      await sleep(3_000);
    }
    killedAt = performance.now();
    await c.kill(leader);
    timer ??= setInterval(probe, 5);
    const deadline = killedAt + 30_000;
    while (firstAck === undefined && performance.now() < deadline) await sleep(5);
    clearInterval(timer);
    if (firstAck === undefined) throw new Error(`no write acknowledged within 30 s of killing ${leader.id}`);
    const ms = firstAck - killedAt;
    progress(`failover (${mode}): killed ${leader.id}, first acknowledged write after ${Math.round(ms)} ms`);
    return ms;
  } finally {
    for (const cl of clients) cl.disconnect();
    await c.restart(leader);
    await sleep(2_000);
  }
}


async function measureFailover(kills: number, serverArgs: readonly string[]): Promise<FailoverResult[]> {
  const c = await TestCluster.start({ extraArgs: ['--groups', '1', ...serverArgs], ...binOption() });
  try {
    await waitAllLeaders(c, 1);
    const out: FailoverResult[] = [];
    for (const mode of ['busy', 'idle'] as const) {
      const killsMs: number[] = [];
      for (let k = 0; k < kills; k++) killsMs.push(await failoverOnce(c, mode));
      out.push({ mode, killsMs: killsMs.map(Math.round), medianMs: Math.round(median(killsMs)) });
    }
    return out;
  } finally {
    await c.stop();
  }
}

/** The nodes' binary: this build's, or --bin's. */
function binOption(): { binPath?: string } {
  const bin = arg('bin', '');
  return bin === '' ? {} : { binPath: bin };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const groupsList = arg('groups', '64,1').split(',').map(Number);
  const seconds = Number(arg('seconds', '30'));
  const settle = Number(arg('settle', '15'));
  const kills = Number(arg('failover', '0'));
  const jsonPath = arg('json', '');
  const serverArgs = arg('server-args', '').split(/\s+/).filter((a) => a !== '');
  const machine = describeMachine();
  progress(`machine: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, commit ${machine.gitCommit}${machine.gitDirty ? ' (dirty)' : ''}; ${uptimeLine()}`);
  const idle: IdleResult[] = [];
  for (const g of groupsList) idle.push(await measureIdle(g, seconds, settle, serverArgs));
  const failover = kills > 0 ? await measureFailover(kills, serverArgs) : [];
  for (const f of failover) progress(`failover (${f.mode}): median ${f.medianMs} ms of ${f.killsMs.join(', ')}`);
  const report = { machine, load: uptimeLine(), bin: arg('bin', '') || 'this build', serverArgs, idle, failover };
  console.log(JSON.stringify(report, null, 2));
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(report, null, 2));
}

runBench(main);
