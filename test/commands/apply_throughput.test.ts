import { expect, test } from 'vitest';
import { lookupCommand } from '../../src/commands/command_table.js';
import type { WriteCommandSpec } from '../../src/commands/command_spec.js';
import { Keyspace } from '../../src/state/keyspace.js';

/**
 * The apply hot path, in-process: `SET key value` (and `SET ... EX`, prepared) over a growing
 * keyspace. QKV_BENCH=1 runs the full 1M and prints the rates; the default run is a smaller
 * smoke check with a floor far below the target, so a slow CI machine does not flake.
 */
const FULL = process.env.QKV_BENCH === '1';
const COUNT = FULL ? 1_000_000 : 200_000;
const KEYS = FULL ? 1_000_000 : 200_000;

function commands(count: number, withTtl: boolean, nowMs: number): Buffer[][] {
  const set = lookupCommand('set') as WriteCommandSpec;
  const value = Buffer.alloc(32, 0x78);
  const list: Buffer[][] = new Array(count);
  for (let i = 0; i < count; i++) {
    const args = [Buffer.from('SET'), Buffer.from(`key:${i % KEYS}`), value];
    if (withTtl) args.push(Buffer.from('EX'), Buffer.from('3600'));
    list[i] = set.prepare(args, nowMs) as Buffer[];
  }
  return list;
}

function measure(label: string, withTtl: boolean): number {
  const set = lookupCommand('set') as WriteCommandSpec;
  const now = 1_700_000_000_000;
  const prepared = commands(COUNT, withTtl, now);
  const ks = new Keyspace();
  const start = process.hrtime.bigint();
  for (let i = 0; i < prepared.length; i++) set.apply(ks, prepared[i]!, now);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = COUNT / seconds;
  console.log(
    `${label}: ${COUNT} applies in ${seconds.toFixed(3)} s = ${Math.round(rate).toLocaleString('en')}/s; ` +
      `${ks.size} keys, ~${(ks.usedMemoryBytes / 2 ** 20).toFixed(0)} MiB estimated`,
  );
  return rate;
}

test('apply of SET sustains far more than tens of thousands per second', () => {
  expect(measure('SET k v', false)).toBeGreaterThan(50_000);
  expect(measure('SET k v EX 3600 (prepared to PXAT)', true)).toBeGreaterThan(50_000);
});
