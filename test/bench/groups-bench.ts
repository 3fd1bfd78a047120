/**
 * `npm run bench:groups`: what several data groups buy. SET and GET at 50 clients on a fresh
 * 3-node cluster with one data group and with three (their leaders spread over the three nodes by
 * the meta group's balancing), in one run, rounds in ABBA order, each on a fresh cluster:
 *
 *   plain     clients that know nothing of slots: redis-benchmark on every node at once (the 50
 *             clients split over the three), each node forwarding what it does not lead
 *   cluster   ioredis's Cluster client (50 concurrent requests) on a --cluster-mode cluster: each
 *             command goes straight to its group's leader
 *
 * Prints the median ops/s and p99 of each cell over the rounds, their spread, and the ratio of
 * three groups to one. No assertion: figures for docs/performance.md.
 *
 *   npm run bench:groups -- [--rounds 2] [--requests 60000] [--seconds 10] [--bin PATH]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCluster } from '../integration/cluster_harness.js';
import type { Cell } from './bench_plan.js';
import { runBench } from './children.js';
import type { ClusterLoadOptions } from './cluster_client_load.js';
import { waitAllLeaders } from './group_leaders.js';
import type { LoadResult } from './load_result.js';
import { describeMachine, uptimeLine } from './machine.js';
import { runJsonChild } from './node_load.js';
import { progress } from './progress.js';
import { redisBenchmarkInstalled, runRedisBenchmark } from './redis_benchmark.js';
import { median } from './report.js';

const clientKinds = ['plain', 'cluster'] as const;
type ClientKind = (typeof clientKinds)[number];
const ops = ['set', 'get'] as const;
type Op = (typeof ops)[number];
const clients = 50;
const valueBytes = 100;
const keyspace = 100_000;

interface Sample {
  readonly opsPerSec: number;
  readonly p99Ms: number;
  readonly errors: number;
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    requests: { type: 'string', default: '60000' },
    seconds: { type: 'string', default: '10' },
    bin: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const requests = Number(values.requests);
const seconds = Number(values.seconds);

/** Every node's redis-benchmark at once, the clients split over them: one result for the whole cluster. */
async function plainLoad(cluster: TestCluster, op: Op): Promise<Sample> {
  const n = cluster.nodes.length;
  const results = await Promise.all(
    cluster.nodes.map((node, i) => {
      const cell: Cell = { workload: op, clients: Math.floor(clients / n) + (i < clients % n ? 1 : 0), pipeline: 1, valueBytes };
      return runRedisBenchmark(node.respPort, cell, Math.round(requests / n));
    }),
  );
  const total = results.reduce((s, r) => s + r.requests, 0);
  // The cluster's rate: all requests over the longest of the concurrent runs.
  return { opsPerSec: total / Math.max(...results.map((r) => r.seconds)), p99Ms: Math.max(...results.map((r) => r.p99Ms)), errors: 0 };
}

async function clusterLoad(cluster: TestCluster, op: Op): Promise<Sample> {
  const options: ClusterLoadOptions = { port: cluster.nodes[0]!.respPort, op, clients, valueBytes, keyspace, seconds, warmupSeconds: 2 };
  const r = await runJsonChild<LoadResult>(join(import.meta.dirname, 'cluster_client_load.js'), options);
  if (r.errors > 0) progress(`  ${r.errors} errors reached the application, the first: ${r.firstError}`);
  return { opsPerSec: r.opsPerSec, p99Ms: r.p99Ms, errors: r.errors };
}

async function measure(groups: number, kind: ClientKind, into: Map<string, Sample[]>): Promise<void> {
  const cluster = await TestCluster.start({
    extraArgs: ['--groups', String(groups), ...(kind === 'cluster' ? ['--cluster-mode'] : [])],
    startTimeoutMs: 60_000,
    ...(values.bin ? { binPath: values.bin } : {}),
  });
  try {
    const leaders = await waitAllLeaders(cluster, groups, { spread: true });
    progress(`--groups ${groups}, ${kind}: leaders ${[...leaders].map(([g, l]) => `${g}=${l}`).join(' ')}`);
    for (const op of ops) {
      const s = kind === 'plain' ? await plainLoad(cluster, op) : await clusterLoad(cluster, op);
      progress(`--groups ${groups}, ${kind}, ${op}: ${Math.round(s.opsPerSec)} ops/s, p99 ${s.p99Ms.toFixed(2)} ms`);
      const key = cellKey(groups, kind, op);
      into.set(key, [...(into.get(key) ?? []), s]);
    }
  } finally {
    await cluster.stop();
  }
}

const cellKey = (groups: number, kind: ClientKind, op: Op): string => `${groups}/${kind}/${op}`;


async function main(): Promise<void> {
  if (!redisBenchmarkInstalled()) throw new Error('redis-benchmark is not on PATH (apt-get install redis-tools)');
  const machine = describeMachine();
  progress(`machine: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, commit ${machine.gitCommit}${machine.gitDirty ? ' (dirty)' : ''}; ${uptimeLine()}`);
  const samples = new Map<string, Sample[]>();
  for (let r = 0; r < rounds; r++) {
    // ABBA: 1 then 3 groups in even rounds, 3 then 1 in odd ones, so drift hits both alike.
    const order = r % 2 === 0 ? [1, 3] : [3, 1];
    for (const groups of order) for (const kind of clientKinds) await measure(groups, kind, samples);
  }
  const lines = [
    `SET and GET at ${clients} clients, ${valueBytes}-byte values, ${keyspace} keys; median of ${rounds} rounds (min-max ops/s); ${uptimeLine()}`,
    '',
    '| clients | op | 1 group ops/s | p99 ms | 3 groups ops/s | p99 ms | 3 / 1 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const kind of clientKinds) {
    for (const op of ops) {
      const one = samples.get(cellKey(1, kind, op)) ?? [];
      const three = samples.get(cellKey(3, kind, op)) ?? [];
      const cell = (s: Sample[]): string =>
        `${Math.round(median(s.map((x) => x.opsPerSec)))} (${Math.round(Math.min(...s.map((x) => x.opsPerSec)))}-${Math.round(Math.max(...s.map((x) => x.opsPerSec)))}) | ${median(s.map((x) => x.p99Ms)).toFixed(2)}`;
      const ratio = median(three.map((x) => x.opsPerSec)) / median(one.map((x) => x.opsPerSec));
      const label = kind === 'plain' ? 'plain (redis-benchmark on every node)' : 'ioredis Cluster (--cluster-mode)';
      lines.push(`| ${label} | ${op.toUpperCase()} | ${cell(one)} | ${cell(three)} | ${ratio.toFixed(2)}x |`);
    }
  }
  const errors = [...samples.values()].flat().reduce((s, x) => s + x.errors, 0);
  if (errors > 0) lines.push('', `${errors} errors reached the application in the cluster-client runs.`);
  console.log(lines.join('\n'));
}

runBench(main);
