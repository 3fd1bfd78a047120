import { describe, expect, it } from 'vitest';
import type { GroupStatus, NodeStatus } from '../../src/admin/status.js';
import { RemovedReplicaCheck, removedFromGroup, type ReplicaView } from '../../src/node/removed_replica_check.js';

const groupOf = (appliedIndex: number, members: string[]): GroupStatus => ({
  groupId: 'g1',
  role: 'follower',
  leaderId: 'n2',
  term: 3,
  commitIndex: appliedIndex,
  appliedIndex,
  members: members.map((nodeId) => ({ nodeId, role: 'voter' })),
});

const nodeStatus = (nodeId: string, group: GroupStatus | null): NodeStatus => ({ nodeId, addresses: {}, groups: group ? [group] : [] });

/** A check on n1 with a hand-driven clock; `peers` answers the status calls. */
function harness(peers: Record<string, NodeStatus | null>) {
  let now = 0;
  const asked: string[] = [];
  const removed: string[] = [];
  const check = new RemovedReplicaCheck({
    selfId: 'n1',
    askStatus: async (id) => {
      asked.push(id);
      return peers[id] ?? null;
    },
    clock: () => now,
    patienceMs: 5_000,
    onRemoved: (groupId, by) => removed.push(`${groupId} by ${by}`),
  });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return {
    asked,
    removed,
    at: async (ms: number, views: ReplicaView[]) => {
      now = ms;
      check.round(views);
      await settle();
    },
  };
}

const zombie: ReplicaView = { groupId: 'g1', appliedIndex: 40, members: ['n1', 'n2', 'n3'] };

describe('removedFromGroup', () => {
  it('is true only for a status applied at least as far that no longer lists the node', () => {
    expect(removedFromGroup('n1', 40, groupOf(41, ['n2', 'n3', 'n4']))).toBe(true);
    expect(removedFromGroup('n1', 40, groupOf(40, ['n2', 'n3', 'n4']))).toBe(true);
    // A peer behind this replica may not have applied the change that added it yet.
    expect(removedFromGroup('n1', 40, groupOf(39, ['n2', 'n3']))).toBe(false);
    expect(removedFromGroup('n1', 40, groupOf(90, ['n1', 'n2', 'n3']))).toBe(false);
  });
});

describe('RemovedReplicaCheck', () => {
  it('asks the members once a replica has been leaderless for its patience, and reports the removal', async () => {
    const h = harness({ n2: nodeStatus('n2', groupOf(45, ['n2', 'n3', 'n4'])) });
    await h.at(0, [zombie]);
    await h.at(4_900, [zombie]);
    expect(h.asked).toEqual([]);
    await h.at(5_000, [zombie]);
    expect(h.asked).toEqual(['n2']);
    expect(h.removed).toEqual(['g1 by n2']);
  });

  it('keeps a replica that a member still lists, or whose members are behind it or silent, and asks again only after its patience', async () => {
    const h = harness({ n2: nodeStatus('n2', groupOf(30, ['n2', 'n3'])), n3: nodeStatus('n3', groupOf(50, ['n1', 'n2', 'n3'])) });
    await h.at(0, [zombie]);
    await h.at(5_000, [zombie]);
    expect(h.asked).toEqual(['n2', 'n3']);
    await h.at(7_000, [zombie]);
    expect(h.asked).toEqual(['n2', 'n3']);
    await h.at(10_000, [zombie]);
    expect(h.asked).toEqual(['n2', 'n3', 'n2', 'n3']);
    expect(h.removed).toEqual([]);
  });

  it('starts its watch over when the group has a leader again, and never judges a replica outside its own configuration', async () => {
    const h = harness({ n2: nodeStatus('n2', groupOf(45, ['n2', 'n3'])) });
    await h.at(0, [zombie]);
    await h.at(4_000, []); // a leader came back
    await h.at(6_000, [zombie]);
    expect(h.asked).toEqual([]);
    await h.at(11_000, [zombie]);
    expect(h.removed).toEqual(['g1 by n2']);

    const joiner = harness({ n2: nodeStatus('n2', groupOf(45, ['n2', 'n3'])) });
    const empty: ReplicaView = { groupId: 'g1', appliedIndex: 0, members: [] };
    await joiner.at(0, [empty]);
    await joiner.at(60_000, [empty]);
    expect(joiner.asked).toEqual([]);
  });

  it('asks at once about a replica that the meta group record no longer names a voter', async () => {
    const h = harness({ n2: nodeStatus('n2', groupOf(45, ['n2', 'n3', 'n4'])) });
    await h.at(0, [{ ...zombie, notInRecord: true }]);
    expect(h.removed).toEqual(['g1 by n2']);
  });
});
