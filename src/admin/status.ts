/**
 * A node's status as the admin API reports it: plain objects (what `quorumkv admin status` prints
 * as JSON), and their mapping to and from proto/admin.proto's StatusReply.
 */

/** This node's role in one group. `learner`: a non-voting member, whatever the core's state. */
export type NodeRole = 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';
export type MemberRole = 'voter' | 'learner';

export interface MemberStatus {
  readonly nodeId: string;
  readonly role: MemberRole;
  /** As the leader sees them; absent unless this node leads the group. */
  readonly matchIndex?: number;
  /** The leader's last index minus matchIndex. */
  readonly lag?: number;
}

export interface GroupStatus {
  readonly groupId: string;
  readonly role: NodeRole;
  /** '' when no leader is known. */
  readonly leaderId: string;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly MemberStatus[];
}

export interface NodeStatus {
  readonly nodeId: string;
  /** host:port per listener, e.g. `{ grpc: '127.0.0.1:7379', resp: '127.0.0.1:6379' }`. */
  readonly addresses: Readonly<Record<string, string>>;
  readonly groups: readonly GroupStatus[];
}

/** What the admin service asks the node for. It may throw; the client then gets the message. */
export interface StatusProvider {
  status(): NodeStatus | Promise<NodeStatus>;
}

// ------------------------------------------------------------------ wire (admin.proto)

const nodeRoles: readonly NodeRole[] = ['leader', 'follower', 'candidate', 'pre-candidate', 'learner'];

const memberRoleToWire = { voter: 'MEMBER_ROLE_VOTER', learner: 'MEMBER_ROLE_LEARNER' } as const satisfies Record<MemberRole, string>;
const memberRoleFromWire: Readonly<Record<string, MemberRole>> = { MEMBER_ROLE_VOTER: 'voter', MEMBER_ROLE_LEARNER: 'learner' };

interface MemberStatusWire {
  nodeId: string;
  role: string;
  matchIndex?: number;
  lag?: number;
}

interface GroupStatusWire {
  groupId: string;
  role: string;
  leaderId: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: MemberStatusWire[];
}

export interface StatusReplyWire {
  nodeId: string;
  addresses: Record<string, string>;
  groups: GroupStatusWire[];
}

/** Throws (a TypeError naming the field) on a status the wire cannot carry faithfully. */
export function statusToWire(status: NodeStatus): StatusReplyWire {
  return {
    nodeId: status.nodeId,
    addresses: { ...status.addresses },
    groups: status.groups.map((g) => ({
      groupId: g.groupId,
      role: checkRole(g.role, g.groupId),
      leaderId: g.leaderId,
      term: checkIndex(g.term, 'term', g.groupId),
      commitIndex: checkIndex(g.commitIndex, 'commitIndex', g.groupId),
      appliedIndex: checkIndex(g.appliedIndex, 'appliedIndex', g.groupId),
      members: g.members.map((m) => {
        const role = memberRoleToWire[m.role];
        if (role === undefined) throw new TypeError(`group ${g.groupId}: member ${m.nodeId} has role ${String(m.role)}`);
        const wire: MemberStatusWire = { nodeId: m.nodeId, role };
        if (m.matchIndex !== undefined) wire.matchIndex = checkIndex(m.matchIndex, 'matchIndex', g.groupId);
        if (m.lag !== undefined) wire.lag = checkIndex(m.lag, 'lag', g.groupId);
        return wire;
      }),
    })),
  };
}

export function statusFromWire(wire: StatusReplyWire): NodeStatus {
  return {
    nodeId: wire.nodeId,
    addresses: { ...wire.addresses },
    groups: wire.groups.map((g) => ({
      groupId: g.groupId,
      role: checkRole(g.role, g.groupId),
      leaderId: g.leaderId,
      term: g.term,
      commitIndex: g.commitIndex,
      appliedIndex: g.appliedIndex,
      members: g.members.map((m) => ({
        nodeId: m.nodeId,
        role: memberRoleFromWire[m.role] ?? 'voter',
        ...(m.matchIndex !== undefined ? { matchIndex: m.matchIndex } : {}),
        ...(m.lag !== undefined ? { lag: m.lag } : {}),
      })),
    })),
  };
}

function checkRole(role: string, groupId: string): NodeRole {
  if (!(nodeRoles as readonly string[]).includes(role)) throw new TypeError(`group ${groupId}: unknown role ${role}`);
  return role as NodeRole;
}

function checkIndex(value: number, field: string, groupId: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`group ${groupId}: ${field} ${value} is not an index`);
  return value;
}
