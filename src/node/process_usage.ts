/** What the node process uses of the machine, for INFO memory: the figures Redis takes from zmalloc. */

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

export function memoryFigures(): MemoryFigures {
  const { heapUsed, external, rss } = process.memoryUsage();
  return { used: heapUsed + external, rss, heapUsed };
}
