/**
 * Majority arithmetic over a set of voters. Learners never appear here.
 */

export const VoteResult = { Pending: 'pending', Lost: 'lost', Won: 'won' } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of voters have acknowledged (Raft paper §5.3: "a majority
 * of matchIndex[i] ≥ N"). An empty voter set commits nothing.
 */
export function committedIndex(voters: readonly string[], matchOf: (id: string) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  const matches = new Array<number>(n);
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i]);
  matches.sort((a, b) => b - a);
  return matches[majority(n) - 1];
}

/** Tally of an election given the votes received so far (missing voters have not answered). */
export function voteResult(voters: readonly string[], votes: ReadonlyMap<string, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = majority(voters.length);
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
