import { error, type Reply } from '../../resp/reply.js';
import { NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import { LLONG_MAX, LLONG_MIN, asIs, cString, isOption, parseLongLong } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { formattedError, invalidExpireTime, notAnInteger, one, zero } from '../replies.js';

/**
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (one worker: Redis's expireGenericCommand) and PERSIST.
 *
 * prepare validates (options first, then the integer, then overflow of the unit conversion or
 * of adding now) and proposes `PEXPIREAT key <absolute ms> [options]`; apply compares against
 * the entry's time, so a time already past deletes the key on every replica alike.
 */

const ExpireOption = { NX: 1, XX: 2, GT: 4, LT: 8 } as const;

const nxConflict: Reply = Object.freeze(error('ERR NX and XX, GT or LT options at the same time are not compatible'));
const gtLtConflict: Reply = Object.freeze(error('ERR GT and LT options at the same time are not compatible'));

const PEXPIREAT_NAME = Buffer.from('PEXPIREAT');
const LLONG_MAX_SECONDS = LLONG_MAX / 1000n;
const LLONG_MIN_SECONDS = LLONG_MIN / 1000n;

/** parseExtendedExpireArgumentsOrReply: the option flags from args[3] on, or the error. */
function parseExpireOptions(args: readonly Buffer[]): number | Reply {
  let flags = 0;
  for (let j = 3; j < args.length; j++) {
    const opt = args[j]!;
    if (isOption(opt, 'nx')) flags |= ExpireOption.NX;
    else if (isOption(opt, 'xx')) flags |= ExpireOption.XX;
    else if (isOption(opt, 'gt')) flags |= ExpireOption.GT;
    else if (isOption(opt, 'lt')) flags |= ExpireOption.LT;
    else return formattedError(`ERR Unsupported option ${cString(opt)}`);
  }
  if (flags & ExpireOption.NX && flags & (ExpireOption.XX | ExpireOption.GT | ExpireOption.LT)) return nxConflict;
  if (flags & ExpireOption.GT && flags & ExpireOption.LT) return gtLtConflict;
  return flags;
}

function prepareExpire(commandName: string, inSeconds: boolean, relative: boolean) {
  return (args: readonly Buffer[], nowMs: number): readonly Buffer[] | Reply => {
    const flags = parseExpireOptions(args);
    if (typeof flags !== 'number') return flags;
    let when = parseLongLong(args[2]!);
    if (when === null) return notAnInteger;
    if (inSeconds) {
      if (when > LLONG_MAX_SECONDS || when < LLONG_MIN_SECONDS) return invalidExpireTime(commandName);
      when *= 1000n;
    }
    if (relative) {
      const base = BigInt(nowMs);
      if (when > LLONG_MAX - base) return invalidExpireTime(commandName);
      when += base;
    }
    return [PEXPIREAT_NAME, args[1]!, Buffer.from(when.toString(), 'latin1'), ...args.slice(3)];
  };
}

/** On `PEXPIREAT key ms [options]`. Times beyond 2^53 ms are kept as the nearest double. */
function applyExpireAt(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const flags = parseExpireOptions(args);
  if (typeof flags !== 'number') return flags;
  const exact = parseLongLong(args[2]!);
  if (exact === null) return notAnInteger;
  const when = Number(exact);
  const key = args[1]!;
  if (ks.lookupWrite(key, entryTimeMs) === undefined) return zero;
  if (flags !== 0) {
    const current = ks.expireAtOf(key, entryTimeMs);
    const hasTtl = current !== NO_EXPIRY;
    if (flags & ExpireOption.NX && hasTtl) return zero;
    if (flags & ExpireOption.XX && !hasTtl) return zero;
    // No TTL counts as an infinite one: GT never beats it, LT always does.
    if (flags & ExpireOption.GT && (!hasTtl || when <= current)) return zero;
    if (flags & ExpireOption.LT && hasTtl && when >= current) return zero;
  }
  if (when <= entryTimeMs) ks.delete(key, entryTimeMs);
  else ks.setExpireAt(key, when);
  return one;
}

function applyPersist(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  if (ks.lookupWrite(key, entryTimeMs) === undefined) return zero;
  if (ks.expireAtOf(key, entryTimeMs) === NO_EXPIRY) return zero;
  ks.setExpireAt(key, NO_EXPIRY);
  return one;
}

const expireMetadata = {
  kind: 'write',
  arity: -3,
  flags: ['write', 'fast'],
  ...oneKey,
  categories: ['keyspace', 'write', 'fast'],
  group: 'generic',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'update'])],
  history: [['7.0.0', 'Added options: `NX`, `XX`, `GT` and `LT`.']],
  apply: applyExpireAt,
} as const;

export const expire = {
  ...expireMetadata,
  name: 'expire',
  summary: "Set a key's time to live in seconds",
  since: '1.0.0',
  prepare: prepareExpire('expire', true, true),
} as const satisfies WriteCommandSpec;

export const pexpire = {
  ...expireMetadata,
  name: 'pexpire',
  summary: "Set a key's time to live in milliseconds",
  since: '2.6.0',
  prepare: prepareExpire('pexpire', false, true),
} as const satisfies WriteCommandSpec;

export const expireat = {
  ...expireMetadata,
  name: 'expireat',
  summary: 'Set the expiration for a key as a UNIX timestamp',
  since: '1.2.0',
  prepare: prepareExpire('expireat', true, false),
} as const satisfies WriteCommandSpec;

export const pexpireat = {
  ...expireMetadata,
  name: 'pexpireat',
  summary: 'Set the expiration for a key as a UNIX timestamp specified in milliseconds',
  since: '2.6.0',
  prepare: prepareExpire('pexpireat', false, false),
} as const satisfies WriteCommandSpec;

export const persist = {
  name: 'persist',
  kind: 'write',
  arity: 2,
  flags: ['write', 'fast'],
  ...oneKey,
  categories: ['keyspace', 'write', 'fast'],
  summary: 'Remove the expiration from a key',
  since: '2.2.0',
  group: 'generic',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'update'])],
  prepare: asIs,
  apply: applyPersist,
} as const satisfies WriteCommandSpec;
