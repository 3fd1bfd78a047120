import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesToHuman, cpuSeconds } from '../../src/node/info.js';

describe('bytesToHuman', () => {
  it('prints what redis-server 7.0 printed for the same byte counts', () => {
    // From `INFO memory` of redis-server 7.0.15: used_memory, used_memory_rss, peak, total_system_memory.
    expect(bytesToHuman(939264)).toBe('917.25K');
    expect(bytesToHuman(12267520)).toBe('11.70M');
    expect(bytesToHuman(1057744)).toBe('1.01M');
    expect(bytesToHuman(25276157952)).toBe('23.54G');
    expect(bytesToHuman(200)).toBe('200B');
    expect(bytesToHuman(0)).toBe('0B');
  });

  it('changes unit at powers of 1024, and rounds within a unit up to 1024.00', () => {
    expect(bytesToHuman(1023)).toBe('1023B');
    expect(bytesToHuman(1024)).toBe('1.00K');
    expect(bytesToHuman(1024 * 1024 - 1)).toBe('1024.00K');
    expect(bytesToHuman(1024 * 1024)).toBe('1.00M');
    expect(bytesToHuman(1024 ** 4)).toBe('1.00T');
    expect(bytesToHuman(1024 ** 5)).toBe('1.00P');
  });

  it('rounds a tie to even, as printf does (toFixed would round it up)', () => {
    expect(bytesToHuman(1152)).toBe('1.12K'); // 1.125
    expect(bytesToHuman(1408)).toBe('1.38K'); // 1.375
    expect(bytesToHuman(1152 * 1024)).toBe('1.12M');
  });

  it("agrees with C's printf %.2f on the exact quotient, for any size", () => {
    const units = ['K', 'M', 'G', 'T', 'P'];
    const sizes = fc.sample(
      fc.oneof(
        fc.integer({ min: 1024, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 2 ** 20 }).map((n) => 1024 * n + 128), // ties of the K range and their neighbours
        fc.maxSafeInteger().filter((n) => n >= 1024),
      ),
      { numRuns: 500, seed: 1 },
    );
    const exact = sizes.map((n) => {
      const unit = Math.min(Math.floor(Math.log2(n) / 10), units.length) - 1;
      // n / 1024^k is exact in binary and toFixed(60) prints every one of its digits.
      return { n, unit, quotient: (n / 1024 ** (unit + 1)).toFixed(60) };
    });
    const printed = spawnSync('printf', ['%.2f\\n', ...exact.map((e) => e.quotient)], { encoding: 'utf8' });
    expect(printed.status, printed.stderr).toBe(0);
    const lines = printed.stdout.trim().split('\n');
    exact.forEach((e, i) => expect(bytesToHuman(e.n), `${e.n}`).toBe(`${lines[i]}${units[e.unit]}`));
  });
});

describe('cpuSeconds', () => {
  it("prints microseconds as getrusage's timeval with %ld.%06ld", () => {
    expect(cpuSeconds(0)).toBe('0.000000');
    expect(cpuSeconds(15276)).toBe('0.015276');
    expect(cpuSeconds(1_000_000)).toBe('1.000000');
    expect(cpuSeconds(1_234_567_890)).toBe('1234.567890');
  });
});
