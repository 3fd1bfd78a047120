import { describe, expect, it } from 'vitest';
import { fullMatrix, orderForRun, planFor, toolFor, type Cell } from './bench_plan.js';
import type { LoadResult } from './load_result.js';
import { parseRedisBenchmarkCsv, redisBenchmarkArgs, splitCsvLine } from './redis_benchmark.js';
import { cellReport, cellTable, median, targetLines, type CellRun } from './report.js';

// What redis-benchmark 7.0.15 printed for `-t set,get,incr -n 20000 -c 10 --csv`.
const redis7Csv = [
  '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"',
  '"SET","37313.43","0.179","0.032","0.151","0.271","1.231","5.663"',
  '"GET","37105.75","0.179","0.032","0.151","0.311","0.879","5.919"',
  '"INCR","41322.31","0.158","0.032","0.143","0.247","0.415","2.711"',
  '',
].join('\n');

describe('redis-benchmark CSV', () => {
  it('parses every row of Redis 7.0 output by column name', () => {
    const rows = parseRedisBenchmarkCsv(redis7Csv);
    expect(rows.map((r) => r.test)).toEqual(['SET', 'GET', 'INCR']);
    expect(rows[0]).toEqual({ test: 'SET', rps: 37313.43, avgMs: 0.179, minMs: 0.032, p50Ms: 0.151, p95Ms: 0.271, p99Ms: 1.231, maxMs: 5.663 });
  });

  it('skips progress lines and survives \\r\\n and reordered columns', () => {
    const reordered = 'SET: rps=12.0 (overall: 12.0)\r"rps","test","p99_latency_ms","p50_latency_ms","avg_latency_ms","min_latency_ms","p95_latency_ms","max_latency_ms"\r\n"100.5","GET","2","1","1","0.5","1.5","3"\r\n';
    expect(parseRedisBenchmarkCsv(reordered)[0]).toMatchObject({ test: 'GET', rps: 100.5, p50Ms: 1, p99Ms: 2 });
  });

  it('refuses output without the header or with a missing column', () => {
    expect(() => parseRedisBenchmarkCsv('Could not connect to Redis at 127.0.0.1:1: Connection refused')).toThrow(/no redis-benchmark CSV header/);
    expect(() => parseRedisBenchmarkCsv('"test","rps"\n"SET","1"')).toThrow(/no column avg_latency_ms/);
  });

  it('reads a custom command name holding commas and quotes', () => {
    expect(splitCsvLine('"SET k ""a,b""","1.5"')).toEqual(['SET k "a,b"', '1.5']);
  });

  it('builds the arguments of a cell', () => {
    const args = redisBenchmarkArgs(6380, { workload: 'get', clients: 50, pipeline: 16, valueBytes: 4096 }, 1000);
    expect(args.join(' ')).toBe('-h 127.0.0.1 -p 6380 -c 50 -n 1000 -P 16 -r 10000 -d 4096 -t get --csv');
    expect(() => redisBenchmarkArgs(1, { workload: 'mix', clients: 1, pipeline: 1, valueBytes: 100 }, 1)).toThrow(/no mix test/);
  });
});

describe('the plan', () => {
  it('the full matrix has every workload, client count, pipeline depth and value size once', () => {
    const cells = fullMatrix();
    expect(cells).toHaveLength(3 * 4 * 2 * 2 + 2 * 4 * 2);
    expect(new Set(cells.map((c) => JSON.stringify(c))).size).toBe(cells.length);
  });

  it('the default plan holds every cell a target names', () => {
    const has = (w: Cell['workload'], clients: number, pipeline: number): boolean =>
      planFor('default').cells.some((c) => c.workload === w && c.clients === clients && c.pipeline === pipeline && c.valueBytes === 100);
    expect([has('set', 50, 1), has('get', 50, 1), has('set', 50, 16), has('get', 10, 1), has('set', 10, 1)]).toEqual([true, true, true, true, true]);
  });

  it('runs 100 B cells (and counters) before 4 KiB ones, keeping their order otherwise', () => {
    const order = orderForRun(fullMatrix()).map((c) => (c.valueBytes === 0 ? 100 : c.valueBytes));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('gives redis-benchmark its own tests and the Node generator the rest', () => {
    const mix: Cell = { workload: 'mix', clients: 1, pipeline: 1, valueBytes: 100 };
    const set: Cell = { ...mix, workload: 'set' };
    expect([toolFor(set, true, false), toolFor(mix, true, false), toolFor(set, false, false), toolFor(set, true, true)]).toEqual(['redis-benchmark', 'node', 'node', 'node']);
  });
});

const result = (opsPerSec: number, p99Ms: number, p999Ms: number | null = null): LoadResult => ({
  tool: p999Ms === null ? 'redis-benchmark' : 'node',
  requests: opsPerSec,
  seconds: 1,
  opsPerSec,
  p50Ms: p99Ms / 4,
  p99Ms,
  p999Ms,
  maxMs: p99Ms * 2,
  errors: 0,
});

describe('the report', () => {
  it('median of an even count is the mean of the middle two', () => {
    expect([median([3, 1, 2]), median([4, 1, 3, 2]), median([])]).toEqual([2, 2.5, Number.NaN]);
  });

  it('the ratio is of the medians of the same run', () => {
    const cell: Cell = { workload: 'set', clients: 50, pipeline: 1, valueBytes: 100 };
    const runs: CellRun[] = [
      { server: 'quorumkv', round: 0, result: result(10_000, 3) },
      { server: 'redis', round: 0, result: result(40_000, 1) },
      { server: 'redis', round: 1, result: result(20_000, 1) },
      { server: 'quorumkv', round: 1, result: result(12_000, 5) },
    ];
    const report = cellReport(cell, 'redis-benchmark', runs);
    expect(report.quorumkv.opsPerSec).toBe(11_000);
    expect(report.redis?.opsPerSec).toBe(30_000);
    expect(report.ratio).toBeCloseTo(11 / 30);
    expect(report.quorumkv.p999Ms).toBeNull();
    expect(cellTable([report]).split('\n')[2]).toBe('| SET | 50 | 1 | 100 B | redis-benchmark | 11,000 | 1.00 ms | 4.00 ms | — | 30,000 | 0.25 ms | 1.00 ms | — | 0.37x |');
  });

  it('marks each target PASS, FAIL or not run', () => {
    const cell = (workload: Cell['workload'], clients: number, pipeline: number, ours: LoadResult, redis: LoadResult): ReturnType<typeof cellReport> =>
      cellReport({ workload, clients, pipeline, valueBytes: 100 }, 'redis-benchmark', [
        { server: 'quorumkv', round: 0, result: ours },
        { server: 'redis', round: 0, result: redis },
      ]);
    const cells = [
      cell('set', 50, 1, result(20_000, 3), result(40_000, 1)),
      cell('get', 50, 1, result(20_000, 3), result(40_000, 1)),
      cell('set', 50, 16, result(120_000, 30), result(200_000, 10)),
      cell('get', 10, 1, result(20_000, 0.9), result(40_000, 1)),
    ];
    const lines = targetLines(cells, { killsMs: [900, 1600, 1200], medianMs: 1200 }, null, null);
    expect(lines.map((l) => `${l.target}: ${l.verdict}`)).toEqual([
      'SET, 50 clients: PASS',
      'GET (linearizable), 50 clients: FAIL',
      'SET -P 16 (50 clients): PASS',
      'GET, 10 clients: PASS',
      'SET, 10 clients: not run',
      'failover: kill -9 leader → first acknowledged write (median of 3): PASS',
      'elections during full load, no faults: not run',
      'RSS, 1,000,000 keys: not run',
      'restart of a node holding 1,000,000 keys: not run',
    ]);
  });
});
