/**
 * Short jepsen-lite runs against a real cluster (the node must be built: `npm run build`): each
 * must inject faults and end with a valid history. The seed is printed; replay a run with
 * `JEPSEN_SEED=N npx vitest run jepsen-lite/runner.test.ts` or with `npm run jepsen -- ... --seed N`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyFromJsonLines } from './history.js';
import { run } from './runner.js';

const seed = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 1_000_000);
let runsDir = '';

beforeAll(async () => {
  runsDir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-runs-'));
  console.log(`jepsen-lite runner test seed: ${seed} (JEPSEN_SEED=${seed} to replay)`);
});

afterAll(async () => {
  if (runsDir) await rm(runsDir, { recursive: true, force: true });
});

const cases = [
  { workload: 'register', nemesis: 'kill' },
  { workload: 'register', nemesis: 'partition' },
  { workload: 'counter', nemesis: 'pause' },
] as const;

describe('jepsen-lite short runs', () => {
  for (const { workload, nemesis } of cases) {
    it(`${workload} with ${nemesis} is valid and injects faults`, async () => {
      const lines: string[] = [];
      const result = await run({ workload, nemeses: [nemesis], timeSeconds: 8, seed, clients: 6, runsDir, log: (l) => lines.push(l) });
      console.log(`seed ${seed}: ${workload}/${nemesis}: ${result.verdict}; faults injected: ${result.injected}`);
      expect(result.valid, `${result.verdict}\n${lines.join('\n')}`).toBe(true);
      expect(result.injected, lines.join('\n')).toBeGreaterThanOrEqual(1);
      expect(result.faults.filter((f) => f.nemesis === nemesis && f.action === 'inject' && !f.error).length).toBeGreaterThanOrEqual(1);
      expect(result.outcomes.ok).toBeGreaterThan(50);
      // The run's files: the history round-trips and the report names the verdict.
      expect(result.dir).not.toBeNull();
      const history = historyFromJsonLines(await readFile(join(result.dir!, 'history.jsonl'), 'utf8'));
      expect(history.events.length).toBe(result.outcomes.total * 2 - countOpen(history.events));
      expect(existsSync(join(result.dir!, 'report.txt'))).toBe(true);
      expect(existsSync(join(result.dir!, 'latency.html'))).toBe(true);
      const report = JSON.parse(await readFile(join(result.dir!, 'report.json'), 'utf8')) as { verdict: string; seed: number };
      expect(report.verdict).toBe(result.verdict);
      expect(report.seed).toBe(seed);
    }, 60_000);
  }
});

/** Invokes with no completion (none expected: every client op completes before the check). */
function countOpen(events: readonly { type: string; process: number }[]): number {
  const open = new Map<number, number>();
  for (const e of events) open.set(e.process, (open.get(e.process) ?? 0) + (e.type === 'invoke' ? 1 : -1));
  return [...open.values()].reduce((a, b) => a + b, 0);
}
