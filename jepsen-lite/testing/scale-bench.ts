/**
 * What the stages after the cluster cost on a synthetic run (`synthetic-run.ts`) of a given size:
 *
 * ```
 * npm run build && /usr/bin/time -v node --expose-gc dist/jepsen-lite/testing/scale-bench.js \
 *     --workload register --operations 3000000 [--seed 7] [--corrupt stale|phantom] [--no-history-file]
 * ```
 *
 * Prints the time of each stage (recording with history.jsonl, check, report and plot), the
 * memory the log keeps per operation (after a full collection, with --expose-gc), the checker's
 * resident and peak memory, and the files' sizes. The run's directory is removed afterwards.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkHistory } from '../checker/index.js';
import { TextFileWriter } from '../files.js';
import { HistoryRecorder } from '../recorder.js';
import { measureCheck, writeRunFiles } from '../report.js';
import { syntheticRun, type Corruption, type SyntheticWorkload } from './synthetic-run.js';

const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'register' },
    operations: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '7' },
    corrupt: { type: 'string' },
    'no-history-file': { type: 'boolean', default: false },
  },
});
const workload = values.workload as SyntheticWorkload;
const operations = Number(values.operations);
const seed = Number(values.seed);
const corrupt: Corruption | undefined =
  values.corrupt === 'stale' ? { kind: 'stale-read', at: Math.floor(operations * 0.95) } : values.corrupt === 'phantom' ? { kind: 'phantom-reads', every: 10 } : undefined;

const gc = (globalThis as { gc?: () => void }).gc;
const kept = (): number => {
  gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};
const cpuSeconds = (from: NodeJS.CpuUsage): string => {
  const used = process.cpuUsage(from);
  return ((used.user + used.system) / 1e6).toFixed(1);
};
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`;

const dir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-scale-bench-'));
try {
  const before = kept();
  let cpu = process.cpuUsage();
  let wall = performance.now();
  const recorder = new HistoryRecorder('ms', values['no-history-file'] ? undefined : new TextFileWriter(join(dir, 'history.jsonl'), { flushEveryMs: 1_000 }));
  const run = await syntheticRun(recorder, { workload, operations, seed, ...(corrupt ? { corrupt } : {}) });
  await recorder.close();
  console.log(`record: ${run.operations} operations, ${run.faults.length} fault records, ${run.corrupted} reads corrupted; ${((performance.now() - wall) / 1000).toFixed(1)} s (${cpuSeconds(cpu)} s CPU)`);
  const log = gc ? `${((kept() - before) / run.operations).toFixed(0)} bytes an operation` : 'run node with --expose-gc to measure';
  console.log(`kept: ${log}`);

  cpu = process.cpuUsage();
  const { result: check, cost } = measureCheck(() => checkHistory(workload, recorder.log));
  console.log(`check: ${(cost.elapsedMs / 1000).toFixed(1)} s (${cpuSeconds(cpu)} s CPU); ${cost.rssMB} MB resident after, ${cost.peakRssMB} MB peak so far`);
  console.log(`  ${check.verdict}`);

  cpu = process.cpuUsage();
  wall = performance.now();
  const summary = {
    workload,
    nemeses: ['synthetic'],
    schedule: 'random',
    seed,
    timeSeconds: Math.round(run.endMs / 1000),
    clients: 6,
    startedAt: new Date().toISOString(),
    faults: run.faults,
    settleProblem: null,
    snapshots: { taken: 0, installed: 0 },
    checker: cost,
  };
  await writeRunFiles(dir, summary, recorder.log, check);
  console.log(`report and plot: ${((performance.now() - wall) / 1000).toFixed(1)} s (${cpuSeconds(cpu)} s CPU)`);
  for (const file of ['history.jsonl', 'report.json', 'report.txt', 'latency.html']) {
    const size = await stat(join(dir, file)).then((s) => s.size).catch(() => undefined);
    if (size !== undefined) console.log(`  ${file}: ${mb(size)} (${size} bytes)`);
  }
  console.log(`peak resident: ${mb(process.resourceUsage().maxRSS * 1024)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
