import type { CommandSpec, ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import type { ConnectionContext, ConnectionHandler } from '../commands/connection_context.js';
import { ProposalDroppedError } from '../raft/errors.js';
import { error, type Reply } from '../resp/reply.js';
import type { Keyspace } from '../state/keyspace.js';
import { NoLeaderError, NotReadyError, OutcomeUnknownError } from '../util/errors.js';
import type { RaftGroup } from './raft_group.js';
import { WriteFlags, encodeWriteEntry } from './write_entry.js';

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
}

/** Sends writes to the leader's gateway (gRPC Forward); batched by the caller. */
export interface Forwarder {
  forward(leaderId: string, writes: readonly ForwardedWrite[], deadlineMs: number): Promise<ForwardResult[]>;
}

/** A client command resolved against the table: Redis's unknown-command and arity checks done. */
export type CommandResolution =
  | {
      readonly ok: true;
      /** The spec that runs (a subcommand's, for CLIENT SETNAME and the like). */
      readonly spec: CommandSpec;
      /** Redis's full name (`get`, `client|setname`), for CLIENT LIST's cmd=. */
      readonly fullName: string;
      /** For connection commands. */
      readonly handler?: ConnectionHandler;
    }
  | { readonly ok: false; readonly reply: Reply };

export interface GatewayOptions {
  readonly group: RaftGroup;
  readonly keyspace: Keyspace;
  /** Finds the command (unknown command / subcommand and arity errors as Redis words them). */
  readonly resolve: (args: readonly Buffer[]) => CommandResolution;
  readonly forwarder: Forwarder;
  readonly clock: () => number;
  readonly random: () => number;
  /** How long to wait for a leader (and to keep retrying a write) before giving up. */
  readonly leaderWaitMs: number;
  /** Unique per process incarnation: prefix of the request ids this node creates. */
  readonly requestIdPrefix: string;
}

/** Replies of quorumkv's own (contract: a Redis-style code word first). */
export const clusterDownReply = (waitMs: number): Reply =>
  error(`CLUSTERDOWN The cluster is down: no leader elected within ${waitMs} ms`);
export const outcomeUnknownReply = (why: string): Reply =>
  error(`UNKNOWN write outcome unknown (${why}); it may or may not have been applied`);

const retryPauseMs = 20;

/**
 * Runs client commands against the group: the routing and waiting part of the command path
 * (design.md), independent of the connection that carried them.
 *
 *   connection command ─▶ handler(ctx)                          (local, immediate)
 *   write  ─▶ leader? prepare ─▶ propose ─▶ applied ─▶ reply
 *            follower?  forward to the leader over gRPC, same request id on every retry
 *   read   ─▶ ReadIndex barrier (leader or follower) ─▶ read the local state ─▶ reply
 *
 * Every write carries a request id and the dedup flag, so when leadership changes under it,
 * retrying through the new leader is safe: the replicated dedup table answers a retry of a write
 * that did commit with its first reply. Only when the deadline passes with the outcome still
 * open does the client get an error, and then one that says the outcome is unknown.
 */
export class Gateway {
  private nextRequest = 1;

  constructor(private readonly options: GatewayOptions) {}

  /** Resolves with the reply to send (never rejects). */
  /**
   * Runs one client command. Connection commands answer at once (no promise); reads and writes
   * resolve when they are done. Never rejects: every failure is a reply.
   */
  execute(ctx: ConnectionContext, args: readonly Buffer[]): Reply | Promise<Reply> {
    const resolution = this.options.resolve(args);
    if (!resolution.ok) return resolution.reply;
    const { spec } = resolution;
    ctx.client.lastCommand = resolution.fullName;
    try {
      switch (spec.kind) {
        case 'connection':
          return resolution.handler ? resolution.handler(ctx, args) : error(`ERR internal error: no handler for '${resolution.fullName}'`);
        case 'read':
          return this.read(spec, args).catch(internalError);
        case 'write':
          return this.write(spec, args, this.newRequestId()).catch(internalError);
      }
    } catch (err) {
      return internalError(err);
    }
  }

  newRequestId(): string {
    return this.options.requestIdPrefix + (this.nextRequest++).toString(36);
  }

  // ------------------------------------------------------------------ reads

  private async read(spec: ReadCommandSpec, args: readonly Buffer[]): Promise<Reply> {
    const invalid = spec.validate(args);
    if (invalid) return invalid;
    const { group, leaderWaitMs, clock } = this.options;
    const deadline = clock() + leaderWaitMs;
    for (;;) {
      if (group.leaderId() !== '') {
        try {
          await withDeadline(group.readBarrier(), deadline - clock());
          return spec.read(this.options.keyspace, args, clock(), this.options.random);
        } catch (err) {
          if (err instanceof NotReadyError) return error(`ERR ${err.message}`);
          // The leader changed or the barrier timed out: nothing was changed, so try again.
        }
      }
      if (clock() >= deadline) return clusterDownReply(leaderWaitMs);
      await sleep(retryPauseMs);
    }
  }

  // ------------------------------------------------------------------ writes

  /**
   * Validates and rewrites on this node, then routes. `requestId` stays the same across every
   * retry of this client request.
   */
  async write(spec: WriteCommandSpec, args: readonly Buffer[], requestId: string): Promise<Reply> {
    const { group, leaderWaitMs, clock } = this.options;
    // Validate here so that bad input never reaches the leader or the log.
    const prepared = spec.prepare(args, clock());
    if (!Array.isArray(prepared)) return prepared as Reply;
    const deadline = clock() + leaderWaitMs;
    let uncertain = false;
    for (;;) {
      const leader = group.leaderId();
      if (leader === group.nodeId) {
        const result = await this.proposeLocally(spec, args, requestId, deadline);
        if (result.status === 'ok') return result.reply!;
        if (result.status === 'unknown') uncertain = true;
      } else if (leader !== '') {
        try {
          const [result] = await this.options.forwarder.forward(leader, [{ requestId, args }], deadline);
          if (result.status === 'ok') return result.reply!;
          if (result.status === 'unknown') uncertain = true;
        } catch {
          // Transport failure: the leader may or may not have received it.
          uncertain = true;
        }
      }
      if (clock() >= deadline) {
        return uncertain ? outcomeUnknownReply(`no answer from a leader within ${leaderWaitMs} ms`) : clusterDownReply(leaderWaitMs);
      }
      await sleep(retryPauseMs);
    }
  }

  /**
   * Proposes a write on this node, which believes it is the leader: re-prepares with its own
   * clock (the leader stamps time, design invariant 3) and waits for it to apply.
   */
  async proposeLocally(spec: WriteCommandSpec, args: readonly Buffer[], requestId: string, deadlineMs: number): Promise<ForwardResult> {
    const { group, clock } = this.options;
    if (!group.isLeader()) return { status: 'not-leader' };
    const now = clock();
    const prepared = spec.prepare(args, now);
    if (!Array.isArray(prepared)) return { status: 'ok', reply: prepared as Reply };
    const payload = encodeWriteEntry({ flags: WriteFlags.dedup, timeMs: now, args: prepared as readonly Buffer[] });
    try {
      const reply = (await withDeadline(group.propose(payload, requestId), deadlineMs - clock())) as Reply;
      return { status: 'ok', reply };
    } catch (err) {
      if (err instanceof ProposalDroppedError || err instanceof NoLeaderError) return { status: 'not-leader' };
      if (err instanceof OutcomeUnknownError || err instanceof DeadlineError) return { status: 'unknown' };
      if (err instanceof NotReadyError) return { status: 'ok', reply: error(`ERR ${err.message}`) };
      throw err;
    }
  }

  /** The leader's side of Forward: runs writes that followers received. */
  async handleForwarded(
    writes: readonly ForwardedWrite[],
    resolveWrite: (name: string) => WriteCommandSpec | undefined,
    deadlineMs: number,
  ): Promise<ForwardResult[]> {
    return Promise.all(
      writes.map(async (w) => {
        const spec = resolveWrite(w.args[0].toString('latin1').toLowerCase());
        if (!spec) return { status: 'ok' as const, reply: error('ERR unknown forwarded command') };
        return this.proposeLocally(spec, w.args, w.requestId, deadlineMs);
      }),
    );
  }
}

function internalError(err: unknown): Reply {
  return error(`ERR internal error: ${(err as Error).message}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class DeadlineError extends Error {
  constructor() {
    super('deadline exceeded');
    this.name = 'DeadlineError';
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return Promise.reject(new DeadlineError());
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
