import * as grpc from '@grpc/grpc-js';
import { serviceDefinition, loadProto } from '../transport/proto_files.js';
import { QuorumError } from '../util/errors.js';
import { statusToWire } from './status.js';
import type { StatusProvider, StatusReplyWire } from './status.js';
import type { LeaderCall } from '../node/membership.js';

/** The Admin service of proto/admin.proto as proto-loader builds it. */
export function adminServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition(loadProto('admin.proto'), 'quorumkv.admin.v1.Admin') as unknown as grpc.ServiceDefinition;
}

/** Methods declared for later issues, with the reason the server gives until then. */
const notYet = {
  Snapshot: 'snapshots arrive with the snapshots issue',
  Backup: 'backups arrive with the backup issue',
} as const;

/**
 * Adds the Admin service to `server` (the node's, shared with peer traffic). Status asks
 * `provider`; a provider that throws gives the client INTERNAL with the error's message (and its
 * code, for a QuorumError). The other methods answer UNIMPLEMENTED with the reason.
 */
export function registerAdminService(server: grpc.Server, provider: StatusProvider, membership?: MembershipProvider): void {
  const unimplemented = (method: keyof typeof notYet): grpc.ServiceError => {
    const error = new Error(`${method} is not implemented yet: ${notYet[method]}`) as grpc.ServiceError;
    error.code = grpc.status.UNIMPLEMENTED;
    error.details = error.message;
    return error;
  };
  const unary =
    (method: keyof typeof notYet) =>
    (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void =>
      callback(unimplemented(method));

  server.addService(adminServiceDefinition(), {
    Status: (_call: grpc.ServerUnaryCall<unknown, StatusReplyWire>, callback: grpc.sendUnaryData<StatusReplyWire>) => {
      answerStatus(provider).then(
        (reply) => callback(null, reply),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: `status failed: ${describe(err)}` }),
      );
    },
    AddNode: change(membership, (r: { nodeId: string; grpcAddress: string }) => ({ kind: 'add-node', nodeId: r.nodeId, address: r.grpcAddress })),
    RemoveNode: change(membership, (r: { nodeId: string }) => ({ kind: 'remove-node', nodeId: r.nodeId })),
    TransferLeader: change(membership, (r: { toNodeId: string }) => ({ kind: 'transfer-leader', to: r.toNodeId })),
    Snapshot: unary('Snapshot'),
    Backup: (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', unimplemented('Backup')),
  });
}

/** What the node does for the membership calls (src/node/membership.ts). */
export interface MembershipProvider {
  change(call: LeaderCall): Promise<string>;
}

/** A membership call: one line back, or FAILED_PRECONDITION with the reason (and its code). */
function change<Req>(membership: MembershipProvider | undefined, toCall: (request: Req) => LeaderCall) {
  return (call: grpc.ServerUnaryCall<Req, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    if (!membership) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'this node offers no membership changes' });
      return;
    }
    membership.change(toCall(call.request)).then(
      (message) => callback(null, { message }),
      (err: unknown) => callback({ code: grpc.status.FAILED_PRECONDITION, details: describe(err) }),
    );
  };
}

async function answerStatus(provider: StatusProvider): Promise<StatusReplyWire> {
  return statusToWire(await provider.status());
}

/** One line: the message, with a QuorumError's stable code in front. */
function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s*\n\s*/g, ' ');
  return err instanceof QuorumError ? `[${err.code}] ${line}` : line;
}
