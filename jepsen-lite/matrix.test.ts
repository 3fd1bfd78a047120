/**
 * Every workload under every nemesis, in short runs against real clusters: each run goes round
 * all six nemeses in a seeded order (`schedule: 'each'`, 2 s faults, 1 s quiet) and must end with
 * a valid history in which every nemesis injected at least once (from the run's recorded faults).
 * The seed is printed; `JEPSEN_SEED=N` replays.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './runner.js';

const seed = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 1_000_000);
const nemeses = ['partition', 'kill', 'pause', 'transfer-leader', 'kill-all', 'member'] as const;
let runsDir = '';

beforeAll(async () => {
  runsDir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-matrix-'));
  console.log(`jepsen-lite matrix seed: ${seed} (JEPSEN_SEED=${seed} to replay)`);
});

afterAll(async () => {
  if (runsDir) await rm(runsDir, { recursive: true, force: true });
});

describe('jepsen-lite: every workload under every nemesis', () => {
  const workloads = ['register', 'counter', 'append', 'expiry'] as const;
  workloads.forEach((workload, i) => {
    it(`${workload} stays valid under ${nemeses.join(', ')}, each injected`, async () => {
      const lines: string[] = [];
      const result = await run({ workload, nemeses, schedule: 'each', timeSeconds: 18, faultMs: 2_000, quietMs: 1_000, seed: seed + i, clients: 6, runsDir, log: (l) => lines.push(l) });
      const injected = new Set(result.faults.filter((f) => f.action === 'inject' && !f.error).map((f) => f.nemesis));
      const healFailures = result.faults.filter((f) => f.error !== undefined || /not healthy/.test(f.detail));
      console.log(`seed ${seed + i}: ${workload}: ${result.verdict}; ${result.injected} faults; nemeses that fired: ${[...injected].join(', ')}`);
      expect(result.valid, `${result.verdict}\n${lines.join('\n')}`).toBe(true);
      expect([...injected].sort(), lines.join('\n')).toEqual([...nemeses].sort());
      expect(healFailures, lines.join('\n')).toEqual([]);
      expect(result.outcomes.ok).toBeGreaterThan(50);
    }, 150_000);
  });
});
