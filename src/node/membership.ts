import { ConfChangeType, DropReason, ProposalDroppedError } from '../raft/index.js';
import type { MembershipCall } from '../admin/membership_call.js';
import { AdminError } from '../admin/admin_client.js';
import { QuorumError } from '../util/errors.js';
import type { RaftGroup } from './raft_group.js';

/**
 * Membership operations of the admin API, run on the leader (a node that is not the leader
 * passes the call on to it, see `viaLeader`):
 *
 *   add-node ID ADDR   ─▶ AddLearner(ID, ADDR) ─▶ (caught up) ─▶ AddVoter(ID)   by the promoter
 *   promote ID         ─▶ AddVoter(ID) now, caught up or not (the operator's call)
 *   remove-node ID     ─▶ ID leads? transfer leadership away first ─▶ RemoveNode(ID)
 *   transfer-leader ID ─▶ TimeoutNow to ID once it is up to date
 *
 * One change at a time (the core refuses a second while one is pending), ids never reused.
 */
export class MembershipError extends QuorumError {
  constructor(code: string, message: string) {
    super(code, message, 'fail');
    this.name = 'MembershipError';
  }
}

export interface MembershipOptions {
  readonly group: RaftGroup;
  /** The gRPC address of a member, from the address book. */
  readonly addressOf: (nodeId: string) => string | undefined;
  /** Whether `nodeId` was ever a member of the group (the replicated members record): ids are never reused. */
  readonly wasMember: (nodeId: string) => boolean;
  /** Runs the same admin call on the leader (when this node is not it). */
  readonly onLeader: (leaderAddress: string, call: MembershipCall) => Promise<string>;
  readonly sleep: (ms: number) => Promise<void>;
  /** How long transfers and hand-offs may take. */
  readonly waitMs: number;
}

const idPattern = /^[a-z0-9-]{1,64}$/;
const addressPattern = /^[^\s:]+:\d{1,5}$/;

export class Membership {
  constructor(private readonly options: MembershipOptions) {}

  run(call: MembershipCall): Promise<string> {
    switch (call.kind) {
      case 'add-node':
        return this.addNode(call.nodeId, call.address);
      case 'remove-node':
        return this.removeNode(call.nodeId);
      case 'transfer-leader':
        return this.transferLeader(call.to);
      case 'promote':
        return this.promote(call.nodeId);
    }
  }

  async promote(nodeId: string): Promise<string> {
    const forwarded = await this.viaLeader({ kind: 'promote', nodeId });
    if (forwarded !== null) return forwarded;
    const { group } = this.options;
    const { voters, learners } = group.confState();
    if (voters.includes(nodeId)) return `${nodeId} is already a voter`;
    if (!learners.includes(nodeId)) throw new MembershipError('NOT_A_LEARNER', `${nodeId} is not a learner`);
    const address = this.options.addressOf(nodeId);
    await this.propose(() => group.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId, ...(address ? { context: address } : {}) }));
    return `promoted ${nodeId} to voter`;
  }

  async addNode(nodeId: string, address: string): Promise<string> {
    if (!idPattern.test(nodeId)) throw new MembershipError('BAD_NODE_ID', `node id '${nodeId}' must match [a-z0-9-]{1,64}`);
    if (!addressPattern.test(address)) throw new MembershipError('BAD_ADDRESS', `--grpc '${address}' is not HOST:PORT`);
    const forwarded = await this.viaLeader({ kind: 'add-node', nodeId, address });
    if (forwarded !== null) return forwarded;
    const { group } = this.options;
    if (this.options.wasMember(nodeId)) {
      const { voters, learners } = group.confState();
      const now = voters.includes(nodeId) ? 'a voter' : learners.includes(nodeId) ? 'a learner' : 'removed';
      throw new MembershipError('NODE_ID_USED', `node id '${nodeId}' was used already (it is ${now}); ids are never reused`);
    }
    await this.propose(() => group.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId, context: address }));
    return `added ${nodeId} (${address}) as a learner; it becomes a voter once caught up`;
  }

  async removeNode(nodeId: string): Promise<string> {
    const forwarded = await this.viaLeader({ kind: 'remove-node', nodeId });
    if (forwarded !== null) return forwarded;
    const { group } = this.options;
    const { voters, learners } = group.confState();
    if (!voters.includes(nodeId) && !learners.includes(nodeId)) throw new MembershipError('NOT_A_MEMBER', `${nodeId} is not a member`);
    if (voters.length === 1 && voters[0] === nodeId) throw new MembershipError('LAST_VOTER', `${nodeId} is the last voter`);
    if (nodeId === group.nodeId) {
      // The leader hands off leadership first, then the new leader removes it.
      const successor = await this.handOff(nodeId);
      const again = await this.viaLeader({ kind: 'remove-node', nodeId });
      if (again !== null) return `${nodeId} handed leadership to ${successor}; ${again}`;
      throw new MembershipError('TRANSFER_FAILED', `leadership did not move away from ${nodeId}`);
    }
    await this.propose(() => group.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId }));
    return `removed ${nodeId}`;
  }

  async transferLeader(to: string): Promise<string> {
    const forwarded = await this.viaLeader({ kind: 'transfer-leader', to });
    if (forwarded !== null) return forwarded;
    const { group, waitMs, sleep } = this.options;
    if (to === group.nodeId) return `${to} is already the leader`;
    if (!group.confState().voters.includes(to)) throw new MembershipError('NOT_A_VOTER', `${to} is not a voter`);
    group.raw.transferLeader(to);
    group.tick(); // let the loop send the catch-up MsgApp or TimeoutNow now
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (group.leaderId() === to) return `leadership moved to ${to} (term ${group.term()})`;
      await sleep(20);
      if (group.isLeader() && group.raw.basicStatus().leadTransferee === '') group.raw.transferLeader(to);
    }
    throw new MembershipError('TRANSFER_TIMEOUT', `leadership did not move to ${to} within ${waitMs} ms`);
  }

  /**
   * The promoter, called periodically on every node (it acts only on the leader): a learner
   * whose log has reached the commit index becomes a voter. One change at a time.
   */
  async promoteCaughtUpLearners(): Promise<void> {
    const { group } = this.options;
    if (!group.isLeader()) return;
    const status = group.raw.status();
    for (const id of status.config.learners) {
      const pr = status.progress.get(id);
      if (!pr || pr.matchIndex < status.hardState.commit) continue;
      const address = this.options.addressOf(id);
      try {
        await group.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: id, ...(address ? { context: address } : {}) });
      } catch {
        // Another change pending, or leadership moved: the next round tries again.
      }
      return;
    }
  }

  /**
   * Hands this leader's leadership to the voter (other than `except`) with the most of the log,
   * and resolves with its id once it leads: what a leader does before it is removed.
   */
  async handOff(except: string): Promise<string> {
    const successor = this.bestSuccessor(except);
    if (!successor) throw new MembershipError('NO_SUCCESSOR', 'no other voter to hand leadership to');
    await this.transferLeader(successor);
    return successor;
  }

  /** The voter (other than `except`) with the most of the log. */
  private bestSuccessor(except: string): string | undefined {
    const status = this.options.group.raw.status();
    let best: string | undefined;
    let bestMatch = -1;
    for (const id of status.config.voters) {
      if (id === except) continue;
      const match = status.progress.get(id)?.matchIndex ?? 0;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    return best;
  }

  /** Null when this node leads (run here); otherwise the leader's answer. */
  private async viaLeader(call: MembershipCall): Promise<string | null> {
    const { group, sleep, waitMs, addressOf } = this.options;
    return forwardToLeader(group, (address) => this.options.onLeader(address, call), { addressOf, sleep, waitMs, clock: Date.now });
  }

  /**
   * Proposes a change. A new leader refuses changes until it has applied its whole log (the fix
   * for the single-server-change bug): that wait is transient, so it is waited out. A change
   * refused because another one really is in the log is refused to the operator.
   */
  private async propose(fn: () => Promise<void>): Promise<void> {
    const { group, sleep, waitMs } = this.options;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        await fn();
        return;
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
        const transient = err.reason === DropReason.ChangeInProgress && !group.hasUnappliedConfChange() && group.isLeader();
        if (!transient || Date.now() >= deadline) {
          throw new MembershipError('CHANGE_REFUSED', err.message.replace(/^proposal dropped: /, ''));
        }
      }
      await sleep(50);
    }
  }
}

/** Refusals of a call passed on to a leader that say the leadership moved meanwhile. */
const leaderMovedCodes: ReadonlySet<string> = new Set(['UNKNOWN_GROUP', 'NOT_LEADER', 'NO_LEADER']);

export interface LeaderForwardOptions {
  /** The gRPC address of a member, from the address book. */
  readonly addressOf: (nodeId: string) => string | undefined;
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: () => number;
  /** How long to wait for a leader that answers. */
  readonly waitMs: number;
  /**
   * For a call that resumes where it stopped when asked again (a move: each of its steps looks at
   * the configuration first): until this time on `clock`, such a call is asked again also when it
   * was cut short under way (its connection dropped, its deadline passed), with a new wait for a
   * leader from each failure. Without it, a call is asked again only within `waitMs` of the first
   * asking.
   */
  readonly resumeUntil?: number;
}

/**
 * Passes an admin call on to the group's leader, waiting up to `waitMs` for one, as client
 * commands wait during a failover; null when this replica leads (or comes to lead while it waits):
 * the caller runs the call here. The leader asked must be a voter in
 * this replica's configuration: a member removed by the entry a dying leader applied last can win
 * an election among voters that have not applied it yet, lead for a moment, apply its own removal
 * and drop its replica, while this replica still names it. A call is asked again when the leader
 * could not be reached, or answered that it does not host or lead the group any more; a
 * resumable one (`resumeUntil`) also when it was cut short under way.
 */
export async function forwardToLeader(group: RaftGroup, call: (leaderAddress: string) => Promise<string>, options: LeaderForwardOptions): Promise<string | null> {
  const { addressOf, sleep, clock, waitMs, resumeUntil } = options;
  let deadline = clock() + waitMs;
  for (;;) {
    if (group.isLeader()) return null;
    const leader = group.leaderId();
    const voter = leader !== '' && group.confState().voters.includes(leader);
    const address = voter ? addressOf(leader) : undefined;
    if (address) {
      try {
        return await call(address);
      } catch (err) {
        // A call that ran for long (a move's step) outlives the first wait: a failure after it
        // waits for a leader afresh, within what the caller allows.
        if (resumeUntil !== undefined && cutShort(err) && clock() < resumeUntil) deadline = Math.min(resumeUntil, clock() + waitMs);
        else if (!leaderMoved(err) || clock() >= deadline) throw err;
      }
    }
    if (clock() >= deadline) {
      if (voter && address === undefined) {
        throw new MembershipError('NO_LEADER_ADDRESS', `the leader is ${leader}, but its address is unknown here`);
      }
      throw new MembershipError('NO_LEADER', `no leader within ${waitMs} ms; try again`);
    }
    await sleep(100);
  }
}

/** A resumable call that may have run in part: cut short by its connection, its deadline or a leader change. */
function cutShort(err: unknown): boolean {
  return leaderMoved(err) || (err instanceof AdminError && (err.code === 'ADMIN_TIMEOUT' || err.refusalCode === 'ADMIN_UNREACHABLE' || err.refusalCode === 'ADMIN_TIMEOUT'));
}

function leaderMoved(err: unknown): boolean {
  if (!(err instanceof AdminError)) return false;
  return err.code === 'ADMIN_UNREACHABLE' || (err.refusalCode !== undefined && leaderMovedCodes.has(err.refusalCode));
}
