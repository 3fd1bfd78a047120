/**
 * The load matrix: every cell of the plan against quorumkv's leader and against redis-server,
 * interleaved so that machine noise (other engineers' jobs on the shared cores) lands on both:
 *
 *   round 0: quorumkv, redis     round 1: redis, quorumkv     round 2: quorumkv, redis ...
 *
 * (ABBA rather than ABAB: a load that rises or falls steadily during a cell then costs both
 * servers the same.) Each figure of a cell is the median over its rounds.
 *
 * redis-benchmark runs a request count, not a duration: the first run of a cell on a server is a
 * short probe (also the warm-up) that sizes the request count of the measured runs.
 */
import { cellName, keyspaceFor, orderForRun, toolFor, type Cell, type Plan } from './bench_plan.js';
import type { BenchCluster, RedisReference } from './bench_servers.js';
import type { LoadResult } from './load_result.js';
import { fillKeys, runNodeLoad } from './node_load.js';
import { progress } from './progress.js';
import { runRedisBenchmark } from './redis_benchmark.js';
import { cellReport, msText, ops, type CellReport, type CellRun, type Server } from './report.js';

export interface MatrixOptions {
  readonly plan: Plan;
  readonly cluster: BenchCluster;
  readonly redis: RedisReference | null;
  readonly redisBenchmark: boolean;
  readonly forceNode: boolean;
}

export async function runMatrix(o: MatrixOptions): Promise<CellReport[]> {
  const cells = orderForRun(o.plan.cells);
  const reports: CellReport[] = [];
  const rpsSeen = new Map<string, number>();
  let filledFor = -1;
  for (const [index, cell] of cells.entries()) {
    const valueBytes = cell.valueBytes === 0 ? 100 : cell.valueBytes;
    if (valueBytes !== filledFor) {
      await prefill(o, valueBytes);
      filledFor = valueBytes;
    }
    const tool = toolFor(cell, o.redisBenchmark, o.forceNode);
    const runs: CellRun[] = [];
    for (let round = 0; round < o.plan.rounds; round++) {
      const order: Server[] = round % 2 === 0 ? ['quorumkv', 'redis'] : ['redis', 'quorumkv'];
      for (const server of order) {
        if (server === 'redis' && !o.redis) continue;
        const run = await runOnce(o, cell, tool, server, round, rpsSeen);
        runs.push(run);
        const r = run.result;
        progress(
          `[${index + 1}/${cells.length}] ${cellName(cell)} ${server}${run.node ? ` (${run.node})` : ''} round ${round + 1}: ` +
            `${ops(r.opsPerSec)} ops/s, p50 ${msText(r.p50Ms)}, p99 ${msText(r.p99Ms)}` +
            `${r.p999Ms !== null ? `, p99.9 ${msText(r.p999Ms)}` : ''}${r.errors > 0 ? `, ${r.errors} errors (${r.firstError})` : ''}` +
            `${run.termBefore !== run.termAfter ? `, TERM CHANGED ${run.termBefore} → ${run.termAfter}` : ''}`,
        );
      }
    }
    const report = cellReport(cell, tool, runs);
    reports.push(report);
    if (report.ratio !== null) progress(`[${index + 1}/${cells.length}] ${cellName(cell)}: ratio ${report.ratio.toFixed(2)}x`);
  }
  return reports;
}

/** Writes every key the random-key workloads read, with values of `valueBytes`, on both servers. */
async function prefill(o: MatrixOptions, valueBytes: number): Promise<void> {
  const keys = keyspaceFor(valueBytes);
  const leader = await o.cluster.leader();
  const ports = [leader.respPort, ...(o.redis ? [o.redis.port] : [])];
  for (const port of ports) {
    const r = await fillKeys({ port, keys, valueBytes, clients: 4, pipeline: 100 });
    if (r.errors > 0) throw new Error(`prefill on port ${port}: ${r.errors} errors, first ${r.firstError}`);
  }
  progress(`prefilled ${keys} keys of ${valueBytes} B on ${ports.length} server(s)`);
}

async function runOnce(o: MatrixOptions, cell: Cell, tool: 'redis-benchmark' | 'node', server: Server, round: number, rpsSeen: Map<string, number>): Promise<CellRun> {
  let port: number;
  let node: string | undefined;
  let termBefore: number | undefined;
  if (server === 'quorumkv') {
    const leader = await o.cluster.leader();
    port = leader.respPort;
    node = leader.id;
    termBefore = await o.cluster.term();
  } else {
    port = o.redis!.port;
  }
  let result: LoadResult;
  if (tool === 'node') {
    result = await runNodeLoad({
      port,
      workload: cell.workload,
      clients: cell.clients,
      pipeline: cell.pipeline,
      valueBytes: cell.valueBytes,
      keyspace: keyspaceFor(cell.valueBytes),
      seconds: o.plan.seconds,
      warmupSeconds: Math.min(1, o.plan.seconds / 3),
      seed: 1 + round,
    });
  } else {
    const key = `${server} ${cellName(cell)}`;
    let rps = rpsSeen.get(key);
    if (rps === undefined) {
      const probe = await runRedisBenchmark(port, cell, Math.min(100_000, Math.max(500, cell.clients * cell.pipeline * 20)));
      rps = probe.opsPerSec;
    }
    const requests = Math.max(cell.clients * cell.pipeline * 4, Math.round(rps * o.plan.seconds));
    result = await runRedisBenchmark(port, cell, requests);
    rpsSeen.set(key, result.opsPerSec);
  }
  if (server === 'redis') return { server, round, result };
  return { server, round, result, node: node!, termBefore: termBefore!, termAfter: await o.cluster.term() };
}
