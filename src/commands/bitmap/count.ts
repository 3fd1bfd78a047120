import { error, integer, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { isOption, parseLongLong } from '../arguments.js';
import type { ReadCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { minusOne, notAnInteger, syntaxError, wrongType, zero } from '../replies.js';
import { firstBit, popcount, popcountByte } from './bits.js';

/**
 * BITCOUNT and BITPOS. Both look the key up before they parse the range (a missing key answers
 * at once, whatever follows), so all their checks are in `read`. Indexes are 64-bit (BigInt) until
 * clamped into the string, as in C; in BIT mode the range is in bits, turned into bytes with
 * masks for the bits of the first and last byte that lie outside it.
 */

const bitArgumentError: Reply = Object.freeze(error('ERR The bit argument must be 1 or 0.'));

/** A range clamped into the string: bytes [start, end], and masks of the edge bits outside it. */
interface ByteRange {
  readonly start: number;
  readonly end: number;
  readonly firstMask: number;
  readonly lastMask: number;
}

/**
 * The common tail of both commands' range arithmetic: negative indexes from the end, clamping,
 * then bits to bytes. Null when the range is empty (start > end).
 */
function clampRange(start: bigint, end: bigint, length: number, isBit: boolean): ByteRange | null {
  const total = BigInt(length) * (isBit ? 8n : 1n);
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  if (start > end) return null;
  if (!isBit) return { start: Number(start), end: Number(end), firstMask: 0, lastMask: 0 };
  const startBit = Number(start & 7n);
  const endBit = Number(end & 7n);
  return {
    start: Number(start >> 3n),
    end: Number(end >> 3n),
    firstMask: ~((1 << (8 - startBit)) - 1) & 0xff,
    lastMask: (1 << (7 - endBit)) - 1,
  };
}

function readBitCount(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const value = ks.get(args[1]!, nowMs);
  if (value === undefined) return zero;
  if (value.type !== 'string') return wrongType;
  const bytes = value.value;
  let range: ByteRange | null;
  if (args.length === 4 || args.length === 5) {
    const start = parseLongLong(args[2]!);
    if (start === null) return notAnInteger;
    const end = parseLongLong(args[3]!);
    if (end === null) return notAnInteger;
    // Checked before the unit is read: BITCOUNT k -1 -5 junk is 0, not a syntax error.
    if (start < 0n && end < 0n && start > end) return zero;
    let isBit = false;
    if (args.length === 5) {
      if (isOption(args[4]!, 'bit')) isBit = true;
      else if (!isOption(args[4]!, 'byte')) return syntaxError;
    }
    range = clampRange(start, end, bytes.length, isBit);
  } else if (args.length === 2) {
    range = bytes.length === 0 ? null : { start: 0, end: bytes.length - 1, firstMask: 0, lastMask: 0 };
  } else {
    return syntaxError;
  }
  if (range === null) return zero;
  const { start, end, firstMask, lastMask } = range;
  let count = popcount(bytes, start, end);
  count -= popcountByte(bytes[start]! & firstMask) + popcountByte(bytes[end]! & lastMask);
  return integer(count);
}

function readBitPos(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const bitArg = parseLongLong(args[2]!);
  if (bitArg === null) return notAnInteger;
  if (bitArg !== 0n && bitArg !== 1n) return bitArgumentError;
  const bit = bitArg === 1n ? 1 : 0;
  const value = ks.get(args[1]!, nowMs);
  // A missing key is an endless run of zeros.
  if (value === undefined) return bit === 1 ? minusOne : zero;
  if (value.type !== 'string') return wrongType;
  const bytes = value.value;
  let range: ByteRange | null;
  let endGiven = false;
  if (args.length >= 4 && args.length <= 6) {
    const start = parseLongLong(args[3]!);
    if (start === null) return notAnInteger;
    // The unit is read before the end: BITPOS k 1 0 junk junk is a syntax error.
    let isBit = false;
    if (args.length === 6) {
      if (isOption(args[5]!, 'bit')) isBit = true;
      else if (!isOption(args[5]!, 'byte')) return syntaxError;
    }
    let end: bigint;
    if (args.length >= 5) {
      const parsed = parseLongLong(args[4]!);
      if (parsed === null) return notAnInteger;
      end = parsed;
      endGiven = true;
    } else {
      end = isBit ? BigInt(bytes.length) * 8n + 7n : BigInt(bytes.length) - 1n;
    }
    range = clampRange(start, end, bytes.length, isBit);
  } else if (args.length === 3) {
    range = bytes.length === 0 ? null : { start: 0, end: bytes.length - 1, firstMask: 0, lastMask: 0 };
  } else {
    return syntaxError;
  }
  // An empty range holds neither a 0 nor a 1.
  if (range === null) return minusOne;
  const position = findBit(bytes, range, bit);
  // Without an end the string counts as padded with zeros on the right; with one, a 0 found
  // only past the range is no match.
  if (endGiven && bit === 0 && position.pos === position.bytes * 8) return minusOne;
  return integer(position.pos === -1 ? -1 : position.pos + position.start * 8);
}

/**
 * bitposCommand's search: the first byte with the outside bits forced to the value not looked
 * for, then the whole bytes, then the last byte likewise. `pos` is relative to byte `start`, and
 * `bytes` is how many bytes that last search covered (for the "past the range" check).
 */
function findBit(bytes: Buffer, range: ByteRange, bit: 0 | 1): { pos: number; start: number; bytes: number } {
  let { start } = range;
  const { end, firstMask, lastMask } = range;
  let count = end - start + 1;
  const masked = (byte: number, mask: number) => (bit === 1 ? byte & ~mask & 0xff : byte | mask);
  if (firstMask !== 0) {
    let byte = masked(bytes[start]!, firstMask);
    if (lastMask !== 0 && count === 1) byte = masked(byte, lastMask);
    const pos = firstBit(Uint8Array.of(byte), 0, 1, bit);
    if (count === 1 || (pos !== -1 && pos !== 8)) return { pos, start, bytes: count };
    start++;
    count--;
  }
  const whole = count - (lastMask !== 0 ? 1 : 0);
  if (whole > 0) {
    const pos = firstBit(bytes, start, whole, bit);
    if (count === whole || (pos !== -1 && pos !== whole * 8)) return { pos, start, bytes: count };
    start += whole;
    count -= whole;
  }
  const pos = firstBit(Uint8Array.of(masked(bytes[end]!, lastMask)), 0, 1, bit);
  return { pos, start, bytes: count };
}

export const bitcount = {
  name: 'bitcount',
  kind: 'read',
  arity: -2,
  flags: ['readonly'],
  ...oneKey,
  categories: ['read', 'bitmap', 'slow'],
  summary: 'Count set bits in a string',
  since: '2.6.0',
  group: 'bitmap',
  complexity: 'O(N)',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  history: [['7.0.0', 'Added the `BYTE|BIT` option.']],
  validate: () => null,
  read: readBitCount,
} as const satisfies ReadCommandSpec;

export const bitpos = {
  name: 'bitpos',
  kind: 'read',
  arity: -3,
  flags: ['readonly'],
  ...oneKey,
  categories: ['read', 'bitmap', 'slow'],
  summary: 'Find first bit set or clear in a string',
  since: '2.8.7',
  group: 'bitmap',
  complexity: 'O(N)',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  history: [['7.0.0', 'Added the `BYTE|BIT` option.']],
  validate: () => null,
  read: readBitPos,
} as const satisfies ReadCommandSpec;
