/**
 * Every stage after the cluster (recording, checking, the report and the plot) on synthetic runs
 * the size of hours of the harness (`testing/synthetic-run.ts`): millions of operations, the
 * verdict the construction dictates, files of bounded size, and memory of a few dozen bytes an
 * operation. The seed is printed; `JEPSEN_SEED=N` replays.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHistory, type CheckResult } from './checker/index.js';
import type { RegisterStats } from './checker/linearizable.js';
import { TextFileWriter } from './files.js';
import type { OperationLog } from './oplog.js';
import { DOTS_LIMIT, SLICES } from './plot.js';
import { HistoryRecorder } from './recorder.js';
import { REPORTED_ANOMALIES, measureCheck, writeRunFiles, type CheckerCost } from './report.js';
import { syntheticRun, type Corruption, type SyntheticRun, type SyntheticWorkload } from './testing/synthetic-run.js';

const seed = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 1_000_000);
const dirs: string[] = [];

beforeAll(() => console.log(`jepsen-lite scale seed: ${seed} (JEPSEN_SEED=${seed} to replay)`));
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

// A full collection before reading the heap, so that what is measured is what is kept.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap and array buffers in use after a full collection, in bytes. */
function retainedBytes(): number {
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

interface StagesResult {
  readonly dir: string;
  readonly run: SyntheticRun;
  readonly log: OperationLog;
  readonly check: CheckResult;
  readonly cost: CheckerCost;
  /** What the recorded log and its history keep in memory, per operation. */
  readonly bytesPerOperation: number;
  readonly sizes: Readonly<Record<string, number>>;
}

/** A synthetic run through the recorder, the checker and the report stage, as `run()` does it. */
async function throughEveryStage(workload: SyntheticWorkload, operations: number, options: { historyFile: boolean; corrupt?: Corruption }): Promise<StagesResult> {
  const dir = await mkdtemp(join(tmpdir(), `qkv-jepsen-scale-${workload}-`));
  dirs.push(dir);
  const before = retainedBytes();
  const recorder = new HistoryRecorder('ms', options.historyFile ? new TextFileWriter(join(dir, 'history.jsonl'), { flushEveryMs: 1_000 }) : undefined);
  const recordStarted = performance.now();
  const run = await syntheticRun(recorder, { workload, operations, seed, ...(options.corrupt ? { corrupt: options.corrupt } : {}) });
  await recorder.close();
  const recordMs = performance.now() - recordStarted;
  const bytesPerOperation = (retainedBytes() - before) / run.operations;
  const { result: check, cost } = measureCheck(() => checkHistory(workload, recorder.log));
  const summary = {
    workload,
    nemeses: ['synthetic'],
    schedule: 'random',
    seed,
    timeSeconds: Math.round(run.endMs / 1000),
    clients: 6,
    startedAt: new Date(0).toISOString(),
    faults: run.faults,
    settleProblem: null,
    snapshots: { taken: 0, installed: 0 },
    checker: cost,
  };
  await writeRunFiles(dir, summary, recorder.log, check);
  const sizes: Record<string, number> = {};
  for (const file of ['report.json', 'report.txt', 'latency.html', ...(options.historyFile ? ['history.jsonl'] : [])]) sizes[file] = (await stat(join(dir, file))).size;
  console.log(
    `seed ${seed}: ${workload}, ${run.operations} operations, ${run.faults.length} fault records${options.corrupt ? `, ${run.corrupted} reads corrupted` : ''}: ` +
      `recorded in ${(recordMs / 1000).toFixed(1)} s, ${bytesPerOperation.toFixed(0)} bytes an operation kept; ` +
      `checked in ${(cost.elapsedMs / 1000).toFixed(1)} s (${cost.rssMB} MB resident after, ${cost.peakRssMB} MB peak); ` +
      `files ${JSON.stringify(sizes)}\n  ${check.verdict}`,
  );
  return { dir, run, log: recorder.log, check, cost, bytesPerOperation, sizes };
}

/** Lines of a file, counted as it streams. */
async function countLines(path: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(path)) {
    for (const byte of chunk as Buffer) if (byte === 10) lines++;
  }
  return lines;
}

/** The longest latency of a finished operation, from the log itself. */
function maxLatency(log: OperationLog): number {
  let max = 0;
  for (let row = 0; row < log.length; row++) {
    const complete = log.completeTime(row);
    if (Number.isFinite(complete)) max = Math.max(max, complete - log.invokeTime(row));
  }
  return max;
}

async function expectBoundedReport(result: StagesResult): Promise<void> {
  const { dir, check, sizes } = result;
  // Faults are the only part that grows with the run (one record per inject or heal).
  expect(sizes['report.json']).toBeLessThan(200_000 + 200 * result.run.faults.length);
  expect(sizes['report.txt']).toBeLessThan(2_000 + 150 * result.run.faults.length);
  expect(sizes['latency.html']).toBeLessThan(1_000_000);
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as { verdict: string; anomalyCount: number; anomalies: unknown[]; operations: { total: number } };
  expect(report.verdict).toBe(check.verdict);
  expect(report.anomalyCount).toBe(check.anomalyCount);
  expect(report.anomalies.length).toBe(Math.min(check.anomalyCount, REPORTED_ANOMALIES));
  expect(report.operations.total).toBe(result.run.operations);
  const text = (await readFile(join(dir, 'report.txt'), 'utf8')).trimEnd().split('\n');
  expect(text[text.length - 1]).toBe(`verdict: ${check.verdict}`);
  // The plot summarises per slice, and keeps the maximum honest: the slowest operation's latency
  // is the maximum of its slice.
  const html = await readFile(join(dir, 'latency.html'), 'utf8');
  expect(result.log.length).toBeGreaterThan(DOTS_LIMIT);
  expect(html.match(/<circle/g)!.length).toBeLessThanOrEqual(2 * 3 * SLICES);
  expect(html).toContain(`max ${maxLatency(result.log).toFixed(1)} ms`);
}

describe('a run of millions of operations through every stage', () => {
  it('register, 3,000,000 operations: history streamed to its file, VALID, report and plot bounded', async () => {
    const result = await throughEveryStage('register', 3_000_000, { historyFile: true });
    const counts = result.log.counts();
    expect(result.check.verdict).toBe(`register: VALID — ${counts.total} operations (${counts.ok} ok, ${counts.fail} fail, ${counts.info} info)`);
    expect(counts.total).toBe(result.run.operations);
    expect(counts.fail).toBeGreaterThan(0);
    expect(counts.info).toBeGreaterThan(0);
    // The search decided every key itself (the zone check only cross-checked).
    expect((result.check.stats as RegisterStats).decidedByZones).toBe(0);
    // A header and one line per event.
    expect(await countLines(join(result.dir, 'history.jsonl'))).toBe(2 * result.run.operations + 1);
    await expectBoundedReport(result);
    // Columns and interned values: tens of bytes an operation, not an object per event.
    expect(result.bytesPerOperation).toBeLessThan(128);
    expect(result.cost.peakRssMB).toBeLessThan(1_500);
  }, 900_000);

  it('register, 2,000,000 operations, one read near the end sees a value overwritten before it began: INVALID, that read named', async () => {
    const at = 1_900_000;
    const result = await throughEveryStage('register', 2_000_000, { historyFile: false, corrupt: { kind: 'stale-read', at } });
    expect(result.run.corrupted).toBe(1);
    const { check } = result;
    expect(check.valid).toBe(false);
    expect(check.anomalyKinds).toEqual([['not-linearizable', 1]]);
    expect(check.verdict).toMatch(/^register: INVALID — 1 anomaly \(not-linearizable ×1\) in 2000003 operations /);
    // The slice shows the stale read and the writes that overwrote its value: a handful of operations.
    const slice = check.smallestFailingSlice!;
    expect(slice.ops.length).toBeLessThanOrEqual(8);
    expect(slice.ops.some((op) => op.f === 'read' && op.id >= at)).toBe(true);
    await expectBoundedReport(result);
  }, 900_000);

  it('register, 2,000,000 operations, every 10th read sees what nothing wrote: INVALID, every anomaly counted, the report bounded', async () => {
    const result = await throughEveryStage('register', 2_000_000, { historyFile: false, corrupt: { kind: 'phantom-reads', every: 10 } });
    const { check, run } = result;
    expect(run.corrupted).toBeGreaterThan(90_000);
    expect(check.valid).toBe(false);
    expect(Object.fromEntries(check.anomalyKinds)).toEqual({ 'phantom-read': run.corrupted, 'not-linearizable': 3 });
    expect(check.anomalyCount).toBe(run.corrupted + 3);
    expect(check.anomalies.length).toBe(100);
    await expectBoundedReport(result);
  }, 900_000);

  for (const workload of ['counter', 'append', 'expiry'] as const) {
    it(`${workload}, 500,000 operations: VALID, and INVALID once every 10th read sees what nothing wrote, every anomaly counted`, async () => {
      const valid = await throughEveryStage(workload, 500_000, { historyFile: false });
      expect(valid.check.valid).toBe(true);
      await expectBoundedReport(valid);
      const invalid = await throughEveryStage(workload, 500_000, { historyFile: false, corrupt: { kind: 'phantom-reads', every: 10 } });
      expect(invalid.run.corrupted).toBeGreaterThan(10_000);
      expect(invalid.check.valid).toBe(false);
      expect(invalid.check.anomalyCount).toBeGreaterThanOrEqual(invalid.run.corrupted);
      await expectBoundedReport(invalid);
    }, 900_000);
  }
});
