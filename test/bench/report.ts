/**
 * The benchmark's results as data (written as JSON) and as markdown (printed and written beside
 * it): the cell table, the targets marked PASS/FAIL, the machine. Pure: no I/O.
 */
import { cellName, type Cell, type LoadTool } from './bench_plan.js';
import type { LoadResult } from './load_result.js';

export type Server = 'quorumkv' | 'redis';

export interface CellRun {
  readonly server: Server;
  readonly round: number;
  readonly result: LoadResult;
  /** The node the load went to (quorumkv: the leader, found by INFO raft). */
  readonly node?: string;
  /** Terms of the cluster before and after the run: a change means an election during it. */
  readonly termBefore?: number;
  readonly termAfter?: number;
}

/** The median over the rounds of each figure (each figure separately). */
export interface Summary {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number | null;
  readonly errors: number;
}

export interface CellReport {
  readonly cell: Cell;
  readonly name: string;
  readonly tool: LoadTool;
  readonly runs: readonly CellRun[];
  readonly quorumkv: Summary;
  readonly redis: Summary | null;
  /** quorumkv ops/s over redis ops/s, medians of the same run. */
  readonly ratio: number | null;
}

export interface FailoverReport {
  readonly killsMs: readonly number[];
  readonly medianMs: number;
}

export interface ElectionsReport {
  readonly seconds: number;
  readonly load: string;
  readonly termBefore: number;
  readonly termAfter: number;
  readonly elections: number;
  readonly leaderChanges: number;
  readonly opsPerSec: number;
}

export interface MemoryReport {
  readonly keys: number;
  readonly quorumkvRssBytes: Readonly<Record<string, number>>;
  readonly redisRssBytes: number | null;
  /** The largest node's RSS over redis-server's. */
  readonly ratio: number | null;
  readonly restartNode: string;
  readonly restartMs: number;
  readonly fillSeconds: { readonly quorumkv: number; readonly redis: number | null };
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly redisServer: string | null;
  readonly redisBenchmark: string | null;
  readonly gitCommit: string;
  /** `git status --porcelain` lines: uncommitted changes the numbers include. */
  readonly gitDirty: number;
}

export interface LoadSample {
  readonly at: string;
  readonly phase: string;
  /** `uptime`'s 1, 5 and 15 minute load averages. */
  readonly loadAverage: readonly [number, number, number];
}

export interface BenchReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  readonly preset: string;
  readonly secondsPerRun: number;
  readonly rounds: number;
  readonly machine: Machine;
  readonly loadSamples: readonly LoadSample[];
  readonly notes: readonly string[];
  readonly cells: readonly CellReport[];
  readonly failover: FailoverReport | null;
  readonly elections: ElectionsReport | null;
  readonly memory: MemoryReport | null;
  readonly targets: readonly TargetLine[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(results: readonly LoadResult[]): Summary {
  const p999 = results.map((r) => r.p999Ms).filter((v): v is number => v !== null);
  return {
    opsPerSec: median(results.map((r) => r.opsPerSec)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    p999Ms: p999.length === results.length && p999.length > 0 ? median(p999) : null,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

export function cellReport(cell: Cell, tool: LoadTool, runs: readonly CellRun[]): CellReport {
  const of = (server: Server): LoadResult[] => runs.filter((r) => r.server === server).map((r) => r.result);
  const quorumkv = summarize(of('quorumkv'));
  const redisRuns = of('redis');
  const redis = redisRuns.length > 0 ? summarize(redisRuns) : null;
  return { cell, name: cellName(cell), tool, runs, quorumkv, redis, ratio: redis && redis.opsPerSec > 0 ? quorumkv.opsPerSec / redis.opsPerSec : null };
}

// ---- targets ---------------------------------------------------------------------------------

export type Verdict = 'PASS' | 'FAIL' | 'not run';

export interface TargetLine {
  readonly target: string;
  readonly goal: string;
  readonly measured: string;
  readonly verdict: Verdict;
}

const find = (cells: readonly CellReport[], workload: Cell['workload'], clients: number, pipeline: number, valueBytes = 100): CellReport | undefined =>
  cells.find((c) => c.cell.workload === workload && c.cell.clients === clients && c.cell.pipeline === pipeline && c.cell.valueBytes === valueBytes);

const verdict = (ok: boolean): Verdict => (ok ? 'PASS' : 'FAIL');
const notRun = (target: string, goal: string, why = 'not run'): TargetLine => ({ target, goal, measured: why, verdict: 'not run' });

/** The targets (docs/performance.md), one line each, in that order. */
export function targetLines(cells: readonly CellReport[], failover: FailoverReport | null, elections: ElectionsReport | null, memory: MemoryReport | null): TargetLine[] {
  const lines: TargetLine[] = [];
  const ratioLine = (target: string, min: number, c: CellReport | undefined, aim?: number): TargetLine => {
    const goal = `≥ ${min}x redis${aim ? ` (aim ${aim}x)` : ''}`;
    if (!c) return notRun(target, goal);
    if (c.ratio === null) return notRun(target, goal, `${ops(c.quorumkv.opsPerSec)} ops/s, no redis to compare`);
    return { target, goal, measured: `${ratio(c.ratio)} (${ops(c.quorumkv.opsPerSec)} vs ${ops(c.redis!.opsPerSec)} ops/s)`, verdict: verdict(c.ratio >= min) };
  };
  lines.push(ratioLine('SET, 50 clients', 0.33, find(cells, 'set', 50, 1), 0.5));
  lines.push(ratioLine('GET (linearizable), 50 clients', 0.6, find(cells, 'get', 50, 1)));

  const pipelined = cells.filter((c) => c.cell.workload === 'set' && c.cell.pipeline === 16 && c.cell.valueBytes === 100);
  const bestPipelined = pipelined.sort((a, b) => b.quorumkv.opsPerSec - a.quorumkv.opsPerSec)[0];
  lines.push(
    bestPipelined
      ? {
          target: `SET -P 16 (${bestPipelined.cell.clients} clients)`,
          goal: '≥ 100,000 ops/s',
          measured: `${ops(bestPipelined.quorumkv.opsPerSec)} ops/s`,
          verdict: verdict(bestPipelined.quorumkv.opsPerSec >= 100_000),
        }
      : notRun('SET -P 16', '≥ 100,000 ops/s'),
  );

  const p99Line = (target: string, maxMs: number, c: CellReport | undefined): TargetLine => {
    const goal = `p99 < ${maxMs} ms`;
    if (!c) return notRun(target, goal);
    return { target, goal, measured: `p99 ${msText(c.quorumkv.p99Ms)}`, verdict: verdict(c.quorumkv.p99Ms < maxMs) };
  };
  lines.push(p99Line('GET, 10 clients', 1, find(cells, 'get', 10, 1)));
  lines.push(p99Line('SET, 10 clients', 2, find(cells, 'set', 10, 1)));

  lines.push(
    failover
      ? {
          target: `failover: kill -9 leader → first acknowledged write (median of ${failover.killsMs.length})`,
          goal: '< 1500 ms',
          measured: `${Math.round(failover.medianMs)} ms (each: ${failover.killsMs.map((v) => Math.round(v)).join(', ')})`,
          verdict: verdict(failover.medianMs < 1500),
        }
      : notRun('failover: kill -9 leader → first acknowledged write', '< 1500 ms'),
  );
  lines.push(
    elections
      ? {
          target: `elections during ${elections.seconds} s of full load, no faults`,
          goal: '0',
          measured: `${elections.elections} (term ${elections.termBefore} → ${elections.termAfter}, ${elections.leaderChanges} leader changes seen)`,
          verdict: verdict(elections.elections === 0),
        }
      : notRun('elections during full load, no faults', '0'),
  );
  if (memory) {
    const largest = Math.max(...Object.values(memory.quorumkvRssBytes));
    lines.push(
      memory.ratio === null
        ? notRun(`RSS, ${memory.keys} keys`, '≤ 2x redis-server', `${mib(largest)} MiB, no redis to compare`)
        : {
            target: `RSS, ${memory.keys.toLocaleString('en-US')} keys (16 B keys, 100 B values), largest node`,
            goal: '≤ 2x redis-server',
            measured: `${ratio(memory.ratio)} (${mib(largest)} MiB vs ${mib(memory.redisRssBytes!)} MiB)`,
            verdict: verdict(memory.ratio <= 2),
          },
    );
    lines.push({ target: `restart of a node holding ${memory.keys.toLocaleString('en-US')} keys`, goal: '< 5000 ms', measured: `${memory.restartMs} ms`, verdict: verdict(memory.restartMs < 5000) });
  } else {
    lines.push(notRun('RSS, 1,000,000 keys', '≤ 2x redis-server', 'not run (--memory or --full)'));
    lines.push(notRun('restart of a node holding 1,000,000 keys', '< 5000 ms', 'not run (--memory or --full)'));
  }
  return lines;
}

// ---- markdown --------------------------------------------------------------------------------

export function ops(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

export function msText(v: number | null): string {
  if (v === null) return '—';
  return v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`;
}

export function ratio(v: number | null): string {
  return v === null ? '—' : `${v.toFixed(2)}x`;
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);

/** The cell table: one line per cell, quorumkv's figures, redis's, and the ratio. */
export function cellTable(cells: readonly CellReport[]): string {
  const rows = [
    '| workload | clients | -P | value | load client | quorumkv ops/s | p50 | p99 | p99.9 | redis ops/s | p50 | p99 | p99.9 | ratio |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    const value = c.cell.valueBytes === 0 ? '—' : c.cell.valueBytes >= 1024 ? `${c.cell.valueBytes / 1024} KiB` : `${c.cell.valueBytes} B`;
    const errors = c.quorumkv.errors > 0 ? ` (${c.quorumkv.errors} errors)` : '';
    const r = c.redis;
    rows.push(
      `| ${c.cell.workload.toUpperCase()} | ${c.cell.clients} | ${c.cell.pipeline} | ${value} | ${c.tool} | ${ops(c.quorumkv.opsPerSec)}${errors} | ${msText(c.quorumkv.p50Ms)} | ${msText(c.quorumkv.p99Ms)} | ${msText(c.quorumkv.p999Ms)} | ` +
        (r ? `${ops(r.opsPerSec)} | ${msText(r.p50Ms)} | ${msText(r.p99Ms)} | ${msText(r.p999Ms)} | ${ratio(c.ratio)} |` : '— | — | — | — | — |'),
    );
  }
  return rows.join('\n');
}

export function targetTable(lines: readonly TargetLine[]): string {
  return [
    '| target | goal | measured | verdict |',
    '| --- | --- | --- | --- |',
    ...lines.map((l) => `| ${l.target} | ${l.goal} | ${l.measured} | ${l.verdict === 'not run' ? 'not run' : `**${l.verdict}**`} |`),
  ].join('\n');
}

export function markdown(r: BenchReport): string {
  const m = r.machine;
  const loads = r.loadSamples.map((s) => `${s.phase} ${s.loadAverage.map((v) => v.toFixed(2)).join(', ')}`).join('; ');
  return [
    `## quorumkv vs redis-server (appendfsync always), ${r.startedAt}`,
    '',
    `Command: \`${r.command}\` (preset ${r.preset}: ${r.secondsPerRun} s per run, ${r.rounds} runs per cell and server, interleaved; figures are medians over the runs).`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; ${m.redisServer ?? 'no redis-server'}; ${m.redisBenchmark ?? 'no redis-benchmark'}; quorumkv at ${m.gitCommit}${m.gitDirty > 0 ? ` with ${m.gitDirty} uncommitted changes` : ''}. All servers and load clients share the machine.`,
    '',
    `Load average (1, 5, 15 min) by phase: ${loads}.`,
    '',
    ...r.notes.map((n) => `- ${n}`),
    '',
    '### Targets',
    '',
    targetTable(r.targets),
    '',
    '### Throughput and latency',
    '',
    cellTable(r.cells),
    '',
  ].join('\n');
}
