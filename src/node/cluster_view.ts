import type { ClusterNodeView, ClusterShardView, ClusterView } from '../commands/connection_context.js';
import { clusterNodeId, splitAddress } from '../cluster/node_ids.js';
import type { GroupRecord, RoutingTable } from '../cluster/meta_records.js';
import { slotCount } from '../state/hash_slot.js';

/** What this node knows of one data group. */
export interface GroupFacts {
  /** This node hosts a replica of the group. */
  readonly hosted: boolean;
  /** The leader its replica knows now; '' during an election, or when it hosts none. */
  readonly leader: string;
  /** The last leader its replica knew; '' when it never knew one. */
  readonly lastLeader: string;
  /** The group's voters: its replica's configuration where hosted, else the meta group's record. */
  readonly voters: readonly string[];
  /** Its replica's term and applied index (0 where not hosted). */
  readonly term: number;
  readonly appliedIndex: number;
}

/** This node's own addresses: always known here, registered in the meta group or not. */
export interface ClusterSelf {
  readonly id: string;
  readonly host: string;
  readonly respPort: number;
  readonly grpcPort: number;
}

/** Where a command for a key of some group goes, in cluster mode. */
export type ClusterRoute =
  /** Served here: through this node's replica of the group (which proposes, or forwards to a leader that cannot be redirected to). */
  | { readonly kind: 'local' }
  /** -MOVED to the node at `host:port`. */
  | { readonly kind: 'moved'; readonly host: string; readonly port: number }
  /** No node of the group has an address a client can be sent to. */
  | { readonly kind: 'down' };

/**
 * The cluster as Redis Cluster clients are shown it (CLUSTER SLOTS, SHARDS, NODES, INFO and
 * -MOVED), from the routing table (the meta group's records: groups, their slots and voters, the
 * nodes' addresses) and what this node knows of each group's leader. One rule decides the master
 * of a group's slots everywhere, so that the replies and the redirects agree:
 *
 *   the first of   its leader now, its last known leader, its preferred leader, its voters in order
 *   that is a voter with a RESP address (registered in the meta group; this node always knows its own)
 *
 * The leader is what a client is sent to; the others stand in while no leader is known (an
 * election) or where this node hosts no replica of the group and so does not know the leader:
 * each of them hosts the group, and sends the client on once it knows the leader.
 */
export class ClusterTopology {
  private readonly facts = new Map<string, GroupFacts>();

  constructor(
    private readonly self: ClusterSelf,
    private readonly routing: RoutingTable,
    private readonly factsOf: (group: GroupRecord) => GroupFacts,
    /**
     * Whether a node of the records is still in the cluster (a member of some group): records are
     * never deleted, and a removed node must not stay in CLUSTER NODES. Every node by default.
     */
    private readonly isMember: (nodeId: string) => boolean = () => true,
  ) {}

  private groupFacts(group: GroupRecord): GroupFacts {
    let f = this.facts.get(group.id);
    if (!f) {
      f = this.factsOf(group);
      this.facts.set(group.id, f);
    }
    return f;
  }

  /** A node's RESP address, or null when it has registered none. */
  respAddress(nodeId: string): { readonly host: string; readonly port: number } | null {
    if (nodeId === this.self.id) return { host: this.self.host, port: this.self.respPort };
    const record = this.routing.node(nodeId);
    return record && record.resp !== '' ? splitAddress(record.resp) : null;
  }

  /** The node shown as master of the group's slots ('' when no voter has an address). */
  masterOf(group: GroupRecord): string {
    const f = this.groupFacts(group);
    for (const id of [f.leader, f.lastLeader, group.preferredLeader, ...f.voters]) {
      if (id !== '' && f.voters.includes(id) && this.respAddress(id) !== null) return id;
    }
    return '';
  }

  /**
   * Where a command for a key of `group` goes. Served here when this node leads the group, or
   * when it is a READONLY connection's read and this node has a replica of the group; redirected
   * to the leader when the leader is known and has an address; otherwise served here when this
   * node has a replica (it waits for the election, or forwards to a leader clients cannot reach),
   * else redirected to the group's master as above.
   */
  route(group: GroupRecord, readOnlyRead: boolean): ClusterRoute {
    const f = this.groupFacts(group);
    if (f.hosted && (readOnlyRead || f.leader === this.self.id)) return { kind: 'local' };
    if (f.leader !== '') {
      const address = this.respAddress(f.leader);
      if (address) return { kind: 'moved', ...address };
    }
    if (f.hosted) return { kind: 'local' };
    const master = this.masterOf(group);
    const address = master === '' || master === this.self.id ? null : this.respAddress(master);
    return address ? { kind: 'moved', ...address } : { kind: 'down' };
  }

  view(): ClusterView {
    const groups = this.routing.groups();
    const masters = new Map(groups.map((g) => [g.id, this.masterOf(g)]));
    const ids = [...new Set([...this.routing.nodes().map((n) => n.id).filter((id) => this.isMember(id)), this.self.id])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const node = (id: string): ClusterNodeView => {
      const mastered = groups.filter((g) => masters.get(g.id) === id);
      const address = this.respAddress(id);
      const grpc = id === this.self.id ? { host: this.self.host, port: this.self.grpcPort } : splitAddress(this.routing.node(id)?.grpc ?? '');
      return {
        id: clusterNodeId(id),
        host: address?.host ?? grpc?.host ?? '',
        port: address?.port ?? 0,
        busPort: grpc?.port ?? 0,
        myself: id === this.self.id,
        slots: mergeRanges(mastered.flatMap((g) => g.slots)),
        epoch: Math.max(0, ...mastered.map((g) => this.groupFacts(g).term)),
      };
    };
    const nodes = ids.map(node);
    const byId = new Map(ids.map((id, i) => [id, nodes[i]!]));
    const shards: ClusterShardView[] = [];
    let assigned = 0;
    let ok = 0;
    let pfail = 0;
    let fail = 0;
    let currentEpoch = 0;
    for (const g of groups) {
      const f = this.groupFacts(g);
      const size = g.slots.reduce((n, [first, last]) => n + last - first + 1, 0);
      assigned += size;
      currentEpoch = Math.max(currentEpoch, f.term);
      const master = masters.get(g.id)!;
      if (master === '') {
        fail += size;
        continue;
      }
      // A group hosted here without a leader right now is in an election: Redis's "possibly failing".
      if (f.hosted && f.leader === '') pfail += size;
      else ok += size;
      shards.push({
        slots: [...g.slots].sort((a, b) => a[0] - b[0]),
        master: byId.get(master) ?? node(master),
        replicas: f.voters.filter((id) => id !== master && this.respAddress(id) !== null).map((id) => byId.get(id) ?? node(id)),
        offset: f.appliedIndex,
      });
    }
    shards.sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0));
    const myself = byId.get(this.self.id)!;
    return {
      myself,
      nodes,
      shards,
      info: {
        state: assigned === slotCount && fail === 0 ? 'ok' : 'fail',
        slotsAssigned: assigned,
        slotsOk: ok,
        slotsPfail: pfail,
        slotsFail: fail,
        knownNodes: nodes.length,
        size: groups.length,
        currentEpoch,
        myEpoch: myself.epoch,
      },
    };
  }
}

/** Sorted, with adjacent and overlapping ranges joined: 0-5460 and 5461-10922 print as 0-10922, as Redis prints one node's slots. */
export function mergeRanges(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [first, last] of sorted) {
    const prev = out[out.length - 1];
    if (prev && first <= prev[1] + 1) prev[1] = Math.max(prev[1], last);
    else out.push([first, last]);
  }
  return out;
}
