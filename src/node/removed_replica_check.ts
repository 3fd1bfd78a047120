import type { GroupStatus, NodeStatus } from '../admin/status.js';

/**
 * Finds replicas of groups this node was removed from without ever learning it.
 *
 * A replica normally learns of its removal by applying the change. But a leader stops sending to
 * a member as soon as it applies the change that removes it, so the entry that carries the
 * removal may reach the member without the commit index that makes it apply it (a message lost
 * or late, as on a loaded machine). The removed replica then sits here for good: no leader, its
 * election timer running, the node still counting itself a host of the group (CockroachDB
 * collects such replicas with its replica GC queue; etcd leaves it to the operator).
 *
 * So a replica that has had no leader for a while asks the other members of the group as it knows
 * it for their status of the group. It is removed when one of them has applied at least as far as
 * it has and no longer lists it: the group's configurations follow one another in the log, its own
 * applied configuration lists it, so a configuration at a later (or equal) index that does not was
 * made by a committed removal; and a node id is never added to a group again. An empty replica
 * (not in its own configuration: a joiner still waiting for its first snapshot) is never judged.
 */
export function removedFromGroup(selfId: string, ownApplied: number, peer: GroupStatus): boolean {
  return peer.appliedIndex >= ownApplied && !peer.members.some((m) => m.nodeId === selfId);
}

/** What the check needs of a hosted replica that knows no leader. */
export interface ReplicaView {
  readonly groupId: string;
  readonly appliedIndex: number;
  /** Members of the group in this replica's applied configuration (voters and learners). */
  readonly members: readonly string[];
  /**
   * The meta group's record of the group no longer names this node a voter: asked about at once,
   * not after the patience (the record is a hint, not a proof; the members' answers decide).
   */
  readonly notInRecord?: boolean;
}

export interface RemovedReplicaCheckOptions {
  readonly selfId: string;
  /** A peer's status over the admin API, or null when it does not answer. */
  readonly askStatus: (nodeId: string) => Promise<NodeStatus | null>;
  readonly clock: () => number;
  /** How long a replica goes without a leader before the members are asked. */
  readonly patienceMs: number;
  readonly onRemoved: (groupId: string, by: string) => void;
}

export class RemovedReplicaCheck {
  /** Per leaderless group: since when, and when it may be asked about next. */
  private readonly leaderless = new Map<string, { since: number; nextAskAt: number }>();
  private readonly asking = new Set<string>();

  constructor(private readonly options: RemovedReplicaCheckOptions) {}

  /**
   * One housekeeping round over the replicas hosted here that know no leader now (a group left
   * out has a leader, or is gone: its watch starts over).
   */
  round(replicas: readonly ReplicaView[]): void {
    const { selfId, clock, patienceMs } = this.options;
    const now = clock();
    const present = new Set<string>();
    for (const r of replicas) {
      present.add(r.groupId);
      if (!r.members.includes(selfId)) continue;
      const state = this.leaderless.get(r.groupId) ?? { since: now, nextAskAt: r.notInRecord ? now : now + patienceMs };
      this.leaderless.set(r.groupId, state);
      if (now < state.nextAskAt || this.asking.has(r.groupId)) continue;
      state.nextAskAt = now + patienceMs;
      this.asking.add(r.groupId);
      void this.ask(r).finally(() => this.asking.delete(r.groupId));
    }
    for (const id of [...this.leaderless.keys()]) if (!present.has(id)) this.leaderless.delete(id);
  }

  private async ask(r: ReplicaView): Promise<void> {
    const { selfId, askStatus, onRemoved } = this.options;
    for (const peer of r.members) {
      if (peer === selfId) continue;
      const status = await askStatus(peer).catch(() => null);
      const group = status?.groups.find((g) => g.groupId === r.groupId);
      if (group && removedFromGroup(selfId, r.appliedIndex, group)) {
        onRemoved(r.groupId, peer);
        return;
      }
    }
  }
}
