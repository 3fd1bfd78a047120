import * as grpc from '@grpc/grpc-js';
import { serviceDefinition, loadProto } from '../transport/proto_files.js';
import { QuorumError } from '../util/errors.js';
import type { SnapshotInfo } from '../storage/snapshot_format.js';
import { snapshotInfoToWire } from './snapshot_wire.js';
import type { BackupChunkWire, SnapshotReplyWire } from './snapshot_wire.js';
import { statusToWire } from './status.js';
import type { StatusProvider, StatusReplyWire } from './status.js';
import { withGroup, type MembershipCall } from './membership_call.js';

/** The Admin service of proto/admin.proto as proto-loader builds it. */
export function adminServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition(loadProto('admin.proto'), 'quorumkv.admin.v1.Admin') as unknown as grpc.ServiceDefinition;
}

/** Trailing metadata of a Backup refused by a follower: the leader's gRPC address (host:port). */
export const leaderGrpcMetadataKey = 'quorumkv-leader-grpc';
/** The stable code of a refused admin call (a QuorumError's), beside the one-line reason. */
export const refusalCodeMetadataKey = 'quorumkv-refusal-code';
/** Set on a Backup refusal from a node that hosts no replica of the group asked for. */
export const notHostedMetadataKey = 'quorumkv-not-hosted';

/** What the node does for the membership calls (src/node/membership.ts). */
export interface MembershipProvider {
  change(call: MembershipCall): Promise<string>;
  /**
   * Promotes learner `nodeId` to voter now (on the leader; a follower passes it on, as `change`
   * does). Resolves with one line for the operator; rejects with the reason (a QuorumError's code
   * is shown). Absent: PromoteNode answers UNIMPLEMENTED.
   */
  promote?(nodeId: string, group: string): Promise<string>;
}

/** One group as `admin groups` shows it. */
export interface GroupSummary {
  readonly group: string;
  readonly slots: readonly (readonly [number, number])[];
  readonly leader: string;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly epoch: number;
  readonly keys: number;
  readonly bytes: number;
  readonly writesPerSec: number;
  readonly hosted: boolean;
}

/** One node as `admin nodes` shows it. */
export interface NodeSummary {
  readonly node: string;
  readonly grpc: string;
  /** Empty until the node registered its RESP address. */
  readonly resp: string;
  /** Its --zone; empty when it has none. */
  readonly zone: string;
  /** The groups it is a voter or learner of. */
  readonly groups: readonly string[];
}

/** What the node does for the calls that change the cluster's groups. */
export interface ClusterProvider {
  /** Splits a data group at `atSlot` (null: the middle of its slots); one line for the operator. */
  split(group: string, atSlot: number | null, wait: boolean): Promise<string>;
  /** Every group of the cluster as this node sees it, the meta group first. */
  groups(): GroupSummary[];
  /** Moves `group`'s replica on `from` to `to` (learner, caught up, voter; then `from` removed). */
  moveReplica(call: MoveReplicaCall): Promise<string>;
  /** Every node that is a member of some group, as this node sees it. */
  nodes(): NodeSummary[];
}

export interface MoveReplicaCall {
  readonly group: string;
  readonly from: string;
  readonly to: string;
  /** The target's gRPC address, when the cluster does not know it yet. */
  readonly address: string | null;
  readonly wait: boolean;
}

/** What the node does for Snapshot and Backup. */
export interface SnapshotProvider {
  /** Takes a snapshot of every group on this node now; resolves with the newest SnapshotInfo of each. */
  snapshotNow(): Promise<SnapshotInfo[]>;
  /**
   * A consistent backup of group `groupId` ('' : the cluster's only data group): its newest
   * snapshot, as the store's chunks (at most chunkBytes + 8 bytes each, in order,
   * `info.chunkCount` of them). Pulled one chunk at a time, as the client takes them; the
   * iterator's `return()` is called when the client goes away, so a reader it holds can be
   * released. Rejects with BackupNotLeaderError when this node is not the group's leader (or
   * hosts no replica of it).
   */
  backup(groupId: string): Promise<{ info: SnapshotInfo; chunkBytes: number; chunks: AsyncIterable<Buffer> }>;
}

/**
 * A backup asked of a node that does not lead the group, or hosts no replica of it.
 * `leaderGrpcAddress`: where the leader's admin API is (or a node that hosts the group), or null
 * when none is known; the client follows it (at most twice, never back to a node it asked).
 */
export class BackupNotLeaderError extends QuorumError {
  /** This node hosts no replica of the group at all (rather than one that does not lead). */
  readonly notHosted: boolean;

  constructor(
    readonly leaderGrpcAddress: string | null,
    options?: { cause?: unknown; group?: string; notHosted?: boolean },
  ) {
    const group = options?.group ?? 'the data group';
    super(
      'NOT_LEADER',
      options?.notHosted
        ? leaderGrpcAddress === null
          ? `this node hosts no replica of ${group} and knows no node that does; ask another node`
          : `this node hosts no replica of ${group}; a node that does is at ${leaderGrpcAddress}`
        : leaderGrpcAddress === null
          ? `this node does not lead ${group} and knows no leader; try again`
          : `this node does not lead ${group}; its leader is at ${leaderGrpcAddress}`,
      'fail',
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'BackupNotLeaderError';
    this.notHosted = options?.notHosted === true;
  }
}

/**
 * Adds the Admin service to `server` (the node's, shared with peer traffic). Status asks
 * `provider`; a provider that throws gives the client INTERNAL with the error's message (and its
 * code, for a QuorumError). Without `membership`, the membership calls answer UNIMPLEMENTED;
 * without `snapshots`, Snapshot and Backup do.
 */
export function registerAdminService(
  server: grpc.Server,
  provider: StatusProvider,
  membership?: MembershipProvider,
  snapshots?: SnapshotProvider,
  cluster?: ClusterProvider,
): void {
  server.addService(adminServiceDefinition(), {
    Status: (_call: grpc.ServerUnaryCall<unknown, StatusReplyWire>, callback: grpc.sendUnaryData<StatusReplyWire>) => {
      answerStatus(provider).then(
        (reply) => callback(null, reply),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: `status failed: ${describe(err)}` }),
      );
    },
    AddNode: change(membership, (r: { nodeId: string; grpcAddress: string; groupId: string }) => withGroup({ kind: 'add-node', nodeId: r.nodeId, address: r.grpcAddress }, r.groupId)),
    RemoveNode: change(membership, (r: { nodeId: string; groupId: string }) => withGroup({ kind: 'remove-node', nodeId: r.nodeId }, r.groupId)),
    TransferLeader: change(membership, (r: { toNodeId: string; groupId: string }) => withGroup({ kind: 'transfer-leader', to: r.toNodeId }, r.groupId)),
    Split: (call: grpc.ServerUnaryCall<{ groupId: string; atSlot: number; noWait: boolean }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!cluster) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no splits' });
        return;
      }
      const { groupId, atSlot, noWait } = call.request;
      answerLine(cluster.split(groupId, atSlot < 0 ? null : atSlot, !noWait), callback);
    },
    MoveReplica: (
      call: grpc.ServerUnaryCall<{ groupId: string; fromNodeId: string; toNodeId: string; grpcAddress: string; noWait: boolean }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      if (!cluster) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no replica moves' });
        return;
      }
      const r = call.request;
      answerLine(cluster.moveReplica({ group: r.groupId, from: r.fromNodeId, to: r.toNodeId, address: r.grpcAddress === '' ? null : r.grpcAddress, wait: !r.noWait }), callback);
    },
    Groups: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!cluster) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no groups' });
        return;
      }
      try {
        callback(null, { groups: cluster.groups().map((g) => ({ ...g, slots: g.slots.map(([first, last]) => ({ first, last })) })) });
      } catch (err) {
        callback({ code: grpc.status.INTERNAL, details: describe(err) });
      }
    },
    Nodes: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!cluster) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no node listing' });
        return;
      }
      try {
        callback(null, { nodes: cluster.nodes().map((n) => ({ nodeId: n.node, grpcAddress: n.grpc, respAddress: n.resp, zone: n.zone, groups: n.groups })) });
      } catch (err) {
        callback({ code: grpc.status.INTERNAL, details: describe(err) });
      }
    },
    PromoteNode: (call: grpc.ServerUnaryCall<{ nodeId: string; groupId: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!membership?.promote) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no promotion of learners' });
        return;
      }
      answerLine(membership.promote(call.request.nodeId, call.request.groupId), callback);
    },
    Snapshot: (_call: grpc.ServerUnaryCall<unknown, SnapshotReplyWire>, callback: grpc.sendUnaryData<SnapshotReplyWire>) => {
      if (!snapshots) {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no snapshots' });
        return;
      }
      snapshots.snapshotNow().then(
        (infos) => callback(null, { snapshots: infos.map(snapshotInfoToWire) }),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: `snapshot failed: ${describe(err)}` }),
      );
    },
    Backup: (call: grpc.ServerWritableStream<{ groupId?: string }, BackupChunkWire>) => {
      if (!snapshots) {
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'this node offers no backups' });
        return;
      }
      void streamBackup(call, snapshots);
    },
  });
}

/**
 * A call that answers one line for the operator, or FAILED_PRECONDITION with the reason (and its
 * code, also as metadata: a node that passed the call on decides by it whether to ask again).
 */
function answerLine(work: Promise<string>, callback: grpc.sendUnaryData<unknown>): void {
  work.then(
    (message) => callback(null, { message }),
    (err: unknown) => {
      const metadata = new grpc.Metadata();
      if (err instanceof QuorumError) metadata.set(refusalCodeMetadataKey, err.code);
      callback({ code: grpc.status.FAILED_PRECONDITION, details: describe(err), metadata });
    },
  );
}

/** A membership call: one line back, or FAILED_PRECONDITION with the reason (and its code). */
function change<Req>(membership: MembershipProvider | undefined, toCall: (request: Req) => MembershipCall) {
  return (call: grpc.ServerUnaryCall<Req, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    if (!membership) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no membership changes' });
      return;
    }
    answerLine(membership.change(toCall(call.request)), callback);
  };
}

async function answerStatus(provider: StatusProvider): Promise<StatusReplyWire> {
  return statusToWire(await provider.status());
}

/**
 * Streams a backup: the header, then the provider's chunks one by one. When the call's buffer is
 * full (`write()` returns false) the next chunk is not pulled until 'drain', so the node holds a
 * bounded number of chunks whatever the snapshot's size. A client that goes away stops the loop,
 * which returns the provider's iterator.
 *
 *   backup() ──rejects──▶ status (FAILED_PRECONDITION + leader address, or INTERNAL)
 *      │
 *      ▼
 *   header ─▶ chunk ─▶ chunk ─▶ ... ─▶ OK
 *               └── the iterator throws ──▶ INTERNAL "backup failed: ..." (the client drops the file)
 */
async function streamBackup(call: grpc.ServerWritableStream<{ groupId?: string }, BackupChunkWire>, snapshots: SnapshotProvider): Promise<void> {
  let gone = false;
  const stop = new Promise<void>((resolve) => {
    const onGone = (): void => {
      gone = true;
      resolve();
    };
    call.once('cancelled', onGone);
    call.once('close', onGone);
    call.once('error', onGone);
  });
  const send = async (message: BackupChunkWire): Promise<void> => {
    if (!call.write(message)) await Promise.race([new Promise<void>((resolve) => call.once('drain', () => resolve())), stop]);
  };
  let started = false;
  try {
    const backup = await snapshots.backup(call.request?.groupId ?? '');
    if (gone) {
      await backup.chunks[Symbol.asyncIterator]().return?.();
      return;
    }
    started = true;
    await send({ header: { info: snapshotInfoToWire(backup.info), chunkBytes: backup.chunkBytes } });
    for await (const chunk of backup.chunks) {
      await send({ chunk });
      if (gone) break;
    }
    if (!gone) call.end();
  } catch (err) {
    if (gone) return;
    call.emit('error', backupFailure(err, started));
  }
}

function backupFailure(err: unknown, started: boolean): Partial<grpc.StatusObject> {
  if (err instanceof BackupNotLeaderError && !started) {
    const metadata = new grpc.Metadata();
    if (err.leaderGrpcAddress !== null) metadata.set(leaderGrpcMetadataKey, err.leaderGrpcAddress);
    if (err.notHosted) metadata.set(notHostedMetadataKey, '1');
    return { code: grpc.status.FAILED_PRECONDITION, details: describe(err), metadata };
  }
  return { code: grpc.status.INTERNAL, details: `backup failed: ${describe(err)}` };
}

/** One line: the message, with a QuorumError's stable code in front. */
function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s*\n\s*/g, ' ');
  return err instanceof QuorumError ? `[${err.code}] ${line}` : line;
}
