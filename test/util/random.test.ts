/** The seeded helpers the fault harness schedules with: same seed, same choices; shuffles are permutations. */
import { describe, expect, it } from 'vitest';
import { SeededRandom, pick, shuffle } from '../../src/util/random.js';

describe('seeded pick and shuffle', () => {
  it('shuffle returns a permutation, the same one for the same seed, and leaves its input alone', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const a = shuffle(new SeededRandom(7), items);
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(shuffle(new SeededRandom(7), items)).toEqual(a);
    expect(a).not.toEqual(items);
    expect(items).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('pick reaches every item', () => {
    const rng = new SeededRandom(3);
    const seen = new Set(Array.from({ length: 200 }, () => pick(rng, ['a', 'b', 'c', 'd'])));
    expect([...seen].sort()).toEqual(['a', 'b', 'c', 'd']);
  });
});
