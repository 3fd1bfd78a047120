import { bulk, nullReply, type Reply } from '../../resp/reply.js';
import { NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import { asIs, integerBytes } from '../arguments.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { syntaxError, wrongType } from '../replies.js';
import { StringOption, absoluteExpireMs, parseStringOptions } from './string_options.js';

/**
 * GET and the commands that read a string and then change the key: GETDEL, GETEX.
 */

const { EX, PX, EXAT, PXAT, PERSIST } = StringOption;

const GETEX_NAME = Buffer.from('GETEX');
const PXAT_ARG = Buffer.from('PXAT');

function readGet(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const value = ks.get(args[1]!, nowMs);
  if (value === undefined) return nullReply;
  if (value.type !== 'string') return wrongType;
  return bulk(value.value);
}

function applyGetDel(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const value = ks.lookupWrite(args[1]!, entryTimeMs);
  if (value === undefined) return nullReply;
  if (value.type !== 'string') return wrongType;
  ks.delete(args[1]!, entryTimeMs);
  return bulk(value.value);
}

/**
 * GETEX validates the expiry only after finding a string at the key (a missing key replies nil
 * even to `GETEX k EX -1`), so prepare checks only the syntax, and turns EX / PX into PXAT when
 * their value is valid; an invalid one is proposed as sent for apply to refuse.
 */
function prepareGetEx(args: readonly Buffer[], nowMs: number): readonly Buffer[] | Reply {
  const options = parseStringOptions(args, 2, false);
  if (options === null) return syntaxError;
  if (options.expireIndex === -1 || (options.flags & (EX | PX)) === 0) return args;
  const expireAt = absoluteExpireMs(args[options.expireIndex]!, options.flags, nowMs, 'getex');
  if (typeof expireAt === 'object') return args;
  return [GETEX_NAME, args[1]!, PXAT_ARG, integerBytes(expireAt)];
}

function applyGetEx(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const options = parseStringOptions(args, 2, false);
  if (options === null) return syntaxError;
  const key = args[1]!;
  const value = ks.lookupWrite(key, entryTimeMs);
  if (value === undefined) return nullReply;
  if (value.type !== 'string') return wrongType;
  const flags = options.flags;
  if (options.expireIndex !== -1) {
    const expireAt = absoluteExpireMs(args[options.expireIndex]!, flags, entryTimeMs, 'getex');
    if (typeof expireAt === 'object') return expireAt;
    const at = Number(expireAt);
    // An absolute time already past deletes the key (Redis's checkAlreadyExpired).
    if (flags & (EXAT | PXAT) && at <= entryTimeMs) ks.delete(key, entryTimeMs);
    else ks.setExpireAt(key, at);
  } else if (flags & PERSIST) {
    ks.setExpireAt(key, NO_EXPIRY);
  }
  return bulk(value.value);
}

export const get = {
  name: 'get',
  kind: 'read',
  arity: 2,
  flags: ['readonly', 'fast'],
  ...oneKey,
  categories: ['read', 'string', 'fast'],
  summary: 'Get the value of a key',
  since: '1.0.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  validate: () => null,
  read: readGet,
} as const satisfies ReadCommandSpec;

export const getdel = {
  name: 'getdel',
  kind: 'write',
  arity: 2,
  flags: ['write', 'fast'],
  ...oneKey,
  categories: ['write', 'string', 'fast'],
  summary: 'Get the value of a key and delete the key',
  since: '6.2.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'access', 'delete'])],
  prepare: asIs,
  apply: applyGetDel,
} as const satisfies WriteCommandSpec;

export const getex = {
  name: 'getex',
  kind: 'write',
  arity: -2,
  flags: ['write', 'fast'],
  ...oneKey,
  categories: ['write', 'string', 'fast'],
  summary: 'Get the value of a key and optionally set its expiration',
  since: '6.2.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'access', 'update'], 'RW and UPDATE because it changes the TTL')],
  prepare: prepareGetEx,
  apply: applyGetEx,
} as const satisfies WriteCommandSpec;
