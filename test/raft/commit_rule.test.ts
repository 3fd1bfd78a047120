/**
 * Raft paper §5.4.2 (Figure 8): a leader commits by counting replicas only entries of its own
 * term. An entry of an earlier term on a majority may still be overwritten by a later leader, so
 * it commits only indirectly, when an entry of the current term after it commits.
 *
 * The scenario test (scenarios/testdata/figure8.txt) shows the whole history; this drives one
 * leader straight to the condition and watches its commit index.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage, MessageType, RawNode, StateType, defaultRaftConfig, makeMessage } from '../../src/raft/index.js';
import type { Entry } from '../../src/raft/index.js';
import { committedIndex } from '../../src/raft/quorum.js';
import { RaftLog } from '../../src/raft/raft_log.js';
import { SeededRandom } from '../../src/util/random.js';

const voters = ['n1', 'n2', 'n3', 'n4', 'n5'];
const enc = new TextEncoder();

function entry(term: number, index: number, data = ''): Entry {
  return { term, index, type: 0, data: enc.encode(data) };
}

/**
 * n1 with the log of Figure 8 (c), shifted by the 5-entry bootstrap: a snapshot at 1/5 holding
 * the membership, the committed no-op 2/6, and 2/7:x, written in term 2 and never committed.
 * n1 restarted in term 3 and now wins term 4.
 */
function leaderAtFigure8(): RawNode {
  const storage = new MemoryStorage();
  storage.applySnapshot({ metadata: { index: 5, term: 1, confState: { voters, learners: [] } }, data: new Uint8Array(0) });
  storage.append([entry(2, 6), entry(2, 7, 'x')]);
  storage.setHardState({ term: 3, vote: '', commit: 6 });
  const node = new RawNode(
    { ...defaultRaftConfig, id: 'n1', preVote: false, checkQuorum: false, applied: 6, random: new SeededRandom(1) },
    storage,
  );
  node.campaign();
  persist(node, storage);
  for (const from of ['n2', 'n3']) node.step(makeMessage({ type: MessageType.MsgVoteResp, from, to: 'n1', term: 4 }));
  expect(node.softState().state).toBe(StateType.Leader);
  expect(node.term()).toBe(4);
  // The leader's own no-op 4/8 is durable, so n1 counts itself at index 8.
  persist(node, storage);
  expect(node.basicStatus().lastIndex).toBe(8);
  expect(node.logTerm(8)).toBe(4);
  return node;
}

function persist(node: RawNode, storage: MemoryStorage): void {
  while (node.hasReady()) {
    const rd = node.ready();
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    node.advance(rd);
  }
}

function commitIndex(node: RawNode): number {
  return node.basicStatus().hardState.commit;
}

function ack(node: RawNode, from: string, index: number): void {
  node.step(makeMessage({ type: MessageType.MsgAppResp, from, to: 'n1', term: 4, index }));
}

describe('§5.4.2: only entries of the current term commit by counting replicas', () => {
  it('an earlier-term entry on a majority does not commit', () => {
    const node = leaderAtFigure8();
    ack(node, 'n2', 7);
    ack(node, 'n3', 7);
    // 2/7 is now known to be on n1, n2 and n3: three of five.
    const { progress } = node.status();
    const matches = voters.map((id) => progress.get(id)!.matchIndex);
    expect(matches).toEqual([8, 7, 7, 0, 0]);
    expect(committedIndex(voters, (id) => progress.get(id)!.matchIndex)).toBe(7);
    expect(commitIndex(node)).toBe(6);
    // Even all five holding it does not commit it.
    ack(node, 'n4', 7);
    ack(node, 'n5', 7);
    expect(commitIndex(node)).toBe(6);
  });

  it('it commits with the first entry of the current term that reaches a majority', () => {
    const node = leaderAtFigure8();
    ack(node, 'n2', 7);
    ack(node, 'n3', 7);
    ack(node, 'n2', 8);
    // 4/8 is on n1 and n2 only: not yet.
    expect(commitIndex(node)).toBe(6);
    ack(node, 'n3', 8);
    expect(commitIndex(node)).toBe(8);
  });

  it('RaftLog.maybeCommit refuses an index whose entry is of another term', () => {
    const storage = new MemoryStorage();
    storage.append([entry(1, 1), entry(2, 2), entry(4, 3)]);
    const log = new RaftLog(storage, Number.POSITIVE_INFINITY);
    expect(log.maybeCommit(2, 4)).toBe(false);
    expect(log.committed).toBe(0);
    expect(log.maybeCommit(3, 4)).toBe(true);
    expect(log.committed).toBe(3);
  });
});
