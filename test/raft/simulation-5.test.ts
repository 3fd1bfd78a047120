/**
 * Randomized fault schedules against 5-node groups (see sim/run.ts for seeds and replay).
 */
import { describe, expect, it } from 'vitest';
import { baseSeed, simulate, soak } from './sim/run.js';

describe('raft simulation, 5 voters (safety after every step, liveness after healing)', () => {
  it('survives random faults', () => {
    const result = simulate(5, soak ? 20_000 : 2000, baseSeed);
    expect(result.runs).toBeGreaterThan(0);
    // A replay of one recorded counterexample (QKV_PATH) need not exercise everything.
    if (process.env.QKV_PATH) return;
    expect(result.proposals).toBeGreaterThan(0);
    expect(result.reads).toBeGreaterThan(0);
    // Groups went quiet, and liveness woke quiet members, under the faults.
    expect(result.quiesced).toBeGreaterThan(0);
    expect(result.woken).toBeGreaterThan(0);
  }, 900_000);
});
