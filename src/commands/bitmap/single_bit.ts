import { error, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { parseLongLong } from '../arguments.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { one, wrongType, zero } from '../replies.js';
import { bitAt, bitOffsetError, parseBitOffset } from './bits.js';

/** SETBIT and GETBIT. */

const bitValueError: Reply = Object.freeze(error('ERR bit is not an integer or out of range'));

/** The offset, then the bit (0 or 1): both checked before the key is looked up. */
function prepareSetBit(args: readonly Buffer[]): readonly Buffer[] | Reply {
  if (parseBitOffset(args[2]!) === null) return bitOffsetError;
  const bit = parseLongLong(args[3]!);
  if (bit === null || (bit !== 0n && bit !== 1n)) return bitValueError;
  return args;
}

/**
 * Stored values are never mutated in place (keyspace.ts, "Ownership"), so a SETBIT that changes
 * the value builds a new one: O(length of the string) where Redis's is O(1). A SETBIT that
 * changes nothing (the bit already has that value, within the string) writes nothing. An existing
 * key keeps its TTL, as Redis's in-place update does.
 */
function applySetBit(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const offset = parseBitOffset(args[2]!)!;
  const bit = args[3]![0] === 0x31 ? 1 : 0;
  const current = ks.lookupWrite(key, entryTimeMs);
  if (current !== undefined && current.type !== 'string') return wrongType;
  const old = current?.value ?? Buffer.alloc(0);
  const byte = Math.floor(offset / 8);
  const previous = bitAt(old, offset);
  if (current !== undefined && byte < old.length && previous === bit) return previous === 1 ? one : zero;
  const bytes = Buffer.alloc(Math.max(old.length, byte + 1));
  old.copy(bytes, 0);
  const shift = 7 - (offset % 8);
  bytes[byte] = (bytes[byte]! & ~(1 << shift)) | (bit << shift);
  ks.overwrite(key, { type: 'string', value: bytes });
  return previous === 1 ? one : zero;
}

function validateGetBit(args: readonly Buffer[]): Reply | null {
  return parseBitOffset(args[2]!) === null ? bitOffsetError : null;
}

function readGetBit(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const value = ks.get(args[1]!, nowMs);
  if (value === undefined) return zero;
  if (value.type !== 'string') return wrongType;
  return bitAt(value.value, parseBitOffset(args[2]!)!) === 1 ? one : zero;
}

export const setbit = {
  name: 'setbit',
  kind: 'write',
  arity: 4,
  flags: ['write', 'denyoom'],
  ...oneKey,
  categories: ['write', 'bitmap', 'slow'],
  summary: 'Sets or clears the bit at offset in the string value stored at key',
  since: '2.2.0',
  group: 'bitmap',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RW', 'access', 'update'])],
  prepare: prepareSetBit,
  apply: applySetBit,
} as const satisfies WriteCommandSpec;

export const getbit = {
  name: 'getbit',
  kind: 'read',
  arity: 3,
  flags: ['readonly', 'fast'],
  ...oneKey,
  categories: ['read', 'bitmap', 'fast'],
  summary: 'Returns the bit value at offset in the string value stored at key',
  since: '2.2.0',
  group: 'bitmap',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  validate: validateGetBit,
  read: readGetBit,
} as const satisfies ReadCommandSpec;
