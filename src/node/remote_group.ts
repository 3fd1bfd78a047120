import type { ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import type { Reply } from '../resp/reply.js';
import type { ForwardResult, GrpcForwarder } from '../transport/forward.js';
import { clusterDownReply, unansweredWriteReply } from './gateway.js';

export interface RemoteGroupOptions {
  readonly groupId: string;
  readonly forwarder: GrpcForwarder;
  /** The nodes to try, best first: the group's preferred leader, then its other voters. */
  readonly candidates: () => readonly string[];
  readonly clock: () => number;
  /** How long to keep trying before giving up (-CLUSTERDOWN, or -UNKNOWN for a write that may have run). */
  readonly leaderWaitMs: number;
  /** Unique per process incarnation: prefix of the request ids of the writes sent from here. */
  readonly requestIdPrefix: string;
}

const retryPauseMs = 20;

/**
 * A data group this node hosts no replica of, served through the nodes that do:
 *
 *   writes ─▶ validated here ─▶ Forward to the node believed to lead (the group's preferred
 *             leader first; a not-leader answer names the leader it knows) ─▶ its reply
 *   reads  ─▶ Read at a node hosting the group (any voter: it serves them after a ReadIndex
 *             barrier, so they are linearizable there as here)
 *
 * Each write keeps its request id across retries, as the gateway's do, so a retry through another
 * node after a lost answer is answered from the group's dedup table instead of running twice; when
 * the deadline passes with the outcome open, the client is told it is unknown.
 */
export class RemoteGroup {
  /** Always: whether the group serves is for the nodes that host it to say. */
  readonly serving = true;
  private target: string | null = null;
  private nextRequest = 1;

  constructor(private readonly options: RemoteGroupOptions) {}

  get groupId(): string {
    return this.options.groupId;
  }

  /** The node to try now: the last one that answered well, or the first candidate. */
  private pick(): string | undefined {
    const candidates = this.options.candidates();
    if (this.target !== null && candidates.includes(this.target)) return this.target;
    return candidates[0];
  }

  /** After a failed attempt at `failed`: the hinted leader, or the next candidate. */
  private moveOn(failed: string, hint: string | undefined): void {
    const candidates = this.options.candidates();
    if (hint && hint !== failed && candidates.includes(hint)) {
      this.target = hint;
      return;
    }
    const i = candidates.indexOf(failed);
    this.target = candidates[(i + 1) % Math.max(1, candidates.length)] ?? null;
  }

  async readRun(items: readonly { spec: ReadCommandSpec; args: readonly Buffer[] }[]): Promise<Reply[]> {
    const { clock, leaderWaitMs } = this.options;
    const deadline = clock() + leaderWaitMs;
    for (;;) {
      const node = this.pick();
      if (node !== undefined) {
        try {
          const r = await this.options.forwarder.read(this.options.groupId, node, items.map((i) => i.args), deadline);
          if (r.hosted && r.replies.length === items.length) {
            this.target = node;
            return [...r.replies];
          }
          this.moveOn(node, r.leaderHint);
        } catch {
          this.moveOn(node, undefined);
        }
      }
      if (clock() >= deadline) return items.map(() => clusterDownReply(leaderWaitMs));
      await new Promise((r) => setTimeout(r, retryPauseMs));
    }
  }

  async writeRun(items: readonly { spec: WriteCommandSpec; args: readonly Buffer[] }[]): Promise<Reply[]> {
    const { clock, leaderWaitMs } = this.options;
    const now = clock();
    const replies: Reply[] = new Array(items.length);
    // Validated here, so bad input never leaves the node; the leader prepares again with its clock.
    let pending: { index: number; requestId: string; args: readonly Buffer[] }[] = [];
    items.forEach(({ spec, args }, index) => {
      const prepared = spec.prepare(args, now);
      if (!Array.isArray(prepared)) replies[index] = prepared as Reply;
      else pending.push({ index, requestId: `${this.options.requestIdPrefix}${(this.nextRequest++).toString(36)}`, args });
    });
    const deadline = now + leaderWaitMs;
    let uncertain = false;
    while (pending.length > 0) {
      const node = this.pick();
      if (node !== undefined) {
        let results: readonly ForwardResult[] | null = null;
        try {
          results = await this.options.forwarder.forward(this.options.groupId, node, pending.map((p) => ({ requestId: p.requestId, args: p.args })), deadline + 30_000);
        } catch {
          uncertain = true;
          this.moveOn(node, undefined);
        }
        if (results) {
          const retry: typeof pending = [];
          let hint: string | undefined;
          results.forEach((r, k) => {
            if (r.status === 'ok') replies[pending[k]!.index] = r.reply!;
            else {
              if (r.status === 'unknown') uncertain = true;
              hint ??= r.leaderHint;
              retry.push(pending[k]!);
            }
          });
          if (retry.length === 0) this.target = node;
          else this.moveOn(node, hint);
          pending = retry;
          if (pending.length === 0) break;
        }
      }
      if (clock() >= deadline) {
        const reply = unansweredWriteReply(uncertain, leaderWaitMs);
        for (const p of pending) replies[p.index] = reply;
        break;
      }
      await new Promise((r) => setTimeout(r, retryPauseMs));
    }
    return replies;
  }
}
