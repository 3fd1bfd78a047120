import { error, type Reply } from '../../resp/reply.js';
import { SPLIT_COMMAND } from '../../state/kv_state_machine.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { noKeys } from '../key_specs.js';

/**
 * `qkv.split CHILD FIRST-SLOT`: the split of a data group, an entry in its own log
 * (KvStateMachine.applySplit applies it: it changes the whole state, so this spec's apply is never
 * reached; it is here so that the entry is proposed and recognized like any internal command).
 */
export const split = {
  name: SPLIT_COMMAND,
  kind: 'write',
  arity: 3,
  flags: ['write', 'admin'],
  ...noKeys,
  categories: ['admin', 'write'],
  summary: 'Split the group: slots from FIRST-SLOT on move to group CHILD (internal: admin split)',
  since: '0.2.0',
  group: 'cluster',
  complexity: 'O(N) where N is the number of keys in the group.',
  keySpecs: [],
  prepare: asIs,
  apply: (): Reply => error('ERR internal: qkv.split is applied by the state machine'),
} as const satisfies WriteCommandSpec;

export function splitArgs(childGroupId: string, firstSlot: number): Buffer[] {
  return [Buffer.from(SPLIT_COMMAND), Buffer.from(childGroupId, 'latin1'), Buffer.from(String(firstSlot), 'latin1')];
}
