import * as grpc from '@grpc/grpc-js';
import { serviceDefinition, loadProto } from '../transport/proto_files.js';
import { QuorumError } from '../util/errors.js';
import { statusToWire } from './status.js';
import type { StatusProvider, StatusReplyWire } from './status.js';

/** The Admin service of proto/admin.proto as proto-loader builds it. */
export function adminServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition(loadProto('admin.proto'), 'quorumkv.admin.v1.Admin') as unknown as grpc.ServiceDefinition;
}

/** Methods declared for later issues, with the reason the server gives until then. */
const notYet = {
  AddNode: 'adding nodes arrives with the membership issue',
  RemoveNode: 'removing nodes arrives with the membership issue',
  TransferLeader: 'leadership transfer from the admin API arrives with the membership issue',
  Snapshot: 'snapshots arrive with the snapshots issue',
  Backup: 'backups arrive with the backup issue',
} as const;

/**
 * Adds the Admin service to `server` (the node's, shared with peer traffic). Status asks
 * `provider`; a provider that throws gives the client INTERNAL with the error's message (and its
 * code, for a QuorumError). The other methods answer UNIMPLEMENTED with the reason.
 */
export function registerAdminService(server: grpc.Server, provider: StatusProvider): void {
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
    AddNode: unary('AddNode'),
    RemoveNode: unary('RemoveNode'),
    TransferLeader: unary('TransferLeader'),
    Snapshot: unary('Snapshot'),
    Backup: (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', unimplemented('Backup')),
  });
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
