import { divideSlots, type SlotRange } from '../state/slot_set.js';

/** The group that holds the cluster's metadata (node directory, groups, slot map). */
export const metaGroupId = 'meta';

/** Data groups are g1, g2, ...; the data group of clusters made before groups owned slots is g0. */
export function dataGroupName(ordinal: number): string {
  return `g${ordinal}`;
}

export function isDataGroupId(id: string): boolean {
  return /^g\d{1,9}$/.test(id);
}

/** At most this many voters in the meta group (more would only slow its commits). */
export const maxMetaVoters = 5;

/** One group of a new cluster: its voters, the node that should lead it, and its slots. */
export interface GroupLayout {
  readonly id: string;
  readonly voters: readonly string[];
  /** Campaigns first at bootstrap, so that leaders start spread over the nodes. */
  readonly preferredLeader: string;
  /** Empty for the meta group. */
  readonly slots: readonly SlotRange[];
}

export interface ClusterLayout {
  readonly meta: GroupLayout;
  readonly data: readonly GroupLayout[];
}

/**
 * The groups a new cluster starts with: a deterministic function of the initial nodes, the number
 * of data groups and their replication factor, so that every initial node, computing it on its
 * own from the same flags, opens the same groups with the same members.
 *
 *   nodes n1..n5 (sorted), 3 groups, 3 replicas:
 *     meta: n1 n2 n3 n4 n5            (at most 5 voters), led by n1
 *     g1:   n1 n2 n3  slots 0-5460    led by n1
 *     g2:   n2 n3 n4  slots 5461-10922 led by n2
 *     g3:   n3 n4 n5  slots 10923-16383 led by n3
 *
 * Group i's voters are `replicas` consecutive nodes (every node when there are fewer) starting at
 * node i mod n, and its preferred leader is the first of them: each node leads about as many
 * groups as the others.
 */
export function initialLayout(nodeIds: readonly string[], groups: number, replicas: number): ClusterLayout {
  const nodes = [...new Set(nodeIds)].sort();
  if (nodes.length === 0) throw new RangeError('a cluster needs at least one node');
  if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be at least 1, got ${replicas}`);
  const size = Math.min(replicas, nodes.length);
  const ranges = divideSlots(groups);
  const data = ranges.map((slots, i) => {
    const voters = Array.from({ length: size }, (_, k) => nodes[(i + k) % nodes.length]!);
    return { id: dataGroupName(i + 1), voters: [...voters].sort(), preferredLeader: voters[0]!, slots: [slots] };
  });
  const metaVoters = nodes.slice(0, Math.min(maxMetaVoters, nodes.length));
  return { meta: { id: metaGroupId, voters: metaVoters, preferredLeader: metaVoters[0]!, slots: [] }, data };
}
