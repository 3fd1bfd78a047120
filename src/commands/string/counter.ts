import { bulk, error, integer, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { LLONG_MAX, LLONG_MIN, asIs, integerBytes, parseExactInteger, parseLongLong } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { LONG_DOUBLE_ZERO, addLongDouble, formatLongDouble, parseLongDouble } from '../long_double.js';
import { notAFloat, notAnInteger, wrongType } from '../replies.js';

/**
 * INCR, DECR, INCRBY, DECRBY (one worker: Redis's incrDecrCommand) and INCRBYFLOAT. They keep
 * the key's TTL, as Redis's dbOverwrite does.
 *
 * Integers are exact signed 64-bit values: plain numbers while every operand and the result
 * are within ±2^53, BigInt beyond.
 */

const overflow: Reply = Object.freeze(error('ERR increment or decrement would overflow'));
const decrementOverflow: Reply = Object.freeze(error('ERR decrement would overflow'));
const notFinite: Reply = Object.freeze(error('ERR increment would produce NaN or Infinity'));

/** The incrDecrCommand worker; `increment` is already negated for DECR / DECRBY. */
function incrementBy(ks: Keyspace, key: Buffer, increment: number | bigint, entryTimeMs: number): Reply {
  const current = ks.lookupWrite(key, entryTimeMs);
  let base: number | bigint = 0;
  if (current !== undefined) {
    if (current.type !== 'string') return wrongType;
    const parsed = parseExactInteger(current.value);
    if (parsed === null) return notAnInteger;
    base = parsed;
  }
  let result: number | bigint;
  if (typeof base === 'number' && typeof increment === 'number' && Number.isSafeInteger(base + increment)) {
    result = base + increment;
  } else {
    result = BigInt(base) + BigInt(increment);
    if (result > LLONG_MAX || result < LLONG_MIN) return overflow;
  }
  ks.overwrite(key, { type: 'string', value: integerBytes(result) });
  return integer(result);
}

function prepareIncrBy(args: readonly Buffer[]): readonly Buffer[] | Reply {
  return parseLongLong(args[2]!) === null ? notAnInteger : args;
}

function prepareDecrBy(args: readonly Buffer[]): readonly Buffer[] | Reply {
  const value = parseLongLong(args[2]!);
  if (value === null) return notAnInteger;
  // Negating LLONG_MIN would overflow.
  return value === LLONG_MIN ? decrementOverflow : args;
}

/**
 * INCRBYFLOAT: both operands are parsed only after the type check (so WRONGTYPE wins over a bad
 * increment), hence no validation in prepare. The arithmetic emulates long double; see
 * long_double.ts.
 */
function applyIncrByFloat(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const current = ks.lookupWrite(key, entryTimeMs);
  let base = LONG_DOUBLE_ZERO;
  if (current !== undefined) {
    if (current.type !== 'string') return wrongType;
    const parsed = parseLongDouble(current.value);
    if (parsed === null) return notAFloat;
    base = parsed;
  }
  const increment = parseLongDouble(args[2]!);
  if (increment === null) return notAFloat;
  const sum = addLongDouble(base, increment);
  if (sum === null) return notFinite;
  const bytes = Buffer.from(formatLongDouble(sum), 'latin1');
  ks.overwrite(key, { type: 'string', value: bytes });
  return bulk(bytes);
}

const counterMetadata = {
  kind: 'write',
  flags: ['write', 'denyoom', 'fast'],
  ...oneKey,
  categories: ['write', 'string', 'fast'],
  group: 'string',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'access', 'update'])],
} as const;

export const incr = {
  ...counterMetadata,
  name: 'incr',
  arity: 2,
  summary: 'Increment the integer value of a key by one',
  since: '1.0.0',
  prepare: asIs,
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) => incrementBy(ks, args[1]!, 1, entryTimeMs),
} as const satisfies WriteCommandSpec;

export const decr = {
  ...counterMetadata,
  name: 'decr',
  arity: 2,
  summary: 'Decrement the integer value of a key by one',
  since: '1.0.0',
  prepare: asIs,
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) => incrementBy(ks, args[1]!, -1, entryTimeMs),
} as const satisfies WriteCommandSpec;

export const incrby = {
  ...counterMetadata,
  name: 'incrby',
  arity: 3,
  summary: 'Increment the integer value of a key by the given amount',
  since: '1.0.0',
  prepare: prepareIncrBy,
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) =>
    incrementBy(ks, args[1]!, parseExactInteger(args[2]!)!, entryTimeMs),
} as const satisfies WriteCommandSpec;

export const decrby = {
  ...counterMetadata,
  name: 'decrby',
  arity: 3,
  summary: 'Decrement the integer value of a key by the given number',
  since: '1.0.0',
  prepare: prepareDecrBy,
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) =>
    incrementBy(ks, args[1]!, -parseExactInteger(args[2]!)!, entryTimeMs),
} as const satisfies WriteCommandSpec;

export const incrbyfloat = {
  ...counterMetadata,
  name: 'incrbyfloat',
  arity: 3,
  summary: 'Increment the float value of a key by the given amount',
  since: '2.6.0',
  prepare: asIs,
  apply: applyIncrByFloat,
} as const satisfies WriteCommandSpec;
