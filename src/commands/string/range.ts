import { bulk, error, integer, type Reply } from '../../resp/reply.js';
import { NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import { asIs, parseInteger, parseLongLong } from '../arguments.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { emptyBulk, notAnInteger, stringTooLong, wrongType, zero } from '../replies.js';

/**
 * APPEND, STRLEN, GETRANGE, SETRANGE: the commands that work on part of a string. Writes keep
 * the key's TTL. Stored buffers are never mutated (see keyspace.ts), so APPEND and SETRANGE
 * build a new buffer: O(length) per call where Redis's sds growth is amortized O(1) for APPEND.
 */

/** Redis's default proto-max-bulk-len (512 MB): the largest string a write may produce. */
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;

const offsetOutOfRange: Reply = Object.freeze(error('ERR offset is out of range'));

function applyAppend(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const suffix = args[2]!;
  const current = ks.lookupWrite(key, entryTimeMs);
  if (current === undefined) {
    ks.set(key, { type: 'string', value: suffix }, NO_EXPIRY);
    return integer(suffix.length);
  }
  if (current.type !== 'string') return wrongType;
  const total = current.value.length + suffix.length;
  if (total > PROTO_MAX_BULK_LEN) return stringTooLong;
  ks.overwrite(key, { type: 'string', value: Buffer.concat([current.value, suffix], total) });
  return integer(total);
}

function readStrlen(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const value = ks.get(args[1]!, nowMs);
  if (value === undefined) return zero;
  if (value.type !== 'string') return wrongType;
  return integer(value.value.length);
}

function validateGetRange(args: readonly Buffer[]): Reply | null {
  return parseLongLong(args[2]!) === null || parseLongLong(args[3]!) === null ? notAnInteger : null;
}

/** getrangeCommand, with its index arithmetic in 64-bit integers (BigInt) as in C. */
function readGetRange(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  let start = parseLongLong(args[2]!)!;
  let end = parseLongLong(args[3]!)!;
  const value = ks.get(args[1]!, nowMs);
  if (value === undefined) return emptyBulk;
  if (value.type !== 'string') return wrongType;
  const length = BigInt(value.value.length);
  if (start < 0n && end < 0n && start > end) return emptyBulk;
  if (start < 0n) start += length;
  if (end < 0n) end += length;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= length) end = length - 1n;
  if (start > end || length === 0n) return emptyBulk;
  return bulk(value.value.subarray(Number(start), Number(end) + 1));
}

/** The offset's syntax and sign are checked before the key is looked up, so in prepare. */
function prepareSetRange(args: readonly Buffer[]): readonly Buffer[] | Reply {
  const offset = parseInteger(args[2]!);
  if (offset === null) return notAnInteger;
  return offset < 0 ? offsetOutOfRange : args;
}

function applySetRange(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const offset = parseInteger(args[2]!)!;
  const patch = args[3]!;
  const current = ks.lookupWrite(key, entryTimeMs);
  if (current !== undefined && current.type !== 'string') return wrongType;
  const oldLength = current === undefined ? 0 : current.value.length;
  // Setting nothing changes nothing, not even creating the key.
  if (patch.length === 0) return current === undefined ? zero : integer(oldLength);
  if (offset + patch.length > PROTO_MAX_BULK_LEN) return stringTooLong;
  const length = Math.max(oldLength, offset + patch.length);
  const bytes = Buffer.alloc(length);
  if (current !== undefined) current.value.copy(bytes, 0);
  patch.copy(bytes, offset);
  if (current === undefined) ks.set(key, { type: 'string', value: bytes }, NO_EXPIRY);
  else ks.overwrite(key, { type: 'string', value: bytes });
  return integer(length);
}

export const append = {
  name: 'append',
  kind: 'write',
  arity: 3,
  flags: ['write', 'denyoom', 'fast'],
  ...oneKey,
  categories: ['write', 'string', 'fast'],
  summary: 'Append a value to a key',
  since: '2.0.0',
  group: 'string',
  complexity:
    'O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.',
  keySpecs: [keyAt(1, ['RW', 'insert'])],
  prepare: asIs,
  apply: applyAppend,
} as const satisfies WriteCommandSpec;

export const strlen = {
  name: 'strlen',
  kind: 'read',
  arity: 2,
  flags: ['readonly', 'fast'],
  ...oneKey,
  categories: ['read', 'string', 'fast'],
  summary: 'Get the length of the value stored in a key',
  since: '2.2.0',
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RO'])],
  validate: () => null,
  read: readStrlen,
} as const satisfies ReadCommandSpec;

export const getrange = {
  name: 'getrange',
  kind: 'read',
  arity: 4,
  flags: ['readonly'],
  ...oneKey,
  categories: ['read', 'string', 'slow'],
  summary: 'Get a substring of the string stored at a key',
  since: '2.4.0',
  group: 'string',
  complexity:
    'O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  validate: validateGetRange,
  read: readGetRange,
} as const satisfies ReadCommandSpec;

export const setrange = {
  name: 'setrange',
  kind: 'write',
  arity: 4,
  flags: ['write', 'denyoom'],
  ...oneKey,
  categories: ['write', 'string', 'slow'],
  summary: 'Overwrite part of a string at key starting at the specified offset',
  since: '2.2.0',
  group: 'string',
  complexity:
    'O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.',
  keySpecs: [keyAt(1, ['RW', 'update'])],
  prepare: prepareSetRange,
  apply: applySetRange,
} as const satisfies WriteCommandSpec;

/** GETRANGE's old name: the same command (getrangeCommand), deprecated since 2.0.0. */
export const substr = {
  ...getrange,
  name: 'substr',
  summary: 'Get a substring of the string stored at a key',
  since: '1.0.0',
  docFlags: ['deprecated'],
  deprecatedSince: '2.0.0',
  replacedBy: '`GETRANGE`',
} as const satisfies ReadCommandSpec;
