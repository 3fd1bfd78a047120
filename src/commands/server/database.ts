import { integer, ok, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { isOption } from '../arguments.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../command_spec.js';
import { noKeys } from '../key_specs.js';
import { syntaxError } from '../replies.js';

/**
 * FLUSHALL, FLUSHDB (one worker) and DBSIZE. quorumkv has one database per group, so both
 * flushes empty this group's keyspace; ASYNC and SYNC are accepted and mean the same here.
 */

function prepareFlush(args: readonly Buffer[]): readonly Buffer[] | Reply {
  if (args.length === 1) return args;
  if (args.length === 2 && (isOption(args[1]!, 'sync') || isOption(args[1]!, 'async'))) return args;
  return syntaxError;
}

function applyFlush(ks: Keyspace): Reply {
  ks.clear();
  return ok;
}

/** DBSIZE counts expired keys not yet deleted, as Redis's does. */
function readDbSize(ks: Keyspace): Reply {
  return integer(ks.size);
}

const flushMetadata = {
  kind: 'write',
  arity: -1,
  flags: ['write'],
  ...noKeys,
  categories: ['keyspace', 'write', 'slow', 'dangerous'],
  since: '1.0.0',
  group: 'server',
  tips: ['request_policy:all_shards', 'response_policy:all_succeeded'],
  keySpecs: [],
  history: [
    ['4.0.0', 'Added the `ASYNC` flushing mode modifier.'],
    ['6.2.0', 'Added the `SYNC` flushing mode modifier.'],
  ],
  prepare: prepareFlush,
  apply: applyFlush,
} as const;

export const flushall = {
  ...flushMetadata,
  name: 'flushall',
  summary: 'Remove all keys from all databases',
  complexity: 'O(N) where N is the total number of keys in all databases',
} as const satisfies WriteCommandSpec;

export const flushdb = {
  ...flushMetadata,
  name: 'flushdb',
  summary: 'Remove all keys from the current database',
  complexity: 'O(N) where N is the number of keys in the selected database',
} as const satisfies WriteCommandSpec;

export const dbsize = {
  name: 'dbsize',
  kind: 'read',
  arity: 1,
  flags: ['readonly', 'fast'],
  ...noKeys,
  categories: ['keyspace', 'read', 'fast'],
  summary: 'Return the number of keys in the selected database',
  since: '1.0.0',
  group: 'server',
  complexity: 'O(1)',
  tips: ['request_policy:all_shards', 'response_policy:agg_sum'],
  keySpecs: [],
  validate: () => null,
  read: readDbSize,
} as const satisfies ReadCommandSpec;
