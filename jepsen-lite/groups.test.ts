/**
 * Short runs against clusters of three data groups (`--groups 3`), keys spread over all of them:
 * register and counter going round split, move, kill and partition (a spare fourth node joined
 * for move), and the scan workload under split. Each must be valid, show an inject of every one of
 * its nemeses in its recorded faults, and no failed inject or heal. The seed is printed;
 * `JEPSEN_SEED=N` replays.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScanStats } from './checker/scan.js';
import { run, type RunResult } from './runner.js';

const seed = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 1_000_000);
let runsDir = '';

beforeAll(async () => {
  runsDir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-groups-'));
  console.log(`jepsen-lite groups seed: ${seed} (JEPSEN_SEED=${seed} to replay)`);
});

afterAll(async () => {
  if (runsDir) await rm(runsDir, { recursive: true, force: true });
});

function expectClean(result: RunResult, nemeses: readonly string[], lines: readonly string[]): void {
  const text = lines.join('\n');
  const injected = new Set(result.faults.filter((f) => f.action === 'inject' && !f.error).map((f) => f.nemesis));
  const failures = result.faults.filter((f) => f.error !== undefined || /not healthy/.test(f.detail));
  expect(result.valid, `${result.verdict}\n${text}`).toBe(true);
  expect([...injected].sort(), text).toEqual([...nemeses].sort());
  expect(failures, text).toEqual([]);
  expect(result.outcomes.ok, text).toBeGreaterThan(50);
}

describe('jepsen-lite: three data groups', () => {
  const nemeses = ['split', 'move', 'kill', 'partition'] as const;
  (['register', 'counter'] as const).forEach((workload, i) => {
    it(`${workload} over many keys stays valid under ${nemeses.join(', ')}, each injected`, async () => {
      const lines: string[] = [];
      const result = await run({ workload, groups: 3, nemeses, schedule: 'each', timeSeconds: 12, faultMs: 1_500, quietMs: 1_000, seed: seed + i, clients: 6, runsDir, log: (l) => lines.push(l) });
      console.log(`seed ${seed + i}: ${workload} --groups 3: ${result.verdict}; ${result.injected} faults`);
      expectClean(result, nemeses, lines);
      // The split made a group, and the move put a replica on the spare.
      const detail = result.faults.map((f) => f.detail).join('\n');
      expect(detail, lines.join('\n')).toMatch(/split g\d+ at slot \d+: g[4-9]\d* serves/);
      expect(detail, lines.join('\n')).toMatch(/moved g\d+'s replica from n\d to n\d/);
    }, 180_000);
  });

  it('scan: full SCANs return every key there throughout them while groups split', async () => {
    const lines: string[] = [];
    const result = await run({ workload: 'scan', groups: 3, nemeses: ['split'], timeSeconds: 15, minTurns: 2, faultMs: 1_500, quietMs: 500, seed: seed + 5, clients: 6, runsDir, log: (l) => lines.push(l) });
    const stats = result.check.stats as ScanStats;
    console.log(`seed ${seed + 5}: scan under split: ${result.verdict}; ${result.injected} splits; ${stats.scans} full SCANs, up to ${stats.requiredPerScan.max} keys required of one`);
    expectClean(result, ['split'], lines);
    expect(result.injected, lines.join('\n')).toBeGreaterThanOrEqual(2);
    expect(stats.scans, lines.join('\n')).toBeGreaterThan(10);
    expect(stats.requiredPerScan.max).toBeGreaterThan(50);
  }, 180_000);
});
