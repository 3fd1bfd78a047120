import { integer, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { everyArgumentIsAKey, keyRange } from '../key_specs.js';

/**
 * DEL and UNLINK: one worker (delGenericCommand). UNLINK's lazy freeing is the runtime's business
 * here; both reply with the number of keys that existed (a repeated key counts once).
 */
function applyDelete(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  let deleted = 0;
  for (let i = 1; i < args.length; i++) {
    if (ks.delete(args[i]!, entryTimeMs)) deleted++;
  }
  return integer(deleted);
}

const deleteMetadata = {
  kind: 'write',
  arity: -2,
  ...everyArgumentIsAKey,
  group: 'generic',
  tips: ['request_policy:multi_shard', 'response_policy:agg_sum'],
  keySpecs: [keyRange(1, -1, 1, ['RM', 'delete'])],
  prepare: asIs,
  apply: applyDelete,
} as const;

export const del = {
  ...deleteMetadata,
  name: 'del',
  flags: ['write'],
  categories: ['keyspace', 'write', 'slow'],
  summary: 'Delete a key',
  since: '1.0.0',
  complexity:
    'O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).',
} as const satisfies WriteCommandSpec;

export const unlink = {
  ...deleteMetadata,
  name: 'unlink',
  flags: ['write', 'fast'],
  categories: ['keyspace', 'write', 'fast'],
  summary: 'Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.',
  since: '4.0.0',
  complexity:
    'O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.',
} as const satisfies WriteCommandSpec;
