/**
 * The state machine's apply hot path, in-process: `SET key value` and `SET ... EX` (prepared to
 * PXAT) over a growing keyspace of 1,000,000 keys with 32-byte values. A benchmark, not a test:
 * speed is measured here, never asserted in tests.
 *
 *   npm run bench:apply
 */
import { lookupCommand } from '../../src/commands/command_table.js';
import type { WriteCommandSpec } from '../../src/commands/command_spec.js';
import { Keyspace } from '../../src/state/keyspace.js';

const count = Number(process.env.QKV_BENCH_COUNT ?? 1_000_000);

function commands(withTtl: boolean, nowMs: number): Buffer[][] {
  const set = lookupCommand('set') as WriteCommandSpec;
  const value = Buffer.alloc(32, 0x78);
  const list: Buffer[][] = new Array(count);
  for (let i = 0; i < count; i++) {
    const args = [Buffer.from('SET'), Buffer.from(`key:${i}`), value];
    if (withTtl) args.push(Buffer.from('EX'), Buffer.from('3600'));
    list[i] = set.prepare(args, nowMs) as Buffer[];
  }
  return list;
}

function measure(label: string, withTtl: boolean): void {
  const set = lookupCommand('set') as WriteCommandSpec;
  const now = 1_700_000_000_000;
  const prepared = commands(withTtl, now);
  const ks = new Keyspace();
  const start = process.hrtime.bigint();
  for (let i = 0; i < prepared.length; i++) set.apply(ks, prepared[i]!, now);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    `${label}: ${count} applies in ${seconds.toFixed(3)} s = ${Math.round(count / seconds).toLocaleString('en')}/s; ` +
      `${ks.size} keys, ~${(ks.usedMemoryBytes / 2 ** 20).toFixed(0)} MiB estimated`,
  );
}

measure('SET k v', false);
measure('SET k v EX 3600 (prepared to PXAT)', true);
