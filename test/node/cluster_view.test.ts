/**
 * The cluster as Redis Cluster clients are shown it (ClusterTopology): who is the master of each
 * group's slots (the leader, else the last leader, the preferred leader, a voter: the first with a
 * RESP address), where a command for a key goes (-MOVED to the leader, served here), and what
 * CLUSTER NODES / SLOTS / SHARDS / INFO are built from. The same rule must give the replies and
 * the redirects, so that a client that follows one finds the other agreeing.
 */
import { describe, expect, it } from 'vitest';
import { initialLayout } from '../../src/cluster/layout.js';
import { RoutingTable, type GroupRecord, type NodeRecord } from '../../src/cluster/meta_records.js';
import { clusterNodeId, splitAddress } from '../../src/cluster/node_ids.js';
import { ClusterTopology, mergeRanges, type GroupFacts } from '../../src/node/cluster_view.js';

const layout = initialLayout(['n1', 'n2', 'n3'], 3, 3);
const registered = (id: string, n: number): NodeRecord => ({ id, grpc: `127.0.0.1:${7000 + n}`, resp: `127.0.0.1:${6000 + n}` });

function routing(nodes: NodeRecord[] = [registered('n1', 1), registered('n2', 2), registered('n3', 3)]): RoutingTable {
  return RoutingTable.of(layout.data, nodes);
}

/** What n1 knows when it hosts every group, with `leaders` (group → leader now; '' in an election). */
function facts(leaders: Record<string, string>, last: Record<string, string> = {}, hosted = true): (g: GroupRecord) => GroupFacts {
  return (g) => ({
    hosted,
    leader: hosted ? (leaders[g.id] ?? '') : '',
    lastLeader: hosted ? (last[g.id] ?? '') : '',
    voters: g.voters,
    term: hosted ? Number(g.id.slice(1)) + 4 : 0,
    appliedIndex: hosted ? 100 : 0,
  });
}

const self = { id: 'n1', host: '127.0.0.1', respPort: 6001, grpcPort: 7001 };
const g = (id: string): GroupRecord => layout.data.find((d) => d.id === id)!;

describe('node ids', () => {
  it('are 40 hex characters, the SHA-1 of the quorumkv id: stable, and distinct for distinct ids', () => {
    expect(clusterNodeId('n1')).toMatch(/^[0-9a-f]{40}$/);
    // sha1("n1"), as `printf n1 | sha1sum` computes it.
    expect(clusterNodeId('n1')).toBe('40b3eab63f3f1d4fa48e09559401c5ed4efceaa6');
    expect(clusterNodeId('n1')).not.toBe(clusterNodeId('n2'));
    expect(clusterNodeId('n1')).toBe(clusterNodeId('n1'));
  });

  it('splits addresses at the last colon', () => {
    expect(splitAddress('127.0.0.1:6379')).toEqual({ host: '127.0.0.1', port: 6379 });
    expect(splitAddress('::1:6379')).toEqual({ host: '::1', port: 6379 });
    expect(splitAddress('')).toBeNull();
    expect(splitAddress('host:0')).toBeNull();
  });
});

describe('the master of a group', () => {
  it('is its leader; while none is known, its last leader; else its preferred leader', () => {
    const t = new ClusterTopology(self, routing(), facts({ g1: 'n2', g2: '', g3: '' }, { g2: 'n3' }));
    expect(t.masterOf(g('g1'))).toBe('n2');
    expect(t.masterOf(g('g2'))).toBe('n3');
    expect(t.masterOf(g('g3'))).toBe('n3');
  });

  it('is never a node without a RESP address: the next voter stands in', () => {
    const t = new ClusterTopology(self, routing([registered('n1', 1), { id: 'n2', grpc: '127.0.0.1:7002', resp: '' }, registered('n3', 3)]), facts({ g2: 'n2' }));
    expect(t.masterOf(g('g2'))).toBe('n1');
    // Nobody with an address at all: no master (the slots are not served, as far as clients can tell).
    const none = new ClusterTopology({ ...self, id: 'n9' }, routing([]), facts({ g2: 'n2' }));
    expect(none.masterOf(g('g2'))).toBe('');
  });
});

describe('routing a key in cluster mode', () => {
  it('serves a group this node leads, and redirects one another node leads to that leader', () => {
    const t = new ClusterTopology(self, routing(), facts({ g1: 'n1', g2: 'n2', g3: 'n3' }));
    expect(t.route(g('g1'), false)).toEqual({ kind: 'local' });
    expect(t.route(g('g2'), false)).toEqual({ kind: 'moved', host: '127.0.0.1', port: 6002 });
    expect(t.route(g('g3'), false)).toEqual({ kind: 'moved', host: '127.0.0.1', port: 6003 });
  });

  it("serves a READONLY connection's read of a group it follows, here", () => {
    const t = new ClusterTopology(self, routing(), facts({ g2: 'n2' }));
    expect(t.route(g('g2'), true)).toEqual({ kind: 'local' });
    // Not where it hosts no replica: there is nothing here to read.
    const away = new ClusterTopology(self, routing(), facts({}, {}, false));
    expect(away.route(g('g2'), true)).toEqual({ kind: 'moved', host: '127.0.0.1', port: 6002 });
  });

  it('waits here for an election rather than redirect to a guess, when it has a replica', () => {
    const t = new ClusterTopology(self, routing(), facts({ g2: '' }, { g2: 'n2' }));
    expect(t.route(g('g2'), false)).toEqual({ kind: 'local' });
  });

  it('serves a group whose leader has no address by forwarding, when it has a replica', () => {
    const t = new ClusterTopology(self, routing([registered('n1', 1), { id: 'n2', grpc: '127.0.0.1:7002', resp: '' }]), facts({ g2: 'n2' }));
    expect(t.route(g('g2'), false)).toEqual({ kind: 'local' });
  });

  it('redirects to the preferred leader where it hosts no replica (that node knows the leader), and answers down when nobody can be named', () => {
    const away = new ClusterTopology(self, routing(), facts({}, {}, false));
    expect(away.route(g('g3'), false)).toEqual({ kind: 'moved', host: '127.0.0.1', port: 6003 });
    const nobody = new ClusterTopology(self, routing([registered('n1', 1)]), facts({}, {}, false));
    expect(nobody.route(g('g3'), false)).toEqual({ kind: 'down' });
  });
});

describe('the view', () => {
  it('lists every node, each master with the slots of the groups it leads, and one shard per group', () => {
    const view = new ClusterTopology(self, routing(), facts({ g1: 'n1', g2: 'n1', g3: 'n3' })).view();
    expect(view.myself).toMatchObject({ id: clusterNodeId('n1'), host: '127.0.0.1', port: 6001, busPort: 7001, myself: true });
    expect(view.nodes.map((n) => [n.id, n.port, n.busPort, n.slots, n.epoch])).toEqual([
      // g1 and g2 are adjacent: one range, as Redis prints one node's slots.
      [clusterNodeId('n1'), 6001, 7001, [[0, 10922]], 6],
      [clusterNodeId('n2'), 6002, 7002, [], 0],
      [clusterNodeId('n3'), 6003, 7003, [[10923, 16383]], 7],
    ]);
    expect(view.shards.map((s) => [s.slots, s.master.port, s.replicas.map((r) => r.port), s.offset])).toEqual([
      [[[0, 5460]], 6001, [6002, 6003], 100],
      [[[5461, 10922]], 6001, [6002, 6003], 100],
      [[[10923, 16383]], 6003, [6001, 6002], 100],
    ]);
    expect(view.info).toEqual({
      state: 'ok',
      slotsAssigned: 16384,
      slotsOk: 16384,
      slotsPfail: 0,
      slotsFail: 0,
      knownNodes: 3,
      size: 3,
      currentEpoch: 7,
      myEpoch: 6,
    });
  });

  it('counts a group in an election as possibly failing, and a group nobody can be named for as failing', () => {
    const view = new ClusterTopology(self, routing(), facts({ g1: 'n1', g2: '', g3: 'n3' })).view();
    expect(view.info).toMatchObject({ state: 'ok', slotsOk: 16384 - 5462, slotsPfail: 5462, slotsFail: 0 });
    const lonely = new ClusterTopology({ ...self, id: 'n9' }, routing([]), facts({}, {}, false)).view();
    expect(lonely.info).toMatchObject({ state: 'fail', slotsAssigned: 16384, slotsOk: 0, slotsFail: 16384, knownNodes: 1 });
    expect(lonely.shards).toEqual([]);
  });

  it('shows a node that registered no RESP address with port 0, at its gRPC host', () => {
    const view = new ClusterTopology(self, routing([registered('n1', 1), { id: 'n2', grpc: '10.0.0.2:7002', resp: '' }]), facts({ g1: 'n1', g2: 'n2', g3: 'n1' })).view();
    const n2 = view.nodes.find((n) => n.id === clusterNodeId('n2'))!;
    expect([n2.host, n2.port, n2.busPort, n2.slots]).toEqual(['10.0.0.2', 0, 7002, []]);
  });

  it('leaves out a node that is no longer a member of any group (its record stays in the meta group)', () => {
    const nodes = [registered('n1', 1), registered('n2', 2), registered('n3', 3), registered('n4', 4)];
    const view = new ClusterTopology(self, routing(nodes), facts({ g1: 'n1', g2: 'n2', g3: 'n3' }), (id) => id !== 'n4').view();
    expect(view.nodes.map((n) => n.port)).toEqual([6001, 6002, 6003]);
    expect(view.info.knownNodes).toBe(3);
  });

  it('merges adjacent and overlapping ranges, in order', () => {
    expect(mergeRanges([[10, 20], [0, 4], [5, 9], [30, 30], [18, 25]])).toEqual([[0, 25], [30, 30]]);
  });
});
