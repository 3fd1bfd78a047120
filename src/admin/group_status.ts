import type { RaftGroup } from '../node/raft_group.js';
import { StateType } from '../raft/types.js';
import type { GroupStatus, MemberStatus, NodeRole } from './status.js';

/**
 * What the admin API reports about one group hosted here, read from its core. Members' match
 * index and lag are known only on the leader (from its progress tracker); elsewhere they are left
 * out rather than guessed.
 */
export function groupStatus(group: RaftGroup): GroupStatus {
  const raft = group.raw.raft;
  const { voters, learners } = raft.tracker.confState();
  const leading = raft.state === StateType.Leader;
  const lastIndex = raft.raftLog.lastIndex();
  const member = (nodeId: string, role: MemberStatus['role']): MemberStatus => {
    const progress = leading ? raft.tracker.progress.get(nodeId) : undefined;
    if (!progress) return { nodeId, role };
    return { nodeId, role, matchIndex: progress.matchIndex, lag: Math.max(0, lastIndex - progress.matchIndex) };
  };
  const role: NodeRole = learners.includes(group.nodeId) ? 'learner' : raft.state;
  return {
    groupId: group.groupId,
    role,
    leaderId: raft.lead,
    term: raft.term,
    commitIndex: raft.raftLog.committed,
    appliedIndex: group.applied,
    members: [...voters.map((id) => member(id, 'voter')), ...learners.map((id) => member(id, 'learner'))],
  };
}
