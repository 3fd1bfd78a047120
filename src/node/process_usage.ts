import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

/**
 * What the node process uses of the machine, for INFO memory and INFO cpu: the figures Redis
 * takes from zmalloc and getrusage(2), read from Node and, for what Node does not expose, from
 * Linux's /proc.
 */

export interface MemoryFigures {
  /**
   * The bytes the process has allocated: the V8 heap in use (live objects and garbage not yet
   * collected) plus the memory outside it that JavaScript objects hold (Buffers, ArrayBuffers,
   * native objects). This is Redis's used_memory (what zmalloc handed out): neither the heap V8
   * has reserved but not used, nor code and stacks, which are in the RSS only.
   */
  readonly used: number;
  /** Resident set size. */
  readonly rss: number;
  /** The V8 heap in use, a part of `used`. */
  readonly heapUsed: number;
}

/**
 * MemoryFigures.used alone, for the peak the node samples every 100 ms: the same two figures from
 * V8's heap statistics, without the RSS that process.memoryUsage() also reads from /proc (that
 * call was a fifth of an idle node's JavaScript time: ~5 ms a second with 64 quiet groups).
 */
export function usedMemory(): number {
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

export function memoryFigures(): MemoryFigures {
  const { heapUsed, external, rss } = process.memoryUsage();
  return { used: heapUsed + external, rss, heapUsed };
}

/** CPU time in microseconds, as getrusage(2) counts it. */
export interface CpuFigures {
  readonly sys: number;
  readonly user: number;
  /** Of the child processes waited for (RUSAGE_CHILDREN). */
  readonly childrenSys: number;
  readonly childrenUser: number;
  /**
   * Of the main thread alone, the one that runs JavaScript (Redis's RUSAGE_THREAD figures);
   * null where the kernel does not tell (no Linux /proc). The rest of `sys`/`user` is libuv's
   * thread pool (file writes, fsync) and V8's helper threads (garbage collection, compilation).
   */
  readonly mainThread: { readonly sys: number; readonly user: number } | null;
}

export function cpuFigures(): CpuFigures {
  const self = process.cpuUsage();
  // Node exposes neither RUSAGE_CHILDREN nor RUSAGE_THREAD; Linux gives both in /proc.
  const processStat = procStatTimes('/proc/self/stat');
  const threadStat = procStatTimes(`/proc/self/task/${process.pid}/stat`);
  return {
    sys: self.system,
    user: self.user,
    // A node starts no child process: where /proc cannot say, there were none to count.
    childrenSys: processStat?.childrenSys ?? 0,
    childrenUser: processStat?.childrenUser ?? 0,
    mainThread: threadStat === null ? null : { sys: threadStat.sys, user: threadStat.user },
  };
}

/**
 * /proc's clock ticks per second (sysconf(_SC_CLK_TCK), USER_HZ): 100 on every architecture
 * Node runs on, and part of Linux's user-space ABI. The figures read there are thus whole
 * hundredths of a second, where getrusage has microseconds.
 */
const ticksPerSecond = 100;

interface StatTimes {
  readonly user: number;
  readonly sys: number;
  readonly childrenUser: number;
  readonly childrenSys: number;
}

/** utime, stime, cutime, cstime (fields 14 to 17 of proc(5)'s stat) in microseconds; null if unreadable. */
function procStatTimes(path: string): StatTimes | null {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return null;
  }
  // Field 2, the command name in parentheses, may hold spaces and parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const micros = (field: number): number => {
    const ticks = Number(fields[field - 3]);
    return Number.isSafeInteger(ticks) && ticks >= 0 ? (ticks * 1_000_000) / ticksPerSecond : Number.NaN;
  };
  const times = { user: micros(14), sys: micros(15), childrenUser: micros(16), childrenSys: micros(17) };
  return Object.values(times).every(Number.isFinite) ? times : null;
}
