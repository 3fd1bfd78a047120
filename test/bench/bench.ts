/**
 * `npm run bench`: quorumkv (a fresh 3-node cluster, production defaults) side by side with
 * redis-server (`appendfsync always`), the table and targets of docs/performance.md.
 *
 *   npm run bench                 cells around the targets, elections 20 s, 3 failovers (~6 min)
 *   npm run bench -- --quick      a smoke run (~2 min)
 *   npm run bench -- --full       the whole matrix, 60 s elections, 10 failovers, memory (~30 min)
 *   npm run bench -- --memory     adds the 1,000,000-key memory and restart phase
 *
 *   --seconds N --rounds N --kills N --election-seconds N   override the preset
 *   --phases matrix,elections,failover,memory              run only these
 *   --node-load                   the Node generator for every cell (p99.9 everywhere)
 *   --no-redis                    quorumkv alone
 *   --out DIR                     where the JSON and markdown go (default bench-results/)
 *
 * Progress on stderr; the markdown on stdout and in <out>/<timestamp>.md beside <timestamp>.json.
 * Servers and load clients are stopped at the end, on failure, and on SIGINT/SIGTERM.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { planFor, type Plan, type Preset } from './bench_plan.js';
import { BenchCluster, RedisReference } from './bench_servers.js';
import { killTrackedChildren } from './children.js';
import { runElections } from './elections_phase.js';
import { runFailover } from './failover_phase.js';
import { describeMachine, loadAverage, uptimeLine } from './machine.js';
import { runMatrix } from './matrix_phase.js';
import { runMemory, type MemoryServers } from './memory_phase.js';
import { progress } from './progress.js';
import { redisBenchmarkInstalled } from './redis_benchmark.js';
import { markdown, targetLines, type BenchReport, type CellReport, type ElectionsReport, type FailoverReport, type LoadSample, type MemoryReport } from './report.js';

const phaseNames = ['matrix', 'elections', 'failover', 'memory'] as const;
type Phase = (typeof phaseNames)[number];

interface Options {
  readonly plan: Plan;
  readonly phases: ReadonlySet<Phase>;
  readonly forceNode: boolean;
  readonly withRedis: boolean;
  readonly outDir: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      memory: { type: 'boolean' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      kills: { type: 'string' },
      'election-seconds': { type: 'string' },
      phases: { type: 'string' },
      'node-load': { type: 'boolean' },
      'no-redis': { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  if (values.quick && values.full) throw new Error('--quick and --full exclude each other');
  const preset: Preset = values.quick ? 'quick' : values.full ? 'full' : 'default';
  const number = (flag: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, got '${v}'`);
    return n;
  };
  const base = planFor(preset);
  const plan: Plan = {
    ...base,
    seconds: number('seconds', values.seconds, base.seconds),
    rounds: Math.round(number('rounds', values.rounds, base.rounds)),
    kills: Math.round(number('kills', values.kills, base.kills)),
    electionSeconds: number('election-seconds', values['election-seconds'], base.electionSeconds),
    memory: base.memory || values.memory === true,
  };
  let phases: Set<Phase>;
  if (values.phases !== undefined) {
    phases = new Set();
    for (const p of values.phases.split(',')) {
      if (!(phaseNames as readonly string[]).includes(p)) throw new Error(`--phases: unknown phase '${p}' (${phaseNames.join(', ')})`);
      phases.add(p as Phase);
    }
  } else {
    phases = new Set(['matrix', 'elections', 'failover', ...(plan.memory ? (['memory'] as const) : [])]);
  }
  return { plan, phases, forceNode: values['node-load'] === true, withRedis: values['no-redis'] !== true, outDir: values.out ?? 'bench-results' };
}

/** Everything running that a failure or Ctrl-C has to stop. */
const running: { cluster: BenchCluster | null; redis: RedisReference | null; memory: MemoryServers } = {
  cluster: null,
  redis: null,
  memory: { cluster: null, redis: null },
};

async function stopAll(): Promise<void> {
  killTrackedChildren();
  const stops = [running.cluster, running.redis, running.memory.cluster, running.memory.redis].map((s) => s?.stop().catch(() => {}));
  running.cluster = running.redis = running.memory.cluster = running.memory.redis = null;
  await Promise.all(stops);
}

function command(argv: readonly string[]): string {
  const args = argv.length > 0 ? ` ${argv.join(' ')}` : '';
  return process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` --${args}` : ''}` : `node dist/test/bench/bench.js${args}`;
}

/** The options of the file's opening comment, for --help. */
const usage = `npm run bench -- [options]

  --quick | --full            presets: a smoke run (~2 min) / the whole matrix, memory (~30 min)
  --memory                    adds the 1,000,000-key memory and restart phase
  --seconds N --rounds N --kills N --election-seconds N   override the preset
  --phases matrix,elections,failover,memory              run only these
  --node-load                 the Node load generator for every cell (p99.9 everywhere)
  --no-redis                  quorumkv alone
  --out DIR                   where the JSON and markdown go (default bench-results/)
  --help                      this text
`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return;
  }
  const o = parseOptions(argv);
  const startedAt = new Date();
  const redisInstalled = o.withRedis && RedisReference.installed();
  const benchmarkInstalled = redisBenchmarkInstalled();
  const machine = describeMachine();
  const loadSamples: LoadSample[] = [];
  const sample = (phase: string): void => {
    loadSamples.push({ at: new Date().toISOString(), phase, loadAverage: loadAverage() });
  };
  const notes: string[] = [`\`uptime\` at the start: ${uptimeLine()}`];
  progress(`bench ${o.plan.preset}: ${[...o.phases].join(', ')}; ${o.plan.cells.length} cells x ${o.plan.rounds} rounds x ${o.plan.seconds} s; ${uptimeLine()}`);
  if (!redisInstalled) notes.push(o.withRedis ? 'redis-server is not installed: no reference, no ratios.' : 'Run without redis (--no-redis): no ratios.');
  if (!benchmarkInstalled) notes.push('redis-benchmark is not installed: the Node generator ran every cell.');

  let cells: CellReport[] = [];
  let elections: ElectionsReport | null = null;
  let failover: FailoverReport | null = null;
  let memory: MemoryReport | null = null;

  if (o.phases.has('matrix') || o.phases.has('elections') || o.phases.has('failover')) {
    sample('start');
    running.cluster = await BenchCluster.start();
    if (redisInstalled && o.phases.has('matrix')) running.redis = await RedisReference.start();
    const leader = await running.cluster.leader();
    progress(`quorumkv cluster up (leader ${leader.id}, ports ${running.cluster.nodes.map((n) => n.respPort).join(', ')})${running.redis ? `; redis-server on ${running.redis.port}` : ''}`);
    notes.push(
      `Both load clients connect to quorumkv's leader (found with INFO raft, raft_role:leader, before every run; ${leader.id} at the start): the figures are the cluster's best case, a client on a follower adds a forwarding hop.`,
      'quorumkv: 3 nodes started with default flags (fsync on every write batch, 100 ms ticks, info logging); redis-server 7 with `--appendonly yes --appendfsync always --save \'\'`. Both in fresh temp dirs on the same disk.',
      'redis-benchmark (where it runs a cell) reports no p99.9 in its CSV: "—". The Node generator (own process, HDR histograms) runs the cells redis-benchmark cannot (MIX, INCR-GET) and reports p99.9 and errors.',
    );
    if (o.phases.has('matrix')) {
      cells = await runMatrix({ plan: o.plan, cluster: running.cluster, redis: running.redis, redisBenchmark: benchmarkInstalled, forceNode: o.forceNode });
      sample('after matrix');
      await running.redis?.stop();
      running.redis = null;
    }
    if (o.phases.has('elections')) {
      elections = await runElections(running.cluster, o.plan.electionSeconds, benchmarkInstalled);
      sample('after elections');
    }
    if (o.phases.has('failover')) {
      failover = await runFailover(running.cluster, o.plan.kills);
      sample('after failover');
    }
    await running.cluster.stop();
    running.cluster = null;
  }
  if (o.phases.has('memory')) {
    memory = await runMemory(o.plan.memoryKeys, redisInstalled, running.memory);
    notes.push(
      `Memory: a fresh cluster and a fresh redis-server, ${o.plan.memoryKeys} keys written to each with pipelined SETs; RSS from /proc once every node applied them; restart = kill -9 of follower ${memory.restartNode}, from spawn until it answers GET of the last key and has applied every write (default snapshot settings).`,
    );
    sample('after memory');
    await stopAll();
  }
  notes.push(`\`uptime\` at the end: ${uptimeLine()}`);

  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: command(argv),
    preset: o.plan.preset,
    secondsPerRun: o.plan.seconds,
    rounds: o.plan.rounds,
    machine,
    loadSamples,
    notes,
    cells,
    failover,
    elections,
    memory,
    targets: targetLines(cells, failover, elections, memory),
  };
  const md = markdown(report);
  await mkdir(o.outDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  await writeFile(join(o.outDir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(o.outDir, `${stamp}.md`), md);
  process.stdout.write(`${md}\n`);
  progress(`wrote ${join(o.outDir, `${stamp}.json`)} and .md`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping the servers and load clients`);
    void stopAll().finally(() => process.exit(130));
  });
}

main()
  .catch(async (err: unknown) => {
    console.error(err);
    await stopAll();
    process.exitCode = 1;
  })
  .finally(() => stopAll());
