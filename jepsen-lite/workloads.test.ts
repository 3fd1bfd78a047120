import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/util/random.js';
import { checkHistory } from './checker/index.js';
import { HistoryBuilder, operations } from './history.js';
import { appendWorkload, type OpContext } from './workloads.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`workloads: seed=${seed} (replay with QKV_SEED=${seed})`);

/** APPEND and GET on strings in memory, as the store answers them. */
function fakeClient(): Redis {
  const store = new Map<string, string>();
  return {
    append: async (key: string, text: string) => {
      store.set(key, (store.get(key) ?? '') + text);
      return store.get(key)!.length;
    },
    get: async (key: string) => store.get(key) ?? null,
  } as unknown as Redis;
}

describe('the append workload', () => {
  it('moves to a fresh key once a key has its appends, and lists every key it used', async () => {
    const workload = appendWorkload(5);
    const history = new HistoryBuilder();
    let clock = 0;
    let unique = 1;
    const ctx: OpContext = { history, now: () => clock++, process: 0, rng: new SeededRandom(seed), unique: () => unique++ };
    const client = fakeClient();
    for (let i = 0; i < 300; i++) await workload.step(client, ctx);
    for (const key of workload.keys) await workload.read(client, ctx, key);
    const ops = operations(history.build());
    const appendsPerKey = new Map<string, number>();
    for (const op of ops) if (op.f === 'append') appendsPerKey.set(op.key, (appendsPerKey.get(op.key) ?? 0) + 1);
    expect([...appendsPerKey.values()].reduce((a, b) => Math.max(a, b))).toBe(5);
    expect(workload.keys.length).toBeGreaterThan(30);
    expect(new Set(ops.map((op) => op.key))).toEqual(new Set(workload.keys));
    // Every read returns at most a key's worth of elements, and the history checks out.
    for (const op of ops) if (op.f === 'read') expect((op.result as string[] | null)?.length ?? 0).toBeLessThanOrEqual(5);
    expect(checkHistory('append', history.build()).valid).toBe(true);
  });
});
