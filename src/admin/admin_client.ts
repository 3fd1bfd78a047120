import type { LeaderCall } from '../node/membership.js';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { loadProto, serviceDefinition } from '../transport/proto_files.js';
import { QuorumError } from '../util/errors.js';
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
 *
 * Status changes nothing, so every outcome is `fail`; calls that change the cluster will report a
 * timeout as `unknown`.
 */
export class AdminError extends QuorumError {
  readonly grpcCode: grpc.status;

  constructor(code: string, message: string, grpcCode: grpc.status, options?: { cause?: unknown }) {
    super(code, message, 'fail', options);
    this.name = 'AdminError';
    this.grpcCode = grpcCode;
  }
}

/** The status of the node whose gRPC listener is at `address` (host:port). */
export async function adminStatus(address: string, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<NodeStatus> {
  const reply = await unaryCall<Record<string, never>, StatusReplyWire>(address, 'Status', {}, options);
  return statusFromWire(reply);
}

/** Runs a membership change at the node at `address` (it passes it on to the leader); one line back. */
export async function adminChange(address: string, call: LeaderCall, options: AdminCallOptions = { timeoutMs: defaultAdminTimeoutMs }): Promise<string> {
  let reply: { message: string };
  switch (call.kind) {
    case 'add-node':
      reply = await unaryCall(address, 'AddNode', { nodeId: call.nodeId, grpcAddress: call.address }, options);
      break;
    case 'remove-node':
      reply = await unaryCall(address, 'RemoveNode', { nodeId: call.nodeId }, options);
      break;
    case 'transfer-leader':
      reply = await unaryCall(address, 'TransferLeader', { toNodeId: call.to, groupId: '' }, options);
      break;
  }
  return reply.message;
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
      return new AdminError('ADMIN_UNREACHABLE', `cannot reach the admin API at ${address}: ${details}`, err.code, { cause: err });
    case grpc.status.DEADLINE_EXCEEDED:
      return new AdminError('ADMIN_TIMEOUT', `no answer from ${address} within ${timeoutMs} ms (${method})`, err.code, { cause: err });
    case grpc.status.UNIMPLEMENTED:
      return new AdminError('ADMIN_UNIMPLEMENTED', `${address} does not offer ${method}: ${details}`, err.code, { cause: err });
    default:
      return new AdminError('ADMIN_FAILED', `${method} at ${address} failed: ${details}`, err.code, { cause: err });
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
