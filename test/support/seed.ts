/**
 * The seed of a property test: a new one each run (QKV_SEED replays one), printed so that a
 * failure can be replayed; QKV_RUNS changes how many cases run.
 */
export function propertySeed(name: string, defaultRuns: number): { seed: number; numRuns: number } {
  const seed = process.env.QKV_SEED ? Number(process.env.QKV_SEED) : Math.floor(Math.random() * 0x7fffffff);
  const numRuns = process.env.QKV_RUNS ? Number(process.env.QKV_RUNS) : defaultRuns;
  console.log(`${name}: seed=${seed} runs=${numRuns} (replay with QKV_SEED=${seed})`);
  return { seed, numRuns };
}
