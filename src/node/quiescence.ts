import { MessageType, StateType, type Message } from '../raft/index.js';
import type { NodeLiveness } from './node_liveness.js';
import type { RaftGroup } from './raft_group.js';

/**
 * What the host's ticker does for its groups each tick: quiet idle groups, and wake quiet ones
 * that node liveness says need waking (docs/design.md, "Quiet groups and node liveness").
 *
 * Per group, per tick:
 *
 *   quiet leader   ─ a member's node looks down that was up when it went quiet, or one left out
 *                    as down is up again, or one restarted  ─▶ wake (it heartbeats; CheckQuorum runs)
 *   any follower   ─ its leader's node looks down (not heard from for an election timeout) or
 *                    restarted  ─▶ leaderLost (wakes; its lease ends; it campaigns within an
 *                    election timeout)
 *   quiet          ─▶ nothing else: no tick
 *   awake leader   ─▶ quiesce if idle (one last heartbeat marked quiesce), else tick
 *   awake other    ─▶ tick
 *
 * With `enabled` false nothing goes quiet and liveness wakes nothing: every group ticks as before.
 */
export class Quiescence {
  constructor(
    private readonly liveness: NodeLiveness,
    readonly enabled: boolean,
  ) {}

  /** One tick of the host's ticker over every group it hosts. */
  tick(groups: Iterable<RaftGroup>): void {
    const returned = this.liveness.tick();
    if (!this.enabled) {
      for (const g of groups) g.tick();
      return;
    }
    const isLive = (id: string): boolean => this.liveness.isLive(id);
    for (const g of groups) {
      this.watch(g, returned, isLive);
      if (g.quiet) continue;
      if (g.isLeader() && g.quiesce(isLive)) continue;
      g.tick();
    }
  }

  /**
   * Called before a peer's message is stepped into `g`. A vote request reaching a quiet follower
   * means another member's host already lost sight of the leader's node; if this node has not
   * heard from it for half an election timeout either, it takes the leader for lost too before the
   * request is handled, so that it can grant it. Otherwise it would wake believing its leader
   * alive (in lease), ignore the request, and the candidate would wait up to two election
   * timeouts to ask again: the two hosts notice a dead node a tick or so apart, and a candidate
   * may campaign in the tick it noticed.
   */
  beforeStep(g: RaftGroup, m: Message): void {
    if (!this.enabled || !g.quiet || (m.type !== MessageType.MsgPreVote && m.type !== MessageType.MsgVote)) return;
    const lead = g.leaderId();
    if (lead === '' || lead === g.nodeId) return;
    if (2 * this.liveness.silentTicks(lead) >= this.liveness.timeoutTicks) g.leaderLost();
  }

  /** Wakes `g` if node liveness says it must (see the class comment). */
  private watch(g: RaftGroup, returned: ReadonlySet<string>, isLive: (id: string) => boolean): void {
    const { state, lead } = g.raw.softState();
    if (state === StateType.Leader) {
      if (!g.quiet) return;
      const excluded = g.raw.quietExcluded();
      const { voters, learners } = g.confState();
      for (const id of [...voters, ...learners]) {
        if (id === g.nodeId) continue;
        if (returned.has(id) || isLive(id) === excluded.includes(id)) {
          g.wake();
          return;
        }
      }
      return;
    }
    if (lead !== '' && lead !== g.nodeId && (returned.has(lead) || !isLive(lead))) g.leaderLost();
  }
}
