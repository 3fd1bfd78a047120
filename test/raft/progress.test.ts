/**
 * Progress and ProgressTracker (src/raft/progress.ts): how the leader replicates to each member,
 * in the manner of etcd-io/raft's tracker/progress_test.go.
 */
import { describe, expect, it } from 'vitest';
import { Progress, ProgressState, ProgressTracker } from '../../src/raft/progress.js';
import { VoteResult } from '../../src/raft/quorum.js';

function progress(init: Partial<Pick<Progress, 'matchIndex' | 'nextIndex' | 'state' | 'pendingSnapshot' | 'probeSent'>> = {}, maxInflight = 256): Progress {
  const pr = new Progress(init.nextIndex ?? 1, maxInflight, 0, false);
  Object.assign(pr, init);
  return pr;
}

/** The fields a transition changes. */
function fields(pr: Progress): { state: ProgressState; match: number; next: number; pendingSnapshot: number; probeSent: boolean; inflight: number } {
  return { state: pr.state, match: pr.matchIndex, next: pr.nextIndex, pendingSnapshot: pr.pendingSnapshot, probeSent: pr.probeSent, inflight: pr.inflights.count };
}

describe('Progress.isPaused', () => {
  it('Probe pauses while a probe is unanswered', () => {
    expect(progress({ state: ProgressState.Probe, probeSent: false }).isPaused()).toBe(false);
    expect(progress({ state: ProgressState.Probe, probeSent: true }).isPaused()).toBe(true);
  });

  it('Replicate pauses when the in-flight window is full, whatever probeSent says', () => {
    const pr = progress({ state: ProgressState.Replicate, probeSent: true }, 2);
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(1, 1, 10);
    pr.sentEntries(1, 2, 10);
    expect(pr.isPaused()).toBe(true);
    pr.inflights.freeLE(1);
    expect(pr.isPaused()).toBe(false);
  });

  it('Snapshot always pauses', () => {
    expect(progress({ state: ProgressState.Snapshot, probeSent: false }).isPaused()).toBe(true);
    expect(progress({ state: ProgressState.Snapshot, probeSent: true }).isPaused()).toBe(true);
  });

  it('an answer resumes probing: maybeDecrTo and maybeUpdate clear probeSent', () => {
    const pr = progress({ nextIndex: 2, probeSent: true });
    expect(pr.maybeDecrTo(1, 1)).toBe(true);
    expect(pr.probeSent).toBe(false);
    pr.probeSent = true;
    expect(pr.maybeUpdate(2)).toBe(true);
    expect(pr.probeSent).toBe(false);
  });
});

describe('Progress state transitions', () => {
  // [from, match, next, pendingSnapshot, want next after becomeProbe]
  const toProbe: Array<[ProgressState, number, number, number, number]> = [
    [ProgressState.Replicate, 1, 5, 0, 2], // back to right after what is known to match
    [ProgressState.Snapshot, 1, 5, 10, 11], // right after the snapshot being sent
    [ProgressState.Snapshot, 1, 5, 0, 2], // the snapshot failed (pendingSnapshot cleared)
    [ProgressState.Snapshot, 20, 21, 10, 21], // the follower is already past the snapshot
    [ProgressState.Probe, 3, 9, 0, 4],
  ];
  it.each(toProbe)('becomeProbe from %s (match %i, next %i, pending %i) -> next %i', (state, match, next, pending, wantNext) => {
    const pr = progress({ state, matchIndex: match, nextIndex: next, pendingSnapshot: pending, probeSent: true });
    pr.inflights.add(next - 1, 10);
    pr.becomeProbe();
    expect(fields(pr)).toEqual({ state: ProgressState.Probe, match, next: wantNext, pendingSnapshot: 0, probeSent: false, inflight: 0 });
  });

  it('becomeReplicate sends from right after the match, with an empty window', () => {
    const pr = progress({ state: ProgressState.Probe, matchIndex: 1, nextIndex: 5, probeSent: true });
    pr.becomeReplicate();
    expect(fields(pr)).toEqual({ state: ProgressState.Replicate, match: 1, next: 2, pendingSnapshot: 0, probeSent: false, inflight: 0 });
  });

  it('becomeSnapshot records the snapshot and drops the window', () => {
    const pr = progress({ state: ProgressState.Replicate, matchIndex: 1, nextIndex: 5 });
    pr.sentEntries(3, 7, 30);
    pr.becomeSnapshot(10);
    expect(fields(pr)).toMatchObject({ state: ProgressState.Snapshot, match: 1, pendingSnapshot: 10, probeSent: false, inflight: 0 });
  });
});

describe('Progress.maybeUpdate (an acknowledgement)', () => {
  // Starting from match 3, next 5: [acked index, updated, want match, want next]
  const cases: Array<[number, boolean, number, number]> = [
    [2, false, 3, 5], // older than match: stale
    [3, false, 3, 5], // the same: nothing new
    [4, true, 4, 5], // newer than match, below next: next stays
    [5, true, 5, 6], // next moves past it
    [6, true, 6, 7],
  ];
  it.each(cases)('ack of %i -> updated %s, match %i, next %i', (index, updated, wantMatch, wantNext) => {
    const pr = progress({ matchIndex: 3, nextIndex: 5 });
    expect(pr.maybeUpdate(index)).toBe(updated);
    expect([pr.matchIndex, pr.nextIndex]).toEqual([wantMatch, wantNext]);
  });
});

describe('Progress.maybeDecrTo (a rejection)', () => {
  // [state, match, next, rejected, hint, decreased, want next]
  const cases: Array<[string, ProgressState, number, number, number, number, boolean, number]> = [
    ['Replicate: rejection of what already matched is stale', ProgressState.Replicate, 5, 10, 5, 5, false, 10],
    ['Replicate: rejection below match is stale', ProgressState.Replicate, 5, 10, 4, 4, false, 10],
    ['Replicate: back to right after match', ProgressState.Replicate, 5, 10, 9, 9, true, 6],
    ['Probe: only the rejection of the probe in flight counts', ProgressState.Probe, 0, 0, 0, 0, false, 0],
    ['Probe: the rejection of an earlier probe is stale', ProgressState.Probe, 0, 10, 5, 5, false, 10],
    ['Probe: one back', ProgressState.Probe, 0, 10, 9, 9, true, 9],
    ['Probe: next 2 rejected at 1', ProgressState.Probe, 0, 2, 1, 1, true, 1],
    ['Probe: the hint jumps back', ProgressState.Probe, 0, 10, 9, 2, true, 3],
    ['Probe: the hint never goes below match + 1', ProgressState.Probe, 5, 10, 9, 2, true, 6],
    ['Probe: a hint past the rejected index is not trusted', ProgressState.Probe, 0, 10, 9, 20, true, 9],
    ['Snapshot is probed like Probe', ProgressState.Snapshot, 0, 10, 9, 3, true, 4],
  ];
  it.each(cases)('%s', (_, state, match, next, rejected, hint, decreased, wantNext) => {
    const pr = progress({ state, matchIndex: match, nextIndex: next, probeSent: true });
    expect(pr.maybeDecrTo(rejected, hint)).toBe(decreased);
    expect(pr.nextIndex).toBe(wantNext);
    expect(pr.matchIndex).toBe(match);
    // A probe that got its answer may be followed by the next one.
    if (decreased && state !== ProgressState.Replicate) expect(pr.probeSent).toBe(false);
  });
});

describe('Progress.sentEntries', () => {
  it('Replicate moves next past what was sent and fills the window', () => {
    const pr = progress({ state: ProgressState.Replicate, matchIndex: 4, nextIndex: 5 });
    pr.sentEntries(3, 7, 30);
    expect([pr.nextIndex, pr.inflights.count, pr.inflights.totalBytes]).toEqual([8, 1, 30]);
    pr.sentEntries(0, 7, 0); // an empty MsgApp (heartbeat-like) takes no slot
    expect([pr.nextIndex, pr.inflights.count]).toEqual([8, 1]);
  });

  it('Probe pauses after sending entries, not after an empty probe; next does not move', () => {
    const pr = progress({ state: ProgressState.Probe, matchIndex: 4, nextIndex: 5 });
    pr.sentEntries(0, 4, 0);
    expect([pr.probeSent, pr.nextIndex]).toEqual([false, 5]);
    pr.sentEntries(2, 6, 20);
    expect([pr.probeSent, pr.nextIndex, pr.inflights.count]).toEqual([true, 5, 0]);
  });

  it('a follower goes Probe -> Replicate -> Probe -> Snapshot -> Probe -> Replicate', () => {
    const pr = progress({ nextIndex: 11 });
    pr.sentEntries(1, 11, 10);
    expect(pr.isPaused()).toBe(true);
    // It rejects the probe at 10 with a hint of 6: the leader probes at 7.
    expect(pr.maybeDecrTo(10, 6)).toBe(true);
    expect(pr.nextIndex).toBe(7);
    // It accepts up to 12: the logs match, pipelining starts.
    expect(pr.maybeUpdate(12)).toBe(true);
    pr.becomeReplicate();
    expect(fields(pr)).toMatchObject({ state: ProgressState.Replicate, match: 12, next: 13 });
    pr.sentEntries(3, 15, 30);
    // A rejection above match (say its log was truncated on a restart): probe again.
    expect(pr.maybeDecrTo(14, 12)).toBe(true);
    pr.becomeProbe();
    expect(fields(pr)).toMatchObject({ state: ProgressState.Probe, match: 12, next: 13, inflight: 0 });
    // The entries it needs are compacted: a snapshot at 20 goes out.
    pr.becomeSnapshot(20);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(fields(pr)).toMatchObject({ state: ProgressState.Probe, next: 21, pendingSnapshot: 0 });
    expect(pr.maybeUpdate(20)).toBe(true);
    pr.becomeReplicate();
    expect(fields(pr)).toMatchObject({ state: ProgressState.Replicate, match: 20, next: 21 });
  });
});

describe('ProgressTracker', () => {
  function tracker(voters: string[], learners: string[] = []): ProgressTracker {
    const t = new ProgressTracker(256, 0);
    t.applyConfState({ voters, learners }, 1);
    return t;
  }

  it('commits what a majority of voters hold; learners never count', () => {
    const t = tracker(['n1', 'n2', 'n3'], ['n4', 'n5']);
    const match = { n1: 9, n2: 5, n3: 3, n4: 100, n5: 100 };
    for (const [id, index] of Object.entries(match)) t.progress.get(id)!.matchIndex = index;
    expect(t.committed()).toBe(5);
    t.progress.get('n2')!.matchIndex = 2;
    expect(t.committed()).toBe(3);
  });

  it('sorts the configuration and keeps progress of members that stay', () => {
    const t = tracker(['n3', 'n1', 'n2']);
    expect(t.confState()).toEqual({ voters: ['n1', 'n2', 'n3'], learners: [] });
    t.progress.get('n2')!.matchIndex = 7;
    t.applyConfState({ voters: ['n1', 'n3'], learners: ['n4', 'n2'] }, 10);
    expect(t.confState()).toEqual({ voters: ['n1', 'n3'], learners: ['n2', 'n4'] });
    expect(t.progress.get('n2')!.matchIndex).toBe(7);
    expect(t.progress.get('n2')!.isLearner).toBe(true);
    // A new member starts at the given next index and counts as recently active.
    expect(t.progress.get('n4')!.nextIndex).toBe(10);
    expect(t.progress.get('n4')!.recentActive).toBe(true);
    t.applyConfState({ voters: ['n1', 'n3'], learners: [] }, 10);
    expect([...t.progress.keys()].sort()).toEqual(['n1', 'n3']);
    expect(t.isMember('n2')).toBe(false);
    expect(t.isVoter('n3')).toBe(true);
  });

  it('resetProgress starts everyone over at one next index, keeping who is a learner', () => {
    const t = tracker(['n1', 'n2'], ['n3']);
    t.progress.get('n2')!.matchIndex = 5;
    t.resetProgress(8);
    for (const [id, pr] of t.progress) {
      expect([pr.matchIndex, pr.nextIndex, pr.state, pr.isLearner]).toEqual([0, 8, ProgressState.Probe, id === 'n3']);
    }
  });

  // [voters, active others (self is n1), quorum active]
  const quorum: Array<[string[], string[], boolean]> = [
    [['n1'], [], true],
    [['n1', 'n2', 'n3'], [], false],
    [['n1', 'n2', 'n3'], ['n2'], true],
    [['n1', 'n2', 'n3', 'n4'], ['n2'], false], // 2 of 4 is no majority
    [['n1', 'n2', 'n3', 'n4'], ['n2', 'n4'], true],
    [['n2', 'n3', 'n4'], ['n2'], false], // a leader outside the voters does not count itself
  ];
  it.each(quorum)('quorumActive: voters %j, heard from %j -> %s', (voters, active, want) => {
    const t = tracker(voters, ['n9']);
    for (const [id, pr] of t.progress) pr.recentActive = active.includes(id) || id === 'n9';
    expect(t.quorumActive('n1')).toBe(want);
  });

  it('records the first vote of each voter and tallies only voters', () => {
    const t = tracker(['n1', 'n2', 'n3'], ['n4']);
    t.recordVote('n1', true);
    t.recordVote('n4', true);
    expect(t.tallyVotes()).toBe(VoteResult.Pending);
    t.recordVote('n2', false);
    t.recordVote('n2', true); // a second answer from n2 changes nothing
    expect(t.tallyVotes()).toBe(VoteResult.Pending);
    t.recordVote('n3', false);
    expect(t.tallyVotes()).toBe(VoteResult.Lost);
    t.resetVotes();
    t.recordVote('n1', true);
    t.recordVote('n3', true);
    expect(t.tallyVotes()).toBe(VoteResult.Won);
  });
});
