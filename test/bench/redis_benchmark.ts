/**
 * Drives redis-benchmark (the one that ships with Redis) as a child process and reads its
 * `--csv` output.
 *
 * Redis 7.0's CSV has one header line and one line per test:
 *
 *   "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
 *   "SET","37313.43","0.179","0.032","0.151","0.271","1.231","5.663"
 *
 * No p99.9 and no error count: those come from the Node generator (load_generator.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { Cell } from './bench_plan.js';
import { keyspaceFor } from './bench_plan.js';
import type { LoadResult } from './load_result.js';
import { trackChild } from './children.js';

export interface RedisBenchmarkRow {
  readonly test: string;
  readonly rps: number;
  readonly avgMs: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const columns = {
  test: 'test',
  rps: 'rps',
  avgMs: 'avg_latency_ms',
  minMs: 'min_latency_ms',
  p50Ms: 'p50_latency_ms',
  p95Ms: 'p95_latency_ms',
  p99Ms: 'p99_latency_ms',
  maxMs: 'max_latency_ms',
} as const satisfies Record<keyof RedisBenchmarkRow, string>;

/** Parses redis-benchmark `--csv` output (columns found by name, so a reordering still parses). */
export function parseRedisBenchmarkCsv(output: string): RedisBenchmarkRow[] {
  const lines = output.split(/\r\n|\r|\n/).filter((l) => l.startsWith('"'));
  const header = lines.findIndex((l) => splitCsvLine(l).includes('test'));
  if (header < 0) throw new Error(`no redis-benchmark CSV header in: ${output.slice(0, 200)}`);
  const names = splitCsvLine(lines[header]!);
  const at = (name: string): number => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`redis-benchmark CSV has no column ${name}: ${lines[header]}`);
    return i;
  };
  const index = Object.fromEntries(Object.entries(columns).map(([key, name]) => [key, at(name)])) as Record<keyof RedisBenchmarkRow, number>;
  return lines.slice(header + 1).map((line) => {
    const fields = splitCsvLine(line);
    const num = (key: Exclude<keyof RedisBenchmarkRow, 'test'>): number => {
      const v = Number(fields[index[key]]);
      if (!Number.isFinite(v)) throw new Error(`redis-benchmark CSV: ${columns[key]} is not a number in ${line}`);
      return v;
    };
    return {
      test: fields[index.test] ?? '',
      rps: num('rps'),
      avgMs: num('avgMs'),
      minMs: num('minMs'),
      p50Ms: num('p50Ms'),
      p95Ms: num('p95Ms'),
      p99Ms: num('p99Ms'),
      maxMs: num('maxMs'),
    };
  });
}

/** One line of redis-benchmark's CSV: every field double-quoted, `""` for a quote inside. */
export function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] !== '"') throw new Error(`unquoted CSV field at ${i}: ${line}`);
    let field = '';
    i++;
    for (;;) {
      if (i >= line.length) throw new Error(`unterminated CSV field: ${line}`);
      if (line[i] === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        i++;
        break;
      }
      field += line[i++];
    }
    fields.push(field);
    if (line[i] === ',') i++;
  }
  return fields;
}

export function redisBenchmarkInstalled(): boolean {
  return spawnSync('redis-benchmark', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** redis-benchmark's arguments for `cell`, `requests` in all. Keys are `key:<12 digits>`. */
export function redisBenchmarkArgs(port: number, c: Cell, requests: number): string[] {
  const test = c.workload;
  if (test !== 'set' && test !== 'get' && test !== 'incr') throw new Error(`redis-benchmark has no ${test} test`);
  return [
    '-h', '127.0.0.1',
    '-p', String(port),
    '-c', String(c.clients),
    '-n', String(requests),
    '-P', String(c.pipeline),
    '-r', String(keyspaceFor(c.valueBytes)),
    ...(c.valueBytes > 0 ? ['-d', String(c.valueBytes)] : []),
    '-t', test,
    '--csv',
  ];
}

export async function runRedisBenchmark(port: number, c: Cell, requests: number): Promise<LoadResult> {
  const args = redisBenchmarkArgs(port, c, requests);
  const { stdout, stderr, code } = await run('redis-benchmark', args);
  if (code !== 0) throw new Error(`redis-benchmark ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`);
  const rows = parseRedisBenchmarkCsv(stdout);
  const row = rows[0];
  if (!row) throw new Error(`redis-benchmark printed no result: ${stdout.slice(-500)} ${stderr.slice(-500)}`);
  return {
    tool: 'redis-benchmark',
    requests,
    seconds: requests / row.rps,
    opsPerSec: row.rps,
    p50Ms: row.p50Ms,
    p99Ms: row.p99Ms,
    p999Ms: null,
    maxMs: row.maxMs,
    errors: 0,
  };
}

/**
 * redis-benchmark looping the `-t` test until `stop()` (the elections phase's background load).
 */
export function loopRedisBenchmark(port: number, c: Cell): { stop: () => Promise<void> } {
  const args = [...redisBenchmarkArgs(port, c, 1_000_000).filter((a) => a !== '--csv'), '-q', '-l'];
  const child = spawn('redis-benchmark', args, { stdio: 'ignore' });
  const untrack = trackChild(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      untrack();
    },
  };
}

function run(command: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const untrack = trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      untrack();
      resolve({ stdout, stderr, code });
    });
  });
}
