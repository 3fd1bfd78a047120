import type { WriteCommandSpec } from '../commands/command_spec.js';
import { error, type Reply } from '../resp/reply.js';
import type { Keyspace } from '../state/keyspace.js';
import { DedupTable } from './dedup_table.js';
import type { GroupStateMachine } from './raft_group.js';
import { WriteFlags, decodeWrites } from './write_entry.js';

/**
 * The replicated key-value state machine of one group: applies committed write entries to the
 * keyspace. Deterministic (design invariant 3): "now" is the entry's timestamp, and an entry
 * that cannot be decoded or names an unknown command yields the same error reply everywhere
 * instead of throwing (a poison entry must not stop every replica).
 */
export class KvStateMachine implements GroupStateMachine {
  readonly dedup = new DedupTable();
  appliedWrites = 0;

  constructor(
    readonly keyspace: Keyspace,
    private readonly resolveWrite: (lowerCaseName: string) => WriteCommandSpec | undefined,
  ) {}

  /**
   * A single write's reply, or a batch's replies in order (see write_entry.ts).
   *
   * The decoded arguments are views into `payload`, which on a follower is itself a view into a
   * whole gRPC batch of entries. Nothing long-lived keeps them: the keyspace copies a value into a
   * string, or a large one into a Buffer of its own (keyspace.ts, StoredValue), and replies (kept
   * by the dedup table) are built from keyspace reads and constants. So the payload is not copied.
   */
  apply(_index: number, payload: Uint8Array, requestId: string): Reply | Reply[] {
    let decoded;
    try {
      decoded = decodeWrites(payload);
    } catch (err) {
      return error(`ERR internal: undecodable log entry (${(err as Error).message})`);
    }
    const retriable = (decoded.flags & WriteFlags.dedup) !== 0;
    if ((decoded.flags & WriteFlags.batch) === 0) return this.applyOne(decoded.writes[0]!.args, requestId, retriable, decoded.timeMs);
    return decoded.writes.map((w) => this.applyOne(w.args, w.requestId!, retriable, decoded.timeMs));
  }

  private applyOne(args: readonly Buffer[], requestId: string, retriable: boolean, timeMs: number): Reply {
    if (retriable) {
      const seen = this.dedup.get(requestId);
      if (seen) return seen;
    }
    const name = args.length > 0 ? args[0]!.toString('latin1').toLowerCase() : '';
    const spec = this.resolveWrite(name);
    const reply = spec ? spec.apply(this.keyspace, args, timeMs) : error(`ERR internal: unknown replicated command '${name}'`);
    this.appliedWrites++;
    if (retriable) this.dedup.remember(requestId, reply, timeMs);
    return reply;
  }
}

