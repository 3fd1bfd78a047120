import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Differential, type Word, useDifferential } from './support/differential.js';

/**
 * LCS (LEN, IDX, MINMATCHLEN, WITHMATCHLEN) and SUBSTR against a real redis-server 7.0: hand-picked
 * edge cases in RESP2 and RESP3 (IDX answers a map), then generated strings and options. Replay
 * a generated failure with QKV_SEED=<seed printed below>.
 */

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`differential_lcs: seed=${seed} (replay with QKV_SEED=${seed})`);

const { redis, differential } = useDifferential();

const scripts: Record<string, (readonly Word[])[]> = {
  LCS: [
    ['MSET', 'a', 'ohmytext', 'b', 'mynewtext'],
    ['LCS', 'a', 'b'],
    ['LCS', 'a', 'b', 'LEN'],
    ['LCS', 'a', 'b', 'IDX'],
    ['LCS', 'a', 'b', 'idx', 'WITHMATCHLEN'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '4'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '4', 'WITHMATCHLEN'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '-5', 'WITHMATCHLEN'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '100'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '1', 'MINMATCHLEN', '3'],
    ['LCS', 'a', 'b', 'LEN', 'LEN'],
    ['LCS', 'a', 'b', 'LEN', 'WITHMATCHLEN'],
    ['LCS', 'a', 'b', 'MINMATCHLEN', '2'],
    ['LCS', 'a', 'b', 'LEN', 'IDX'],
    ['LCS', 'a', 'b', 'IDX', 'LEN'],
    ['LCS', 'a', 'b', 'MINMATCHLEN'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', 'x'],
    ['LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '9223372036854775808'],
    ['LCS', 'a', 'b', 'FOO'],
    ['LCS', 'a', 'b', 'IDX', 'FOO', 'LEN'],
    ['LCS', 'b', 'a', 'IDX', 'WITHMATCHLEN'],
    ['LCS', 'a', 'a', 'IDX', 'WITHMATCHLEN'],
    ['LCS', 'a', 'missing'],
    ['LCS', 'missing', 'b', 'IDX'],
    ['LCS', 'missing', 'other', 'LEN'],
    ['LCS', 'missing', 'other', 'IDX', 'WITHMATCHLEN'],
    ['SET', 'e', ''],
    ['LCS', 'e', 'a'],
    ['LCS', 'e', 'e', 'IDX'],
    ['LCS', 'a', 'e', 'LEN'],
    ['MSET', 'x', 'abcabcabc', 'y', 'cbacbacba'],
    ['LCS', 'x', 'y', 'IDX', 'WITHMATCHLEN'],
    ['LCS', 'y', 'x'],
    ['MSET', 'x', 'aaaa', 'y', 'aa'],
    ['LCS', 'x', 'y', 'IDX', 'WITHMATCHLEN'],
    ['MSET', 'x', Buffer.from([0, 1, 2, 0xff, 0]), 'y', Buffer.from([0xff, 0, 2, 1, 0])],
    ['LCS', 'x', 'y'],
    ['LCS', 'x', 'y', 'IDX', 'MINMATCHLEN', '2', 'WITHMATCHLEN'],
    ['MSET', 'n1', '1234567', 'n2', '2468'],
    ['LCS', 'n1', 'n2', 'IDX', 'WITHMATCHLEN'],
    ['LCS', 'n1', 'n2', Buffer.from('len\0x', 'latin1')],
  ],
  'LCS over the table limit': [
    ['SET', 'big1', 'a'.repeat(12_000)],
    ['SET', 'big2', 'b'.repeat(12_000)],
    ['LCS', 'big1', 'big2', 'LEN'],
    ['LCS', 'big1', 'big2', 'LEN', 'IDX'],
    ['LCS', 'big1', 'big1', 'FOO'],
  ],
  SUBSTR: [
    ['SET', 'k', 'Hello, World'],
    ['SUBSTR', 'k', '0', '4'],
    ['SUBSTR', 'k', '-5', '-1'],
    ['SUBSTR', 'k', '5', '2'],
    ['SUBSTR', 'k', '0', '100'],
    ['SUBSTR', 'k', '-100', '-50'],
    ['SUBSTR', 'k', '-1', '-5'],
    ['SUBSTR', 'k', 'a', '1'],
    ['SUBSTR', 'k', '0', '9223372036854775808'],
    ['SUBSTR', 'k', '-9223372036854775808', '9223372036854775807'],
    ['SUBSTR', 'missing', '0', '-1'],
    ['SUBSTR', 'missing', 'x', '-1'],
    ['SET', 'e', ''],
    ['SUBSTR', 'e', '0', '-1'],
    ['substr', 'k', '3', '3'],
  ],
  arity: [['LCS', 'a'], ['SUBSTR', 'k', '0'], ['SUBSTR', 'k', '0', '1', '2']],
};

describe('differential: LCS and SUBSTR against redis-server 7.0', () => {
  for (const [name, commands] of Object.entries(scripts)) {
    test(name, async () => {
      expect(await differential().script(commands)).toEqual([]);
    });
  }

  test('LCS IDX answers a map in RESP3', async () => {
    const resp3 = await Differential.resp3(await redis.connect());
    expect(await resp3.script(scripts.LCS!)).toEqual([]);
  });
});

// ------------------------------------------------------------------ generated

/** Strings over a small alphabet, so that they share long subsequences and tie often. */
const text = fc.stringMatching(/^[abc]{0,24}$/);
const option = fc.oneof(
  fc.constantFrom<Word[]>(['LEN'], ['IDX'], ['WITHMATCHLEN'], ['idx'], ['BAD'], ['MINMATCHLEN']),
  fc.integer({ min: -1, max: 6 }).map((n): Word[] => ['MINMATCHLEN', String(n)]),
);

const RUNS = Number(process.env.QKV_DIFFERENTIAL_RUNS ?? 150);

test('differential: LCS of generated strings and options matches redis-server 7.0 byte for byte', async () => {
  await fc.assert(
    fc.asyncProperty(text, text, fc.array(fc.array(option, { maxLength: 4 }), { minLength: 1, maxLength: 4 }), async (a, b, optionSets) => {
      const commands: Word[][] = [['MSET', 'a', a, 'b', b]];
      for (const options of optionSets) commands.push(['LCS', 'a', 'b', ...options.flat()], ['LCS', 'b', 'a', ...options.flat()]);
      commands.push(['SUBSTR', 'a', String(a.length >> 1), '-2']);
      expect(await differential().script(commands)).toEqual([]);
    }),
    { seed, numRuns: RUNS * 2 },
  );
});
