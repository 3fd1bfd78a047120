import * as grpc from '@grpc/grpc-js';
import { loadProto, serviceDefinition } from './proto_files.js';
import { OncePerTurn } from '../util/once_per_turn.js';
import { decodeReply, encodeReply } from '../resp/reply_codec.js';
import type { Reply } from '../resp/reply.js';

/**
 * The Gateway service of proto/gateway.proto: followers forward the writes their clients sent to
 * the leader, batched per event-loop turn per leader; the leader runs them through its own
 * gateway and answers each with a status and its reply.
 */

/** What one forwarded write came back as. */
export type ForwardStatus = 'ok' | 'not-leader' | 'unknown';

export interface ForwardedWrite {
  readonly requestId: string;
  readonly args: readonly Buffer[];
}

export interface ForwardResult {
  readonly status: ForwardStatus;
  /** The leader's reply (status ok). */
  readonly reply?: Reply;
  /** Whom the called node knows as the group's leader (status not-leader), '' when none. */
  readonly leaderHint?: string;
}

/** What a Read call came back with. */
export interface ReadResult {
  /** False when the called node does not host the group (nothing was read). */
  readonly hosted: boolean;
  readonly replies: readonly Reply[];
  readonly leaderHint: string;
}

/** The serving side of Read: the group's replies to `commands`, read as a local read would be. */
export type ReadHandler = (groupId: string, commands: readonly (readonly Buffer[])[], deadlineMs: number) => Promise<{ hosted: boolean; replies: readonly Reply[] }>;

/** Sends writes to the leader's gateway (gRPC Forward); batched by the caller. */
export interface Forwarder {
  forward(leaderId: string, writes: readonly ForwardedWrite[], deadlineMs: number): Promise<ForwardResult[]>;
}

interface WireWrite {
  requestId: string;
  args: Buffer[];
}
interface WireRequest {
  groupId: string;
  timeoutMs: number;
  writes: WireWrite[];
}
interface WireResult {
  status: 'FORWARD_STATUS_OK' | 'FORWARD_STATUS_NOT_LEADER' | 'FORWARD_STATUS_UNKNOWN';
  reply: Buffer;
}
interface WireReadRequest {
  groupId: string;
  timeoutMs: number;
  commands: { args: Buffer[] }[];
}
interface WireReadReply {
  replies: Buffer[];
  leaderHint: string;
  hosted: boolean;
}

const statusToWire = {
  ok: 'FORWARD_STATUS_OK',
  'not-leader': 'FORWARD_STATUS_NOT_LEADER',
  unknown: 'FORWARD_STATUS_UNKNOWN',
} as const;

const statusFromWire = {
  FORWARD_STATUS_OK: 'ok',
  FORWARD_STATUS_NOT_LEADER: 'not-leader',
  FORWARD_STATUS_UNKNOWN: 'unknown',
} as const;

function gatewayService(): grpc.ServiceDefinition {
  return serviceDefinition(loadProto('gateway.proto'), 'quorumkv.gateway.v1.Gateway') as unknown as grpc.ServiceDefinition;
}

/** The leader's side: what to do with forwarded writes of a group. */
export type ForwardHandler = (groupId: string, writes: readonly ForwardedWrite[], deadlineMs: number) => Promise<ForwardResult[]>;

/** The meta group's records as a node's meta replica holds them (hosted false: it holds none). */
export interface MetaRecords {
  readonly hosted: boolean;
  readonly appliedIndex: number;
  readonly records: readonly (readonly [string, string])[];
}

export interface ForwardService {
  readonly forward: ForwardHandler;
  readonly read: ReadHandler;
  metaRecords(): MetaRecords;
  /** Whom this node knows as `groupId`'s leader ('' when none, or when it does not host the group). */
  leaderOf(groupId: string): string;
}

export function registerForwardService(server: grpc.Server, service: ForwardService, clock: () => number): void {
  server.addService(gatewayService(), {
    Forward: (call: grpc.ServerUnaryCall<WireRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const req = call.request;
      const deadline = clock() + Math.min(req.timeoutMs || 30_000, 120_000);
      service.forward(req.groupId, req.writes.map((w) => ({ requestId: w.requestId, args: w.args })), deadline).then(
        (results) =>
          callback(null, {
            results: results.map((r) => ({ status: statusToWire[r.status], reply: r.reply ? encodeReply(r.reply) : Buffer.alloc(0) })),
            leaderHint: service.leaderOf(req.groupId),
          }),
        (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }),
      );
    },
    MetaRecords: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      try {
        const m = service.metaRecords();
        callback(null, { hosted: m.hosted, appliedIndex: m.appliedIndex, records: m.records.map(([name, value]) => ({ name, value })) });
      } catch (err) {
        callback({ code: grpc.status.INTERNAL, details: (err as Error).message });
      }
    },
    Read: (call: grpc.ServerUnaryCall<WireReadRequest, unknown>, callback: grpc.sendUnaryData<WireReadReply>) => {
      const req = call.request;
      const deadline = clock() + Math.min(req.timeoutMs || 30_000, 120_000);
      service.read(req.groupId, req.commands.map((c) => c.args), deadline).then(
        (r) => callback(null, { replies: r.replies.map(encodeReply), leaderHint: service.leaderOf(req.groupId), hosted: r.hosted }),
        (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }),
      );
    },
  });
}

interface PendingWrite {
  write: ForwardedWrite;
  resolve: (r: ForwardResult) => void;
  reject: (e: unknown) => void;
}

/**
 * The follower's side, one per node: `forGroup(groupId)` is a group's Forwarder. Every write made
 * in the same turn of the event loop for the same group and leader goes in one call; calls to one
 * leader share its channel whatever their group.
 */
export class GrpcForwarder {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly pending = new Map<string, { groupId: string; leaderId: string; deadlineMs: number; writes: PendingWrite[] }>();
  private readonly flusher = new OncePerTurn(() => this.flush());
  private readonly ClientCtor: grpc.ServiceClientConstructor;

  constructor(
    private readonly addressOf: (nodeId: string) => string | undefined,
    private readonly clock: () => number,
  ) {
    this.ClientCtor = grpc.makeGenericClientConstructor(gatewayService(), 'Gateway');
  }

  forGroup(groupId: string): Forwarder {
    return { forward: (leaderId, writes, deadlineMs) => this.forward(groupId, leaderId, writes, deadlineMs) };
  }

  forward(groupId: string, leaderId: string, writes: readonly ForwardedWrite[], deadlineMs: number): Promise<ForwardResult[]> {
    const key = `${groupId}\0${leaderId}`;
    return Promise.all(
      writes.map(
        (write) =>
          new Promise<ForwardResult>((resolve, reject) => {
            let batch = this.pending.get(key);
            if (!batch) {
              batch = { groupId, leaderId, deadlineMs, writes: [] };
              this.pending.set(key, batch);
            }
            batch.deadlineMs = Math.max(batch.deadlineMs, deadlineMs);
            batch.writes.push({ write, resolve, reject });
            this.scheduleFlush();
          }),
      ),
    );
  }

  private scheduleFlush(): void {
    this.flusher.schedule();
  }

  private flush(): void {
    const batches = [...this.pending.values()];
    this.pending.clear();
    for (const batch of batches) this.send(batch.groupId, batch.leaderId, batch.deadlineMs, batch.writes);
  }

  private clientFor(nodeId: string): grpc.Client | null {
    const address = this.addressOf(nodeId);
    if (!address) return null;
    const key = `${nodeId}@${address}`;
    let client = this.clients.get(key);
    if (!client) {
      // Replies (GETSET's old value, say) can be as large as a value: no 4 MB default limit.
      client = new this.ClientCtor(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  private send(groupId: string, leaderId: string, deadlineMs: number, writes: PendingWrite[]): void {
    const client = this.clientFor(leaderId);
    if (!client) {
      for (const w of writes) w.resolve({ status: 'not-leader' });
      return;
    }
    const timeoutMs = Math.max(1, deadlineMs - this.clock());
    const request = {
      groupId,
      timeoutMs,
      writes: writes.map((w) => ({ requestId: w.write.requestId, args: w.write.args })),
    };
    const method = (client as unknown as Record<string, grpc.requestCallback<{ results: WireResult[]; leaderHint: string }> & Function>).Forward;
    method.call(
      client,
      request,
      { deadline: new Date(Date.now() + timeoutMs + 1_000) },
      (err: grpc.ServiceError | null, reply?: { results: WireResult[]; leaderHint: string }) => {
        if (err || !reply) {
          for (const w of writes) w.reject(err ?? new Error('empty forward reply'));
          return;
        }
        writes.forEach((w, i) => {
          const r = reply.results[i];
          if (!r) {
            w.reject(new Error('forward reply is missing a result'));
            return;
          }
          const status = statusFromWire[r.status];
          w.resolve(status === 'ok' ? { status, reply: decodeReply(r.reply) } : { status, leaderHint: reply.leaderHint });
        });
      },
    );
  }

  /** The meta group's records as node `nodeId` holds them; rejects on a transport failure. */
  metaRecords(nodeId: string, timeoutMs: number): Promise<MetaRecords> {
    const client = this.clientFor(nodeId);
    if (!client) return Promise.resolve({ hosted: false, appliedIndex: 0, records: [] });
    const method = (client as unknown as Record<string, grpc.requestCallback<{ hosted: boolean; appliedIndex: number; records: { name: string; value: string }[] }> & Function>).MetaRecords;
    return new Promise((resolve, reject) => {
      method.call(client, {}, { deadline: new Date(Date.now() + timeoutMs) }, (err: grpc.ServiceError | null, reply?: { hosted: boolean; appliedIndex: number; records: { name: string; value: string }[] }) => {
        if (err || !reply) reject(err ?? new Error('empty meta records reply'));
        else resolve({ hosted: reply.hosted, appliedIndex: Number(reply.appliedIndex), records: reply.records.map((r) => [r.name, r.value] as const) });
      });
    });
  }

  /** Reads of `groupId` served by node `nodeId` (which must host the group); rejects on a transport failure. */
  read(groupId: string, nodeId: string, commands: readonly (readonly Buffer[])[], deadlineMs: number): Promise<ReadResult> {
    const client = this.clientFor(nodeId);
    if (!client) return Promise.resolve({ hosted: false, replies: [], leaderHint: '' });
    const timeoutMs = Math.max(1, deadlineMs - this.clock());
    const method = (client as unknown as Record<string, grpc.requestCallback<WireReadReply> & Function>).Read;
    return new Promise((resolve, reject) => {
      method.call(
        client,
        { groupId, timeoutMs, commands: commands.map((args) => ({ args })) },
        { deadline: new Date(Date.now() + timeoutMs + 1_000) },
        (err: grpc.ServiceError | null, reply?: WireReadReply) => {
          if (err || !reply) reject(err ?? new Error('empty read reply'));
          else resolve({ hosted: reply.hosted, replies: reply.replies.map((r) => decodeReply(r)), leaderHint: reply.leaderHint });
        },
      );
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
