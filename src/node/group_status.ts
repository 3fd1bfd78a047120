import type { RaftGroup } from './raft_group.js';
import type { GroupStatus, MemberStatus, NodeRole } from '../admin/status.js';

/**
 * What the admin API reports about one group hosted here, read from its core. Members' match
 * index and lag are known only on the leader (from its progress tracker); elsewhere they are left
 * out rather than guessed.
 */
export function groupStatus(group: RaftGroup): GroupStatus {
  const status = group.raw.status();
  const { voters, learners } = status.config;
  const lastIndex = status.lastIndex;
  const member = (nodeId: string, role: MemberStatus['role']): MemberStatus => {
    const progress = status.progress.get(nodeId);
    if (!progress) return { nodeId, role };
    return { nodeId, role, matchIndex: progress.matchIndex, lag: Math.max(0, lastIndex - progress.matchIndex) };
  };
  const role: NodeRole = learners.includes(group.nodeId) ? 'learner' : status.softState.state;
  return {
    groupId: group.groupId,
    role,
    leaderId: status.softState.lead,
    term: status.hardState.term,
    commitIndex: status.hardState.commit,
    appliedIndex: group.applied,
    members: [...voters.map((id) => member(id, 'voter')), ...learners.map((id) => member(id, 'learner'))],
  };
}
