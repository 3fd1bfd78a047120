/**
 * What `npm run bench` measures: the cells of the load matrix and the fault/memory phases, for
 * each preset. Pure data; bench.ts runs it.
 *
 * The full matrix (4 workloads x 4 client counts x 2 pipeline depths x 2 value sizes,
 * INCR without a value size: 56 cells) takes about 25 minutes on a 2-core machine, so the default
 * run keeps the cells the targets are about plus enough around them to see the curve,
 * and `--full` runs everything.
 */

/**
 * set, get, incr: one command each (redis-benchmark's -t tests).
 * mix: 50/50 GET/SET on random keys. incr-get: 50/50 INCR/GET on random counters.
 * Those two only the Node load generator runs.
 */
export const workloads = ['set', 'get', 'mix', 'incr', 'incr-get'] as const;
export type Workload = (typeof workloads)[number];

export type LoadTool = 'redis-benchmark' | 'node';

export interface Cell {
  readonly workload: Workload;
  readonly clients: number;
  readonly pipeline: number;
  /** Bytes per value written (SET, mix); 0 for counters. */
  readonly valueBytes: number;
}

export const presets = ['quick', 'default', 'full'] as const;
export type Preset = (typeof presets)[number];

export interface Plan {
  readonly preset: Preset;
  readonly cells: readonly Cell[];
  /** Measured seconds per run of one cell on one server. */
  readonly seconds: number;
  /** Runs per cell per server, interleaved (see bench.ts). */
  readonly rounds: number;
  /** Seconds of full load without faults during which elections are counted. */
  readonly electionSeconds: number;
  /** Leader kills for the failover time. */
  readonly kills: number;
  /** Whether to run the 1,000,000-key memory and restart phase. */
  readonly memory: boolean;
  readonly memoryKeys: number;
}

/** Keys the random-key workloads spread over: 10 MB of 100 B values, 40 MB of 4 KiB values. */
export function keyspaceFor(valueBytes: number): number {
  return valueBytes > 1024 ? 10_000 : 100_000;
}

const cell = (workload: Workload, clients: number, pipeline = 1, valueBytes = 100): Cell => ({
  workload,
  clients,
  pipeline,
  valueBytes: workload === 'incr' || workload === 'incr-get' ? 0 : valueBytes,
});

/** Every cell of the full matrix. */
export function fullMatrix(): Cell[] {
  const cells: Cell[] = [];
  for (const valueBytes of [100, 4096]) {
    for (const workload of workloads) {
      if ((workload === 'incr' || workload === 'incr-get') && valueBytes !== 100) continue;
      for (const pipeline of [1, 16]) for (const clients of [1, 10, 50, 200]) cells.push(cell(workload, clients, pipeline, valueBytes));
    }
  }
  return cells;
}

export function planFor(preset: Preset): Plan {
  switch (preset) {
    case 'quick':
      return {
        preset,
        cells: [cell('set', 10), cell('get', 10), cell('set', 50), cell('get', 50), cell('set', 50, 16), cell('mix', 50)],
        seconds: 1.5,
        rounds: 2,
        electionSeconds: 5,
        kills: 1,
        memory: false,
        memoryKeys: 1_000_000,
      };
    case 'default':
      return {
        preset,
        cells: [
          ...[1, 10, 50, 200].map((c) => cell('set', c)),
          ...[1, 10, 50, 200].map((c) => cell('get', c)),
          cell('mix', 10),
          cell('mix', 50),
          cell('incr', 50),
          cell('incr-get', 50),
          cell('set', 50, 16),
          cell('get', 50, 16),
          cell('set', 50, 1, 4096),
          cell('get', 50, 1, 4096),
        ],
        seconds: 3,
        rounds: 2,
        electionSeconds: 20,
        kills: 3,
        memory: false,
        memoryKeys: 1_000_000,
      };
    case 'full':
      return { preset, cells: fullMatrix(), seconds: 5, rounds: 2, electionSeconds: 60, kills: 10, memory: true, memoryKeys: 1_000_000 };
  }
}

/**
 * Which client drives a cell: redis-benchmark for its own tests when it is installed (a C client
 * that costs the 2 shared cores less than Node would), the Node generator otherwise.
 */
export function toolFor(c: Cell, redisBenchmarkInstalled: boolean, forceNode: boolean): LoadTool {
  if (forceNode || !redisBenchmarkInstalled) return 'node';
  return c.workload === 'set' || c.workload === 'get' || c.workload === 'incr' ? 'redis-benchmark' : 'node';
}

export function cellName(c: Cell): string {
  const value = c.valueBytes === 0 ? '' : c.valueBytes >= 1024 ? ` ${c.valueBytes / 1024} KiB` : ` ${c.valueBytes} B`;
  return `${c.workload.toUpperCase()} c=${c.clients} P=${c.pipeline}${value}`;
}

/** Runs cells grouped by value size, so one prefill of each key range serves every GET after it. */
export function orderForRun(cells: readonly Cell[]): Cell[] {
  return [...cells].sort((a, b) => (a.valueBytes === 0 ? 100 : a.valueBytes) - (b.valueBytes === 0 ? 100 : b.valueBytes));
}
