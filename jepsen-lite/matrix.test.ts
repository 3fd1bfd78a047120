/**
 * Every workload under every nemesis, in short runs against real clusters: each run cycles
 * through all the nemeses (in a seeded order) and must end with a valid history. The seed is
 * printed; `JEPSEN_SEED=N` replays.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './runner.js';

const seed = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 1_000_000);
const nemeses = ['partition', 'kill', 'pause', 'transfer-leader', 'kill-all'] as const;
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
    // Each run is given every nemesis; the runner picks among them with its seeded RNG (a short
    // run reaches one to three of them), and the seed differs per workload.
    const order = [...nemeses.slice(i), ...nemeses.slice(0, i)];
    it(`${workload} stays valid under ${order.join(', ')}`, async () => {
      const lines: string[] = [];
      const result = await run({ workload, nemeses: order, timeSeconds: 14, seed: seed + i, clients: 6, runsDir, log: (l) => lines.push(l) });
      const injected = new Set(result.faults.filter((f) => f.action === 'inject' && !f.error).map((f) => f.nemesis));
      console.log(`seed ${seed + i}: ${workload}: ${result.verdict}; nemeses that fired: ${[...injected].join(', ')}`);
      expect(result.valid, `${result.verdict}\n${lines.join('\n')}`).toBe(true);
      expect(injected.size, lines.join('\n')).toBeGreaterThanOrEqual(1);
      expect(result.outcomes.ok).toBeGreaterThan(50);
    }, 120_000);
  });
});
