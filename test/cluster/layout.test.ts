import { describe, expect, it } from 'vitest';
import { initialLayout, metaGroupId } from '../../src/cluster/layout.js';

describe('initial layout', () => {
  it('puts one group on every node of a small cluster, and each node leads one', () => {
    const layout = initialLayout(['n3', 'n1', 'n2'], 3, 3);
    expect(layout.meta).toEqual({ id: metaGroupId, voters: ['n1', 'n2', 'n3'], preferredLeader: 'n1', slots: [] });
    expect(layout.data.map((g) => [g.id, g.voters, g.preferredLeader, g.slots])).toEqual([
      ['g1', ['n1', 'n2', 'n3'], 'n1', [[0, 5460]]],
      ['g2', ['n1', 'n2', 'n3'], 'n2', [[5461, 10922]]],
      ['g3', ['n1', 'n2', 'n3'], 'n3', [[10923, 16383]]],
    ]);
  });

  it('spreads replicas and leaders over a larger cluster, with at most 5 meta voters', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const layout = initialLayout(nodes, 14, 3);
    expect(layout.meta.voters).toEqual(['a', 'b', 'c', 'd', 'e']);
    const replicasOf = new Map(nodes.map((n) => [n, 0]));
    const leads = new Map(nodes.map((n) => [n, 0]));
    for (const g of layout.data) {
      expect(g.voters).toHaveLength(3);
      expect(new Set(g.voters).size).toBe(3);
      expect(g.voters).toContain(g.preferredLeader);
      for (const v of g.voters) replicasOf.set(v, replicasOf.get(v)! + 1);
      leads.set(g.preferredLeader, leads.get(g.preferredLeader)! + 1);
    }
    expect(new Set(replicasOf.values())).toEqual(new Set([6]));
    expect(new Set(leads.values())).toEqual(new Set([2]));
    // Every slot in exactly one group, in order.
    let next = 0;
    for (const g of layout.data) {
      expect(g.slots[0]![0]).toBe(next);
      next = g.slots[0]![1] + 1;
    }
    expect(next).toBe(16384);
  });

  it('is the same on every node whatever order the peers were given in', () => {
    expect(initialLayout(['n2', 'n1'], 2, 3)).toEqual(initialLayout(['n1', 'n2'], 2, 3));
    expect(initialLayout(['solo'], 1, 3).data[0]!.voters).toEqual(['solo']);
  });
});
