import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { writeBackupFromChunks } from '../storage/backup_file.js';
import type { BackupSummary } from '../storage/backup_file.js';
import { chunkHeaderBytes, maxChunkBytes } from '../storage/snapshot_format.js';
import type { SnapshotInfo } from '../storage/snapshot_format.js';
import { loadProto, serviceDefinition } from '../transport/proto_files.js';
import { QuorumError } from '../util/errors.js';
import { leaderGrpcMetadataKey, notHostedMetadataKey, refusalCodeMetadataKey, type GroupSummary, type MoveReplicaCall, type NodeSummary } from './admin_service.js';
import { groupOfCall, type MembershipCall } from './membership_call.js';
import { snapshotInfoFromWire } from './snapshot_wire.js';
import type { BackupChunkWire, SnapshotReplyWire } from './snapshot_wire.js';
import { statusFromWire } from './status.js';
import type { NodeStatus, StatusReplyWire } from './status.js';

export interface AdminCallOptions {
  /** Deadline of the whole call, connecting included. */
  readonly timeoutMs: number;
}

export const defaultAdminTimeoutMs = 5_000;

/**
 * A failed admin call, with a one-line message for the operator.
 *
 * | code                   | when                                                |
 * | ---------------------- | --------------------------------------------------- |
 * | `ADMIN_UNREACHABLE`    | nothing answers at the address                      |
 * | `ADMIN_TIMEOUT`        | no answer within the deadline                       |
 * | `ADMIN_UNIMPLEMENTED`  | the node does not offer this call (yet)             |
 * | `ADMIN_FAILED`         | the node answered with an error                     |
 * | `ADMIN_NOT_LEADER`     | a backup asked of a follower, still so after the redirects |
 *
 * Status changes nothing, so every outcome is `fail`; calls that change the cluster will report a
 * timeout as `unknown`.
 */
export class AdminError extends QuorumError {
  readonly grpcCode: grpc.status;
  /** The node's own code for a refused call (UNKNOWN_GROUP, NOT_LEADER, ...), when it gave one. */
  readonly refusalCode: string | undefined;
  /** ADMIN_UNREACHABLE without ever connecting: the call certainly did not reach the node. */
  readonly neverConnected: boolean;

  constructor(code: string, message: string, grpcCode: grpc.status, options?: { cause?: unknown; refusalCode?: string; neverConnected?: boolean }) {
    super(code, message, 'fail', options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AdminError';
    this.grpcCode = grpcCode;
    this.refusalCode = options?.refusalCode;
    this.neverConnected = options?.neverConnected ?? false;
  }
}

/** The status of the node whose gRPC listener is at `address` (host:port). */
export async function adminStatus(address: string, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<NodeStatus> {
  const reply = await unaryCall<Record<string, never>, StatusReplyWire>(address, 'Status', {}, options);
  return statusFromWire(reply);
}

export type { MembershipCall };

/** What `admin split` asks: the group, the new group's first slot (null: the middle), and whether to wait until it serves. */
export interface SplitCall {
  readonly group: string;
  readonly atSlot: number | null;
  readonly wait: boolean;
}

/** Moves a group's replica at the node at `address` (it passes it on to the group's leader); one line back. */
export async function adminMoveReplica(address: string, call: MoveReplicaCall, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<string> {
  const reply: { message: string } = await unaryCall(
    address,
    'MoveReplica',
    { groupId: call.group, fromNodeId: call.from, toNodeId: call.to, grpcAddress: call.address ?? '', noWait: !call.wait },
    options,
  );
  return reply.message;
}

/**
 * What the node asked answers when a move it ran or passed on was cut short rather than refused
 * (the leader it passed the move to dropped the call, or went, and no other answered in time):
 * asked again, the move resumes.
 */
const moveCutShortCodes: ReadonlySet<string> = new Set(['ADMIN_UNREACHABLE', 'ADMIN_TIMEOUT', 'NO_LEADER', 'NOT_LEADER', 'TRANSFER_TIMEOUT']);

/** Between two askings of a move that was cut short. */
const moveResumePauseMs = 500;

/**
 * adminMoveReplica, asked again while the move is cut short and the deadline allows: a move is
 * resumable (each of its steps looks at the group's configuration first, and a finished one
 * answers as done), so an operator's move does not fail on a leader change or a dropped
 * connection it can go on after. Cut short: the node answered so (moveCutShortCodes), or ended
 * the call unanswered (cancelled: it was stopping), or the call to it dropped under way, or it
 * could not be reached after it had been (a restart). An address never reached fails at once,
 * as every admin call does. `onResume` hears each interruption.
 */
export async function adminMoveReplicaResuming(
  address: string,
  call: MoveReplicaCall,
  options: AdminCallOptions,
  onResume: (reason: AdminError) => void = () => {},
): Promise<string> {
  const deadline = Date.now() + options.timeoutMs;
  let reached = false;
  for (;;) {
    try {
      return await adminMoveReplica(address, call, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      if (!(err instanceof AdminError)) throw err;
      const cutShort =
        err.code === 'ADMIN_UNREACHABLE'
          ? reached || !err.neverConnected
          : err.code === 'ADMIN_FAILED' && (moveCutShortCodes.has(err.refusalCode ?? '') || (err.grpcCode === grpc.status.CANCELLED && err.refusalCode === undefined));
      if (!err.neverConnected) reached = true;
      if (!cutShort || Date.now() + moveResumePauseMs >= deadline) throw err;
      onResume(err);
      await new Promise((r) => setTimeout(r, moveResumePauseMs));
    }
  }
}

/** Every group of the cluster as the node at `address` sees it (`admin groups`). */
export async function adminGroups(address: string, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<GroupSummary[]> {
  const reply: { groups?: (Omit<GroupSummary, 'slots' | 'epoch' | 'keys' | 'bytes'> & { slots?: { first: number; last: number }[]; epoch: string | number; keys: string | number; bytes: string | number })[] } =
    await unaryCall(address, 'Groups', {}, options);
  return (reply.groups ?? []).map((g) => ({
    group: g.group,
    slots: (g.slots ?? []).map((r) => [r.first, r.last] as const),
    leader: g.leader,
    voters: g.voters ?? [],
    learners: g.learners ?? [],
    epoch: Number(g.epoch),
    keys: Number(g.keys),
    bytes: Number(g.bytes),
    writesPerSec: g.writesPerSec ?? 0,
    hosted: g.hosted ?? false,
  }));
}

/** Every node of the cluster as the node at `address` sees it (`admin nodes`). */
export async function adminNodes(address: string, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<NodeSummary[]> {
  const reply: { nodes?: { nodeId: string; grpcAddress: string; respAddress: string; zone: string; groups?: string[] }[] } = await unaryCall(address, 'Nodes', {}, options);
  return (reply.nodes ?? []).map((n) => ({ node: n.nodeId, grpc: n.grpcAddress, resp: n.respAddress, zone: n.zone, groups: n.groups ?? [] }));
}

/** Splits a group at the node at `address` (it passes it on to the group's leader); one line back. */
export async function adminSplit(address: string, call: SplitCall, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<string> {
  const reply: { message: string } = await unaryCall(address, 'Split', { groupId: call.group, atSlot: call.atSlot ?? -1, noWait: !call.wait }, options);
  return reply.message;
}

/** Runs a membership change at the node at `address` (it passes it on to the leader); one line back. */
export async function adminChange(address: string, call: MembershipCall, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<string> {
  let reply: { message: string };
  switch (call.kind) {
    case 'promote':
      reply = await unaryCall(address, 'PromoteNode', { nodeId: call.nodeId, groupId: groupOfCall(call) }, options);
      break;
    case 'add-node':
      reply = await unaryCall(address, 'AddNode', { nodeId: call.nodeId, grpcAddress: call.address, groupId: groupOfCall(call) }, options);
      break;
    case 'remove-node':
      reply = await unaryCall(address, 'RemoveNode', { nodeId: call.nodeId, groupId: groupOfCall(call) }, options);
      break;
    case 'transfer-leader':
      reply = await unaryCall(address, 'TransferLeader', { toNodeId: call.to, groupId: groupOfCall(call) }, options);
      break;
  }
  return reply.message;
}

/** Takes a snapshot of every group of the node at `address` now; the newest snapshot of each. */
export async function adminSnapshot(address: string, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<SnapshotInfo[]> {
  const reply = await unaryCall<Record<string, never>, SnapshotReplyWire>(address, 'Snapshot', {}, options);
  return reply.snapshots.map(snapshotInfoFromWire);
}

export interface BackupResult extends BackupSummary {
  /** The node the backup came from: `address`, or the leader it redirected to. */
  readonly from: string;
}

/** How many times a backup follows a node's pointer elsewhere: to a node hosting the group, then to its leader. */
const maxBackupRedirects = 2;

/**
 * Writes a backup of one group (`groupId`; '' : the cluster's only data group) to `path`: one
 * part of `quorumkv admin backup` (src/cli/cluster_backup.ts), streamed from the group's leader.
 * A node that does not lead the group answers with the leader's address, and one that hosts no
 * replica of it with a node that does: followed at most twice, and never back to a node already
 * asked. The file is written by writeBackupFromChunks: checked chunk by chunk against the
 * announced totals, and only renamed into place once complete, so a stream that breaks off or
 * does not add up leaves neither `path` nor `path.tmp` behind.
 *
 * `options.timeoutMs` bounds each wait for the next message (the first included), not the
 * whole transfer, so a large backup is not cut off as long as it keeps moving.
 */
export async function adminBackup(address: string, path: string, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }, groupId = ''): Promise<BackupResult> {
  const asked = [address];
  for (let target = address; ; ) {
    try {
      return { ...(await backupFrom(target, path, options, groupId)), from: target };
    } catch (err) {
      if (!(err instanceof AdminNotLeaderError) || err.leaderGrpcAddress === null) {
        if (err instanceof AdminNotLeaderError && target !== address) {
          throw new AdminError('ADMIN_NOT_LEADER', `${chain(asked)}, which cannot give it either: ${err.details}`, err.grpcCode, { cause: err });
        }
        throw err;
      }
      const next = err.leaderGrpcAddress;
      if (asked.includes(next) || asked.length > maxBackupRedirects) {
        throw new AdminError('ADMIN_NOT_LEADER', `${chain(asked)}, which cannot give it either: ${err.details}`, err.grpcCode, { cause: err });
      }
      asked.push(next);
      target = next;
    }
  }
}

/** `a sent the backup to b, then c`. */
function chain(asked: readonly string[]): string {
  return `${asked[0]} sent the backup to ${asked.slice(1).join(', then ')}`;
}

/** FAILED_PRECONDITION from Backup: the node does not lead; where the leader is, if it knows. */
export class AdminNotLeaderError extends AdminError {
  constructor(
    message: string,
    readonly details: string,
    readonly leaderGrpcAddress: string | null,
    options: { cause?: unknown },
    /** The node hosts no replica of the group (it does not just lack the lead). */
    readonly notHosted = false,
  ) {
    super('ADMIN_NOT_LEADER', message, grpc.status.FAILED_PRECONDITION, options);
    this.name = 'AdminNotLeaderError';
  }
}

/** One Backup call into `path`; no redirect. */
async function backupFrom(address: string, path: string, options: AdminCallOptions, groupId: string): Promise<BackupSummary> {
  const method = adminMethod<{ groupId: string }, BackupChunkWire>('Backup');
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxChunkBytes + chunkHeaderBytes + 1024,
  });
  const call = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, { groupId });
  // An idle deadline: reset by every message, it cancels the call when the node goes quiet.
  let idle = false;
  let timer: NodeJS.Timeout | undefined;
  const armTimer = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      call.cancel();
    }, options.timeoutMs);
  };
  const messages = call[Symbol.asyncIterator]() as AsyncIterator<BackupChunkWire>;
  const next = async (): Promise<IteratorResult<BackupChunkWire>> => {
    armTimer();
    try {
      return await messages.next();
    } catch (err) {
      throw backupError(address, err, idle, options.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    const first = await next();
    if (first.done || !('header' in first.value) || !first.value.header) {
      throw new AdminError('ADMIN_FAILED', `Backup at ${address} failed: the stream did not start with a header`, grpc.status.INTERNAL);
    }
    const { info, chunkBytes } = first.value.header;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (;;) {
        const message = await next();
        if (message.done) return;
        if (!('chunk' in message.value) || !message.value.chunk) {
          throw new AdminError('ADMIN_FAILED', `Backup at ${address} failed: a second header arrived`, grpc.status.INTERNAL);
        }
        yield message.value.chunk;
      }
    }
    return await writeBackupFromChunks(path, snapshotInfoFromWire(info), chunkBytes, chunks());
  } finally {
    clearTimeout(timer);
    // A no-op once the call has ended; stops the node streaming when the file was refused. The
    // CANCELLED status it causes is expected, not an error to report.
    call.on('error', () => undefined);
    call.cancel();
    client.close();
  }
}

function backupError(address: string, err: unknown, idle: boolean, timeoutMs: number): AdminError {
  const serviceError = err as grpc.ServiceError;
  if (idle) return new AdminError('ADMIN_TIMEOUT', `no data from ${address} for ${timeoutMs} ms (Backup)`, grpc.status.DEADLINE_EXCEEDED, { cause: err });
  if (serviceError.code === grpc.status.FAILED_PRECONDITION) {
    const details = tidy(serviceError.details || serviceError.message);
    const leader = serviceError.metadata?.get(leaderGrpcMetadataKey)[0];
    const notHosted = serviceError.metadata?.get(notHostedMetadataKey)[0] === '1';
    return new AdminNotLeaderError(`Backup at ${address} failed: ${details}`, details, typeof leader === 'string' && leader !== '' ? leader : null, { cause: err }, notHosted);
  }
  return adminError(address, 'Backup', serviceError, timeoutMs);
}

function adminMethod<Req, Res>(name: string): MethodDefinition<Req, Res> {
  const service = serviceDefinition(loadProto('admin.proto'), 'quorumkv.admin.v1.Admin');
  return service[name] as unknown as MethodDefinition<Req, Res>;
}

/** One call on a fresh channel, closed afterwards (the CLI makes one call per process). */
async function unaryCall<Req, Res>(address: string, name: string, request: Req, options: AdminCallOptions): Promise<Res> {
  const method = adminMethod<Req, Res>(name);
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<Res>((resolve, reject) => {
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        { deadline: Date.now() + options.timeoutMs },
        (err, reply) => (err ? reject(adminError(address, name, err, options.timeoutMs)) : resolve(reply!)),
      );
    });
  } finally {
    client.close();
  }
}

function adminError(address: string, method: string, err: grpc.ServiceError, timeoutMs: number): AdminError {
  const details = tidy(err.details || err.message);
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return new AdminError('ADMIN_UNREACHABLE', `cannot reach the admin API at ${address}: ${details}`, err.code, {
        cause: err,
        neverConnected: (err.details || err.message).startsWith('No connection established'),
      });
    case grpc.status.DEADLINE_EXCEEDED:
      return new AdminError('ADMIN_TIMEOUT', `no answer from ${address} within ${timeoutMs} ms (${method})`, err.code, { cause: err });
    case grpc.status.UNIMPLEMENTED:
      return new AdminError('ADMIN_UNIMPLEMENTED', `${address} does not offer ${method}: ${details}`, err.code, { cause: err });
    default: {
      const refusal = err.metadata?.get(refusalCodeMetadataKey)[0];
      return new AdminError('ADMIN_FAILED', `${method} at ${address} failed: ${details}`, err.code, { cause: err, ...(typeof refusal === 'string' ? { refusalCode: refusal } : {}) });
    }
  }
}

/**
 * grpc-js details on one line, without its empty "Resolution note:" and with the socket error
 * itself when it wrapped one ("No connection established. Last error: Error: connect ECONNREFUSED
 * 127.0.0.1:1. Resolution note: " becomes "connect ECONNREFUSED 127.0.0.1:1").
 */
function tidy(details: string): string {
  const line = details.replace(/\s*\n\s*/g, ' ').replace(/\s*Resolution note:\s*$/, '');
  const socketError = /Last error: (?:Error: )?(.+?)\.?$/.exec(line);
  return socketError ? socketError[1] : line;
}
