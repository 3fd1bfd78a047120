/**
 * `npm run bench:ab -- --baseline DIR`: this checkout against another build of quorumkv (DIR is
 * a checkout with its own `npm install` done, e.g. a `git worktree` of the commit to compare
 * with), in one run: rounds in ABBA order, each on a fresh 3-node cluster of that build with
 * production defaults, each cell driven by redis-benchmark against the leader. Prints the median
 * ops/s and p99 of every cell for both builds, and their ratio. No assertion: noise is judged by
 * the spread across rounds, which is printed too.
 *
 *   --baseline DIR   the other checkout (required)
 *   --rounds N       rounds per build (default 4)
 *   --requests N     requests per cell per round (default 100000)
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCluster, binPath } from '../integration/cluster_harness.js';
import type { Cell } from './bench_plan.js';
import { cellName } from './bench_plan.js';
import { killTrackedChildren } from './children.js';
import { describeMachine, uptimeLine } from './machine.js';
import { redisBenchmarkInstalled, runRedisBenchmark } from './redis_benchmark.js';
import { median } from './report.js';

const cells: readonly Cell[] = [
  { workload: 'set', clients: 50, pipeline: 1, valueBytes: 100 },
  { workload: 'get', clients: 50, pipeline: 1, valueBytes: 100 },
  { workload: 'set', clients: 10, pipeline: 1, valueBytes: 100 },
  { workload: 'set', clients: 50, pipeline: 16, valueBytes: 100 },
];

interface Sample {
  readonly opsPerSec: number;
  readonly p99Ms: number;
}


async function runBuild(bin: string, requests: number, into: Map<string, Sample[]>): Promise<void> {
  const cluster = await TestCluster.start({ binPath: bin });
  try {
    const leader = await cluster.waitForLeader();
    for (const c of cells) {
      const r = await runRedisBenchmark(leader.respPort, c, c.pipeline > 1 ? requests * 4 : requests);
      const key = cellName(c);
      into.set(key, [...(into.get(key) ?? []), { opsPerSec: r.opsPerSec, p99Ms: r.p99Ms }]);
    }
  } finally {
    await cluster.stop();
  }
}

function machineLine(): string {
  const m = describeMachine();
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; this build at ${m.gitCommit}${m.gitDirty > 0 ? ` (+${m.gitDirty} changed files)` : ''}; ${uptimeLine()}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { baseline: { type: 'string' }, rounds: { type: 'string' }, requests: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help || values.baseline === undefined) {
    process.stdout.write('npm run bench:ab -- --baseline DIR [--rounds N] [--requests N]\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  if (!redisBenchmarkInstalled()) throw new Error('redis-benchmark is not installed (apt-get install redis-tools)');
  const baselineBin = join(resolve(values.baseline), 'bin/quorumkv.js');
  if (!existsSync(baselineBin)) throw new Error(`${baselineBin} does not exist`);
  const rounds = Number(values.rounds ?? 4);
  const requests = Number(values.requests ?? 100_000);
  const builds = [
    { name: 'baseline', bin: baselineBin, samples: new Map<string, Sample[]>() },
    { name: 'this', bin: binPath, samples: new Map<string, Sample[]>() },
  ];
  for (let round = 0; round < rounds; round++) {
    // ABBA: neither build always runs first, on a machine that warms up or drifts.
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const b of order) {
      process.stderr.write(`round ${round + 1}/${rounds}: ${b.name}\n`);
      await runBuild(b.bin, requests, b.samples);
    }
  }
  const [base, head] = builds;
  const lines = [
    `A/B: ${rounds} rounds per build, ABBA, fresh 3-node cluster per round, redis-benchmark against the leader`,
    `baseline ${resolve(values.baseline)}; this ${resolve(binPath, '../..')}`,
    machineLine(),
    '',
    '| cell | baseline ops/s (median; all) | this ops/s (median; all) | this/baseline | p99 ms baseline / this |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const c of cells) {
    const key = cellName(c);
    const a = base!.samples.get(key) ?? [];
    const b = head!.samples.get(key) ?? [];
    const ma = median(a.map((s) => s.opsPerSec));
    const mb = median(b.map((s) => s.opsPerSec));
    const all = (xs: Sample[]): string => xs.map((s) => Math.round(s.opsPerSec)).join(', ');
    lines.push(
      `| ${key} | ${Math.round(ma)} (${all(a)}) | ${Math.round(mb)} (${all(b)}) | ${(mb / ma).toFixed(2)} | ${median(a.map((s) => s.p99Ms)).toFixed(2)} / ${median(b.map((s) => s.p99Ms)).toFixed(2)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const stop = (): void => {
  killTrackedChildren();
  process.exit(130);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
main().catch((err: Error) => {
  killTrackedChildren();
  process.stderr.write(`bench:ab: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
