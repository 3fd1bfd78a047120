import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/util/random.js';
import type { FaultRecord } from './nemesis.js';
import { OperationLog } from './oplog.js';
import { DOTS_LIMIT, SLICES, latencyHtml, sliceFigures } from './plot.js';
import { writeJsonObject } from './report.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`report: seed=${seed} (replay with QKV_SEED=${seed})`);

/** `count` operations over `endMs`, with random latencies and outcomes (some never completed). */
function randomLog(genSeed: number, count: number, endMs: number): OperationLog {
  const random = new SeededRandom(genSeed);
  const log = new OperationLog();
  for (let i = 0; i < count; i++) {
    const invokeTime = random.intBelow(endMs * 10) / 10;
    const roll = random.intBelow(20);
    const outcome = roll === 0 ? 'fail' : roll === 1 ? 'info' : roll === 2 ? 'pending' : 'ok';
    const completeTime = outcome === 'pending' ? Infinity : invokeTime + random.intBelow(50_000) / 100;
    log.append({ process: i % 7, key: 'k', f: 'read', args: null, result: null, outcome, invokeTime, completeTime });
  }
  return log;
}

describe('the latency plot', () => {
  it('gives exact nearest-rank figures per slice and outcome', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 12 }), (genSeed, count, slices) => {
        const endMs = 5_000;
        const log = randomLog(genSeed, count, endMs);
        const figures = sliceFigures(log, endMs, slices);
        // The same, the slow way.
        const groups = new Map<string, number[]>();
        for (let row = 0; row < log.length; row++) {
          const slice = Math.min(slices - 1, Math.floor((log.invokeTime(row) / endMs) * slices));
          const name = `${slice} ${log.outcome(row)}`;
          const complete = log.completeTime(row);
          groups.set(name, [...(groups.get(name) ?? []), (Number.isFinite(complete) ? complete : endMs) - log.invokeTime(row)]);
        }
        expect(figures.length).toBe(groups.size);
        for (const f of figures) {
          const sorted = groups.get(`${f.slice} ${f.outcome}`)!.sort((a, b) => a - b);
          const rank = (p: number): number => sorted[Math.ceil(p * sorted.length) - 1]!;
          expect(f).toEqual({ slice: f.slice, outcome: f.outcome, count: sorted.length, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted[sorted.length - 1] });
        }
      }),
      { seed, numRuns: 200 },
    );
  });

  it('draws every operation of a short run, and a bounded page for a long one', () => {
    const short = latencyHtml('short', randomLog(seed, 500, 10_000), [], 'register: VALID');
    expect(short.match(/<circle/g)).toHaveLength(500);
    const long = randomLog(seed, DOTS_LIMIT * 20, 3_600_000);
    const faults: FaultRecord[] = [];
    for (let at = 1_000; at + 2_500 < 3_600_000; at += 4_000) {
      faults.push({ nemesis: 'kill', action: 'inject', time: at, detail: 'kill -9 n1' }, { nemesis: 'kill', action: 'heal', time: at + 2_500, detail: 'restart n1' });
    }
    const html = latencyHtml('long', long, faults, 'register: VALID');
    expect(html.match(/<circle/g)!.length).toBeLessThanOrEqual(2 * 3 * SLICES);
    expect(html.match(/<rect/g)!.length).toBeLessThanOrEqual(SLICES);
    expect(html).toContain('kill ×');
    expect(html.length).toBeLessThan(1_000_000);
  });
});

describe('report.json', () => {
  it('is written as JSON.stringify(report, null, 2) would write it', () => {
    const member = fc.oneof(fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 4 }));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), member), (report) => {
        const pieces: string[] = [];
        writeJsonObject({ write: (text) => pieces.push(text) }, report);
        expect(pieces.join('')).toBe(JSON.stringify(report, null, 2) + '\n');
      }),
      { seed, numRuns: 300 },
    );
  });
});
