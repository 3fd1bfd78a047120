/**
 * Majority arithmetic (src/raft/quorum.ts), in the manner of etcd-io/raft's quorum tests: the
 * committed index of a majority configuration (odd and even sizes, unknown indexes) and election
 * results, each also checked against a dumb reference on random inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VoteResult, committedIndex, majority, voteResult } from '../../src/raft/quorum.js';
import { propertySeed } from '../support/seed.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

describe('majority', () => {
  const cases: Array<[number, number]> = [
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [6, 4],
    [7, 4],
  ];
  it.each(cases)('of %i voters is %i', (n, want) => {
    expect(majority(n)).toBe(want);
  });
});

describe('committedIndex', () => {
  // [acknowledged index per voter (undefined: not known, counts as 0), committed]
  const cases: Array<[string, Array<number | undefined>, number]> = [
    ['no voters commit nothing', [], 0],
    ['one voter, unknown', [undefined], 0],
    ['one voter', [12], 12],
    ['two voters need both', [12, undefined], 0],
    ['two voters: the smaller', [12, 5], 5],
    ['three, one known', [12, undefined, undefined], 0],
    ['three, two known: the smaller of the two', [12, 5, undefined], 5],
    ['three: the median', [12, 5, 4], 5],
    ['three, two at the same index', [5, 5, 4], 5],
    ['three, order does not matter', [4, 12, 5], 5],
    ['four need three: the second smallest', [12, 11, 5, 4], 5],
    ['four, one unknown', [12, 11, undefined, 4], 4],
    ['four, two high', [100, 100, 1, 1], 1],
    ['five need three', [9, 8, 7, 2, 1], 7],
    ['five, two unknown', [9, 8, 7, undefined, undefined], 7],
    ['six need four', [6, 5, 4, 3, 2, 1], 3],
    ['seven need four', [7, 6, 5, 4, 3, 2, 1], 4],
  ];
  it.each(cases)('%s: %j -> %i', (_, acked, want) => {
    const voters = ids(acked.length);
    const matchOf = (id: string): number => acked[voters.indexOf(id)] ?? 0;
    expect(committedIndex(voters, matchOf)).toBe(want);
  });

  it('asks only about voters', () => {
    const asked: string[] = [];
    committedIndex(['n1', 'n2', 'n3'], (id) => {
      asked.push(id);
      return 1;
    });
    expect(asked.sort()).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('voteResult', () => {
  // [votes per voter (y, n, or _ for no answer yet), result]
  const cases: Array<[string, string, VoteResult]> = [
    ['no voters: won', '', VoteResult.Won],
    ['one voter, no answer', '_', VoteResult.Pending],
    ['one voter, yes', 'y', VoteResult.Won],
    ['one voter, no', 'n', VoteResult.Lost],
    ['two, nothing yet', '__', VoteResult.Pending],
    ['two, one yes', 'y_', VoteResult.Pending],
    ['two, one no', 'n_', VoteResult.Lost],
    ['two, both yes', 'yy', VoteResult.Won],
    ['two, split', 'yn', VoteResult.Lost],
    ['three, one yes', 'y__', VoteResult.Pending],
    ['three, two yes', 'yy_', VoteResult.Won],
    ['three, split with one missing', 'yn_', VoteResult.Pending],
    ['three, two no', 'nn_', VoteResult.Lost],
    ['four, two yes two missing', 'yy__', VoteResult.Pending],
    ['four, two yes one no', 'yyn_', VoteResult.Pending],
    ['four, split evenly', 'yynn', VoteResult.Lost],
    ['four, three yes', 'yyy_', VoteResult.Won],
    ['five, three no', 'yynnn', VoteResult.Lost],
    ['five, three yes', 'nnyyy', VoteResult.Won],
  ];
  it.each(cases)('%s (%s)', (_, pattern, want) => {
    const voters = ids(pattern.length);
    const votes = new Map<string, boolean>();
    [...pattern].forEach((v, i) => {
      if (v !== '_') votes.set(voters[i], v === 'y');
    });
    expect(voteResult(voters, votes)).toBe(want);
  });

  it('ignores votes of non-voters', () => {
    const votes = new Map([
      ['n1', true],
      ['n9', true],
      ['n8', true],
    ]);
    expect(voteResult(['n1', 'n2', 'n3'], votes)).toBe(VoteResult.Pending);
  });
});

describe('against dumb references (property)', () => {
  /** The largest index that at least a majority acknowledged, by trying every candidate. */
  function dumbCommitted(acked: readonly number[]): number {
    if (acked.length === 0) return 0;
    let best = 0;
    for (const candidate of acked) {
      const holders = acked.filter((a) => a >= candidate).length;
      if (holders * 2 > acked.length && candidate > best) best = candidate;
    }
    return best;
  }

  it('committedIndex equals the largest index more than half of the voters hold', () => {
    const { seed, numRuns } = propertySeed('quorum committedIndex', 2000);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 9 }), (acked) => {
        const voters = ids(acked.length);
        expect(committedIndex(voters, (id) => acked[voters.indexOf(id)]!)).toBe(dumbCommitted(acked));
      }),
      { seed, numRuns },
    );
  });

  /** Won when every way the missing voters could answer wins, lost when none does. */
  function dumbVote(answers: ReadonlyArray<boolean | undefined>): VoteResult {
    const missing = answers.filter((a) => a === undefined).length;
    let wins = 0;
    for (let mask = 0; mask < 1 << missing; mask++) {
      let bit = 0;
      const yes = answers.filter((a) => (a === undefined ? (mask >> bit++) & 1 : a)).length;
      if (yes * 2 > answers.length) wins++;
    }
    if (answers.length === 0 || wins === 1 << missing) return VoteResult.Won;
    return wins === 0 ? VoteResult.Lost : VoteResult.Pending;
  }

  it('voteResult agrees with trying every way the missing votes could go', () => {
    const { seed, numRuns } = propertySeed('quorum voteResult', 2000);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(true, false, undefined), { maxLength: 9 }), (answers) => {
        const voters = ids(answers.length);
        const votes = new Map<string, boolean>();
        answers.forEach((a, i) => {
          if (a !== undefined) votes.set(voters[i]!, a);
        });
        expect(voteResult(voters, votes)).toBe(dumbVote(answers));
      }),
      { seed, numRuns },
    );
  });
});
