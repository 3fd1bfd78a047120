/**
 * Seeded randomness. Everything that needs jitter (election timeouts, test schedules) takes a
 * `RandomSource` so that a run replays exactly from its seed; nothing calls Math.random directly.
 */
export interface RandomSource {
  /** A uniformly distributed integer in [0, n). */
  intBelow(n: number): number;
}

/**
 * mulberry32: a tiny, fast 32-bit generator. Statistically fine for timeouts and test schedules;
 * not for anything cryptographic.
 */
export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  intBelow(n: number): number {
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * n);
  }
}

/** One of `items`, uniformly. */
export function pick<T>(rng: RandomSource, items: readonly T[]): T {
  return items[rng.intBelow(items.length)]!;
}

/** A uniformly shuffled copy of `items` (Fisher-Yates). */
export function shuffle<T>(rng: RandomSource, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.intBelow(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
