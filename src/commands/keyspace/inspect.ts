import { integer, simple, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import type { ReadCommandSpec } from '../command_spec.js';
import { everyArgumentIsAKey, keyAt, keyRange, oneKey } from '../key_specs.js';

/** EXISTS and TYPE: what is at a key, without touching it. */

const noneReply: Reply = Object.freeze(simple('none'));
const stringReply: Reply = Object.freeze(simple('string'));

/** Counts every argument, so a key given twice counts twice (as Redis). */
function readExists(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  let count = 0;
  for (let i = 1; i < args.length; i++) {
    if (ks.has(args[i]!, nowMs)) count++;
  }
  return integer(count);
}

function readType(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const value = ks.get(args[1]!, nowMs);
  if (value === undefined) return noneReply;
  return value.type === 'string' ? stringReply : simple(value.type);
}

export const exists = {
  name: 'exists',
  kind: 'read',
  arity: -2,
  flags: ['readonly', 'fast'],
  ...everyArgumentIsAKey,
  categories: ['keyspace', 'read', 'fast'],
  summary: 'Determine if a key exists',
  since: '1.0.0',
  group: 'generic',
  complexity: 'O(N) where N is the number of keys to check.',
  tips: ['request_policy:multi_shard', 'response_policy:agg_sum'],
  keySpecs: [keyRange(1, -1, 1, ['RO'])],
  history: [['3.0.3', 'Accepts multiple `key` arguments.']],
  validate: () => null,
  read: readExists,
} as const satisfies ReadCommandSpec;

export const type = {
  name: 'type',
  kind: 'read',
  arity: 2,
  flags: ['readonly', 'fast'],
  ...oneKey,
  categories: ['keyspace', 'read', 'fast'],
  summary: 'Determine the type stored at key',
  since: '1.0.0',
  group: 'generic',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RO'])],
  validate: () => null,
  read: readType,
} as const satisfies ReadCommandSpec;
