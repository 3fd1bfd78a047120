import { array, bulk, nullReply, ok, type Reply } from '../../resp/reply.js';
import { NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../command_spec.js';
import { everyArgumentIsAKey, keyRange, keyValuePairs } from '../key_specs.js';
import { one, wrongArity, zero } from '../replies.js';

/** MGET, MSET, MSETNX: one worker (msetGenericCommand) for both writes. */

function readMget(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const items: Reply[] = new Array<Reply>(args.length - 1);
  for (let i = 1; i < args.length; i++) {
    const value = ks.get(args[i]!, nowMs);
    // A key of another type is nil here, not WRONGTYPE.
    items[i - 1] = value === undefined || value.type !== 'string' ? nullReply : bulk(value.value);
  }
  return array(items);
}

/** Keys and values must pair up; Redis words the odd case as an arity error. */
function prepareMset(commandName: string) {
  return (args: readonly Buffer[]): readonly Buffer[] | Reply =>
    args.length % 2 === 0 ? wrongArity(commandName) : args;
}

function applyMsetGeneric(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number, onlyIfNoneExist: boolean): Reply {
  if (onlyIfNoneExist) {
    for (let i = 1; i < args.length; i += 2) {
      if (ks.lookupWrite(args[i]!, entryTimeMs) !== undefined) return zero;
    }
  }
  for (let i = 1; i < args.length; i += 2) {
    ks.set(args[i]!, { type: 'string', value: args[i + 1]! }, NO_EXPIRY);
  }
  return onlyIfNoneExist ? one : ok;
}

export const mget = {
  name: 'mget',
  kind: 'read',
  arity: -2,
  flags: ['readonly', 'fast'],
  ...everyArgumentIsAKey,
  categories: ['read', 'string', 'fast'],
  summary: 'Get the values of all the given keys',
  since: '1.0.0',
  group: 'string',
  complexity: 'O(N) where N is the number of keys to retrieve.',
  tips: ['request_policy:multi_shard'],
  keySpecs: [keyRange(1, -1, 1, ['RO', 'access'])],
  validate: () => null,
  read: readMget,
} as const satisfies ReadCommandSpec;

const msetMetadata = {
  kind: 'write',
  arity: -3,
  flags: ['write', 'denyoom'],
  ...keyValuePairs,
  categories: ['write', 'string', 'slow'],
  since: '1.0.1',
  group: 'string',
  complexity: 'O(N) where N is the number of keys to set.',
} as const;

export const mset = {
  ...msetMetadata,
  name: 'mset',
  summary: 'Set multiple keys to multiple values',
  tips: ['request_policy:multi_shard', 'response_policy:all_succeeded'],
  keySpecs: [keyRange(1, -1, 2, ['OW', 'update'])],
  prepare: prepareMset('mset'),
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) => applyMsetGeneric(ks, args, entryTimeMs, false),
} as const satisfies WriteCommandSpec;

export const msetnx = {
  ...msetMetadata,
  name: 'msetnx',
  summary: 'Set multiple keys to multiple values, only if none of the keys exist',
  tips: ['request_policy:multi_shard', 'response_policy:agg_min'],
  keySpecs: [keyRange(1, -1, 2, ['OW', 'insert'])],
  prepare: prepareMset('msetnx'),
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) => applyMsetGeneric(ks, args, entryTimeMs, true),
} as const satisfies WriteCommandSpec;
