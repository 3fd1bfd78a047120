import { bulk, nullReply, ok, type Reply } from '../../resp/reply.js';
import { NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import { asIs, integerBytes } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { one, syntaxError, wrongType, zero } from '../replies.js';
import { StringOption, absoluteExpireMs, parseStringOptions } from './string_options.js';

/**
 * SET and the commands Redis implements with setGenericCommand: SETNX, SETEX, PSETEX, GETSET.
 *
 * Every relative expiry is made absolute in `prepare`, which proposes the canonical form
 *
 *     SET key value [NX|XX] [GET] [KEEPTTL | PXAT ms]
 *
 * (SETEX k 10 v ─▶ SET k v PXAT now+10000), so `applySet` is the one worker for all of them
 * except GETSET. Validation errors (syntax, integers, `invalid expire time`) come from prepare;
 * WRONGTYPE (with GET) comes from apply.
 */

const { NX, XX, EX, PX, KEEPTTL, GET, PXAT } = StringOption;

const SET_NAME = Buffer.from('SET');
const NX_ARG = Buffer.from('NX');
const XX_ARG = Buffer.from('XX');
const GET_ARG = Buffer.from('GET');
const KEEPTTL_ARG = Buffer.from('KEEPTTL');
const PXAT_ARG = Buffer.from('PXAT');

/** The canonical SET that `prepare` proposes. */
function canonicalSet(key: Buffer, value: Buffer, flags: number, expireAt: number | bigint | null): Buffer[] {
  const args = [SET_NAME, key, value];
  if (flags & NX) args.push(NX_ARG);
  if (flags & XX) args.push(XX_ARG);
  if (flags & GET) args.push(GET_ARG);
  if (flags & KEEPTTL) args.push(KEEPTTL_ARG);
  if (expireAt !== null) args.push(PXAT_ARG, integerBytes(expireAt));
  return args;
}

function prepareSet(args: readonly Buffer[], nowMs: number): readonly Buffer[] | Reply {
  if (args.length === 3) return args;
  const options = parseStringOptions(args, 3, true);
  if (options === null) return syntaxError;
  if (options.expireIndex === -1) return args;
  const expireAt = absoluteExpireMs(args[options.expireIndex]!, options.flags, nowMs, 'set');
  if (typeof expireAt === 'object') return expireAt;
  return options.flags & PXAT ? args : canonicalSet(args[1]!, args[2]!, options.flags, expireAt);
}

/** prepare for SETEX / PSETEX: `<cmd> key ttl value` ─▶ `SET key value PXAT at`. */
function prepareSetWithTtl(unitFlag: number, commandName: string) {
  return (args: readonly Buffer[], nowMs: number): readonly Buffer[] | Reply => {
    const expireAt = absoluteExpireMs(args[2]!, unitFlag, nowMs, commandName);
    if (typeof expireAt === 'object') return expireAt;
    return canonicalSet(args[1]!, args[3]!, 0, expireAt);
  };
}

/** The SET worker (setGenericCommand), on a prepared SET. */
function applySet(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  if (args.length === 3) {
    ks.set(key, { type: 'string', value: args[2]! }, NO_EXPIRY);
    return ok;
  }
  const options = parseStringOptions(args, 3, true);
  if (options === null) return syntaxError;
  const flags = options.flags;
  let expireAt = NO_EXPIRY;
  if (options.expireIndex !== -1) {
    const at = absoluteExpireMs(args[options.expireIndex]!, flags, entryTimeMs, 'set');
    if (typeof at === 'object') return at;
    expireAt = Number(at);
  }
  if ((flags & (NX | XX | GET | KEEPTTL)) === 0) {
    // Nothing depends on the current value: one lookup, in set().
    ks.set(key, { type: 'string', value: args[2]! }, expireAt);
    return ok;
  }
  const current = ks.lookupWrite(key, entryTimeMs);
  let reply: Reply = ok;
  if (flags & GET) {
    if (current !== undefined && current.type !== 'string') return wrongType;
    reply = current === undefined ? nullReply : bulk(current.value);
  }
  if ((flags & NX && current !== undefined) || (flags & XX && current === undefined)) {
    return flags & GET ? reply : nullReply;
  }
  const value = { type: 'string', value: args[2]! } as const;
  if (flags & KEEPTTL) ks.overwrite(key, value);
  else ks.set(key, value, expireAt);
  return reply;
}

function applySetNx(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  if (ks.lookupWrite(key, entryTimeMs) !== undefined) return zero;
  ks.set(key, { type: 'string', value: args[2]! }, NO_EXPIRY);
  return one;
}

function applyGetSet(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const current = ks.lookupWrite(key, entryTimeMs);
  if (current !== undefined && current.type !== 'string') return wrongType;
  ks.set(key, { type: 'string', value: args[2]! }, NO_EXPIRY);
  return current === undefined ? nullReply : bulk(current.value);
}

export const set = {
  name: 'set',
  kind: 'write',
  arity: -3,
  flags: ['write', 'denyoom'],
  ...oneKey,
  categories: ['write', 'string', 'slow'],
  summary: 'Set the string value of a key',
  since: '1.0.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'access', 'update', 'variable_flags'], 'RW and ACCESS due to the optional `GET` argument')],
  history: [
    ['2.6.12', 'Added the `EX`, `PX`, `NX` and `XX` options.'],
    ['6.0.0', 'Added the `KEEPTTL` option.'],
    ['6.2.0', 'Added the `GET`, `EXAT` and `PXAT` option.'],
    ['7.0.0', 'Allowed the `NX` and `GET` options to be used together.'],
  ],
  prepare: prepareSet,
  apply: applySet,
} as const satisfies WriteCommandSpec;

export const setnx = {
  name: 'setnx',
  kind: 'write',
  arity: 3,
  flags: ['write', 'denyoom', 'fast'],
  ...oneKey,
  categories: ['write', 'string', 'fast'],
  summary: 'Set the value of a key, only if the key does not exist',
  since: '1.0.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['OW', 'insert'])],
  prepare: asIs,
  apply: applySetNx,
} as const satisfies WriteCommandSpec;

/** SETEX and PSETEX differ only in the unit of their TTL. */
const setWithTtlMetadata = {
  kind: 'write',
  arity: 4,
  flags: ['write', 'denyoom'],
  ...oneKey,
  categories: ['write', 'string', 'slow'],
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['OW', 'update'])],
  apply: applySet,
} as const;

export const setex = {
  ...setWithTtlMetadata,
  name: 'setex',
  summary: 'Set the value and expiration of a key',
  since: '2.0.0',
  prepare: prepareSetWithTtl(EX, 'setex'),
} as const satisfies WriteCommandSpec;

export const psetex = {
  ...setWithTtlMetadata,
  name: 'psetex',
  summary: 'Set the value and expiration in milliseconds of a key',
  since: '2.6.0',
  prepare: prepareSetWithTtl(PX, 'psetex'),
} as const satisfies WriteCommandSpec;

export const getset = {
  name: 'getset',
  kind: 'write',
  arity: 3,
  flags: ['write', 'denyoom', 'fast'],
  ...oneKey,
  categories: ['write', 'string', 'fast'],
  summary: 'Set the string value of a key and return its old value',
  since: '1.0.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'access', 'update'])],
  docFlags: ['deprecated'],
  deprecatedSince: '6.2.0',
  replacedBy: '`SET` with the `!GET` argument',
  prepare: asIs,
  apply: applyGetSet,
} as const satisfies WriteCommandSpec;
