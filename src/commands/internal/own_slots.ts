import { error, ok, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { SlotSet, parseSlotRanges } from '../../state/slot_set.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { noKeys } from '../key_specs.js';

/**
 * `qkv.own-slots RANGES`: the group's keyspace serves exactly these hash slots from this entry on
 * (`0-5460,10923`). A new group's log carries one among its bootstrap entries, so every replica
 * knows its share from the first index; a split or a merge changes it by another. Keys already in
 * the keyspace are left as they are (moving them is the split's work).
 *
 * Internal: never listed by COMMAND, never callable by a client.
 */
function applyOwnSlots(ks: Keyspace, args: readonly Buffer[]): Reply {
  try {
    ks.setOwnedSlots(SlotSet.of(parseSlotRanges(args[1]!.toString('latin1'))));
  } catch (err) {
    return error(`ERR internal: ${(err as Error).message}`);
  }
  return ok;
}

export const OWN_SLOTS_COMMAND = 'qkv.own-slots';

export const ownSlots = {
  name: OWN_SLOTS_COMMAND,
  kind: 'write',
  arity: 2,
  flags: ['write', 'admin'],
  ...noKeys,
  categories: ['admin', 'write'],
  summary: 'Set the hash slots the group serves (internal: group bootstrap, split)',
  since: '0.2.0',
  group: 'cluster',
  complexity: 'O(N) where N is the number of slots.',
  keySpecs: [],
  prepare: asIs,
  apply: applyOwnSlots,
} as const satisfies WriteCommandSpec;

/** The arguments of an ownership entry for `slots`. */
export function ownSlotsArgs(slots: SlotSet): Buffer[] {
  return [Buffer.from(OWN_SLOTS_COMMAND), Buffer.from(slots.toString(), 'latin1')];
}
