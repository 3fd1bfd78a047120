import { error, type Reply } from '../../resp/reply.js';
import { parseLongLong } from '../arguments.js';
import { PROTO_MAX_BULK_LEN } from '../string/range.js';

/**
 * What the bitmap commands share: bit offsets and bitfield types as Redis parses them, and reads
 * of bits from a string. Bit 0 is the most significant bit of the first byte (bitops.c's
 * convention, also BITFIELD's); bytes past the end of a string read as zero.
 */

export const bitOffsetError: Reply = Object.freeze(error('ERR bit offset is not an integer or out of range'));
export const bitfieldTypeError: Reply = Object.freeze(
  error('ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.'),
);

const HASH = 0x23; // '#'
const MAX_BYTE_OFFSET = BigInt(PROTO_MAX_BULK_LEN);

/**
 * getBitOffsetFromArgument: a bit offset whose byte is below proto-max-bulk-len, so at most
 * 2^32 - 1; null when Redis refuses it. With `bits` > 0 (BITFIELD), `#N` means N * bits, and the
 * product wraps as C's signed 64-bit multiplication does: `#2305843009213693952` of a u8 is 0.
 */
export function parseBitOffset(arg: Buffer, bits = 0): number | null {
  const hash = bits > 0 && arg.length > 0 && arg[0] === HASH;
  let offset = parseLongLong(hash ? arg.subarray(1) : arg);
  if (offset === null) return null;
  if (hash) offset = BigInt.asIntN(64, offset * BigInt(bits));
  if (offset < 0n || offset >> 3n >= MAX_BYTE_OFFSET) return null;
  return Number(offset);
}

export interface BitfieldType {
  readonly signed: boolean;
  /** 1 to 64 signed, 1 to 63 unsigned (a u64 could not be replied as a signed integer). */
  readonly bits: number;
}

/** getBitfieldTypeFromArgument: `i1`..`i64` or `u1`..`u63`, case-sensitive; the width ends at a NUL. */
export function parseBitfieldType(arg: Buffer): BitfieldType | null {
  const sign = arg.length > 0 ? arg[0] : 0;
  if (sign !== 0x69 && sign !== 0x75) return null; // 'i', 'u'
  const digits = arg.subarray(1);
  const nul = digits.indexOf(0);
  const width = parseLongLong(nul === -1 ? digits : digits.subarray(0, nul));
  const signed = sign === 0x69;
  if (width === null || width < 1n || width > (signed ? 64n : 63n)) return null;
  return { signed, bits: Number(width) };
}

/** Set bits of every byte value. */
const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;

/** Set bits in bytes[start, end]. */
export function popcount(bytes: Uint8Array, start: number, end: number): number {
  let count = 0;
  for (let i = start; i <= end; i++) count += POPCOUNT[bytes[i]!]!;
  return count;
}

export function popcountByte(byte: number): number {
  return POPCOUNT[byte & 0xff]!;
}

/**
 * redisBitpos over bytes[start, start + count): the position (from `start`'s first bit) of the
 * first bit equal to `bit`. Not found: -1 for a 1, and count * 8 for a 0 (the string is taken as
 * padded with zeros on the right).
 */
export function firstBit(bytes: Uint8Array, start: number, count: number, bit: 0 | 1): number {
  const skip = bit === 1 ? 0 : 0xff;
  for (let i = 0; i < count; i++) {
    const byte = bytes[start + i]!;
    if (byte === skip) continue;
    for (let b = 0; b < 8; b++) {
      if (((byte >> (7 - b)) & 1) === bit) return i * 8 + b;
    }
  }
  return bit === 1 ? -1 : count * 8;
}

/** The bit at `offset` (0 or 1); 0 past the end. */
export function bitAt(bytes: Uint8Array, offset: number): number {
  const byte = Math.floor(offset / 8);
  if (byte >= bytes.length) return 0;
  return (bytes[byte]! >> (7 - (offset % 8))) & 1;
}

/** getUnsignedBitfield: `bits` bits from `offset`, big-endian in the bitmap's bit order. */
export function getUnsignedBits(bytes: Uint8Array, offset: number, bits: number): bigint {
  let value = 0n;
  for (let j = 0; j < bits; j++) value = (value << 1n) | BigInt(bitAt(bytes, offset + j));
  return value;
}

/** getSignedBitfield: the same bits read as a two's complement integer of width `bits`. */
export function getSignedBits(bytes: Uint8Array, offset: number, bits: number): bigint {
  return BigInt.asIntN(bits, getUnsignedBits(bytes, offset, bits));
}

/** setUnsignedBitfield: writes the low `bits` bits of `value` (any sign). `bytes` must be long enough. */
export function setBits(bytes: Uint8Array, offset: number, bits: number, value: bigint): void {
  const unsigned = BigInt.asUintN(64, value);
  for (let j = 0; j < bits; j++) {
    const bit = Number((unsigned >> BigInt(bits - 1 - j)) & 1n);
    const position = offset + j;
    const byte = Math.floor(position / 8);
    const shift = 7 - (position % 8);
    bytes[byte] = (bytes[byte]! & ~(1 << shift)) | (bit << shift);
  }
}
