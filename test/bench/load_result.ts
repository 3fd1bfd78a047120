import type { LoadTool } from './bench_plan.js';

/** One run of one load client against one server. Latencies in milliseconds. */
export interface LoadResult {
  readonly tool: LoadTool;
  readonly requests: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** null: the tool does not report it (redis-benchmark's CSV stops at p99). */
  readonly p999Ms: number | null;
  readonly maxMs: number;
  /** Error replies (the Node generator counts them; redis-benchmark does not report them). */
  readonly errors: number;
  readonly firstError?: string;
  /** Per-command percentiles of mixed workloads (Node generator only). */
  readonly byCommand?: Readonly<Record<string, { count: number; p50Ms: number; p99Ms: number; p999Ms: number }>>;
}
