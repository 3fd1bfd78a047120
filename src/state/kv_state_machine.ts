import type { VisitableRecords } from '../storage/snapshot_format.js';
import { error, ok, type Reply } from '../resp/reply.js';
import { commandKeys, wrongGroupReply, type KeyPositions } from './command_keys.js';
import { DedupTable } from './dedup_table.js';
import { GroupMembers } from './group_members.js';
import type { Keyspace } from './keyspace.js';
import { loadStateImage, packedStateImage, type DedupRecord, type MembersRecord } from './snapshot_image.js';
import { SlotSet } from './slot_set.js';
import type { MemberChange, ReplicatedStateMachine, StateImage } from './state_machine.js';
import { WriteFlags, decodeWrites } from './write_entry.js';

/** A replicated command as apply runs it: deterministic, "now" is the entry's time. */
export interface AppliedCommand extends KeyPositions {
  apply(keyspace: Keyspace, args: readonly Buffer[], timeMs: number): Reply;
}

export interface KvStateMachineOptions {
  /** A fresh, empty keyspace (restore loads an image into one before swapping it in). */
  readonly newKeyspace: () => Keyspace;
  /** Every replicated command by lower-case name, the internal ones included. */
  readonly resolveWrite: (lowerCaseName: string) => AppliedCommand | undefined;
  /**
   * Called, inside the apply of a split entry, with the new group's state: the host makes the new
   * group's replica of it (the same on every replica of the parent, at the same index).
   */
  readonly onSplit?: (split: SplitOff) => void;
}

/** What a split hands the host: the new group's id and state, as of the split entry's index. */
export interface SplitOff {
  readonly childGroupId: string;
  readonly index: number;
  readonly keyspace: Keyspace;
  /** Every dedup record of the parent: a write applied before the split and retried at the new group gets its reply. */
  readonly dedup: readonly DedupRecord[];
  readonly members: MembersRecord;
}

/**
 * `qkv.split CHILD FIRST-SLOT`: the group gives every slot it owns from FIRST-SLOT on, and the keys
 * in them, to a new group CHILD on the same members. Applied by the state machine itself (it
 * changes the whole state, not the keyspace alone); the command table lists it so that it is
 * known as internal.
 */
export const SPLIT_COMMAND = 'qkv.split';

/**
 * The replicated key-value state machine of one group: the keyspace, the dedup table of request
 * ids, and the group's members. Deterministic ('Deterministic apply' in docs/design.md): "now"
 * is the entry's timestamp, and an entry that cannot be decoded or names an unknown command
 * yields the same error reply everywhere instead of throwing (a poison entry must not stop every
 * replica).
 */
export class KvStateMachine implements ReplicatedStateMachine<Reply | Reply[]> {
  readonly dedup = new DedupTable();
  readonly members = new GroupMembers();
  /** The live keyspace: the same object for the machine's life (restore swaps its contents). */
  readonly keyspace: Keyspace;
  appliedWrites = 0;

  constructor(private readonly options: KvStateMachineOptions) {
    this.keyspace = options.newKeyspace();
  }

  /**
   * A single write's reply, or a batch's replies in order (see write_entry.ts).
   *
   * The decoded arguments are views into `payload`, which on a follower is itself a view into a
   * whole gRPC batch of entries. Nothing long-lived keeps them: the keyspace copies a value into a
   * string, or a large one into a Buffer of its own (keyspace.ts, StoredValue), and replies (kept
   * by the dedup table) are built from keyspace reads and constants. So the payload is not copied.
   */
  apply(index: number, payload: Uint8Array, requestId: string): Reply | Reply[] {
    this.applyingIndex = index;
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
    if (name === SPLIT_COMMAND) {
      const reply = this.applySplit(args);
      if (retriable) this.dedup.remember(requestId, reply, timeMs);
      return reply;
    }
    const command = this.options.resolveWrite(name);
    if (command === undefined) return error(`ERR internal: unknown replicated command '${name}'`);
    // A write routed here for a slot this group does not own (a stale route): refused, not
    // remembered, so that its retry at the owning group is applied there, once.
    if (!this.keyspace.ownsAllSlots) {
      const unowned = this.keyspace.firstUnownedSlot(commandKeys(args, command));
      if (unowned >= 0) return wrongGroupReply(unowned);
    }
    const reply = command.apply(this.keyspace, args, timeMs);
    this.appliedWrites++;
    if (retriable) this.dedup.remember(requestId, reply, timeMs);
    return reply;
  }

  /** The index of the entry being applied (a split's child starts from it). */
  private applyingIndex = 0;

  /**
   * Splits off every owned slot from the given one on, with its keys, into a new group. Refused,
   * changing nothing, when that would leave either side without slots.
   */
  private applySplit(args: readonly Buffer[]): Reply {
    if (args.length !== 3) return error('ERR internal: qkv.split takes a group id and a slot');
    const childGroupId = args[1]!.toString('latin1');
    const first = Number(args[2]!.toString('latin1'));
    const owned = this.keyspace.ownedSlots;
    if (!Number.isInteger(first) || first < 0 || first >= 16384) return error(`ERR split slot ${args[2]!.toString('latin1')} is not a slot`);
    const moved = SlotSet.empty();
    for (const [a, b] of owned.ranges()) if (b >= first) moved.addRange([Math.max(a, first), b]);
    if (moved.size === 0 || moved.size === owned.size) {
      return error(`ERR cannot split at slot ${first}: the group owns ${owned.toString() || 'no slots'}, and both sides need slots`);
    }
    const keyspace = this.keyspace.extractSlots(moved);
    this.options.onSplit?.({ childGroupId, index: this.applyingIndex, keyspace, dedup: [...this.dedup.image()], members: this.members.record() });
    return ok;
  }

  applyMemberChange(change: MemberChange): void {
    this.members.apply(change);
  }

  /** The keys (copy-on-write), the dedup table and the members, all as of this instant. */
  beginSnapshot(): StateImage {
    const keys = this.keyspace.beginSnapshot();
    const records = packedStateImage(keys, this.dedup.image(), this.members.record(), this.keyspace.ownedSlots.copy());
    return { records, release: () => keys.release() };
  }

  async restore(image: VisitableRecords): Promise<() => void> {
    const keyspace = this.options.newKeyspace();
    const dedup: DedupRecord[] = [];
    let members: MembersRecord | null = null;
    let slots: SlotSet | null = null;
    await loadStateImage(image, {
      keyspace,
      dedup: (r) => dedup.push(r),
      members: (r) => {
        members = r;
      },
      slots: (r) => {
        slots = r;
      },
    });
    keyspace.setOwnedSlots(slots ?? SlotSet.all());
    return () => {
      this.keyspace.adopt(keyspace);
      this.dedup.restore(dedup);
      if (members !== null) this.members.replace(members);
    };
  }
}
