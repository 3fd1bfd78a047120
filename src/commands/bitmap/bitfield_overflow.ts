/**
 * BITFIELD's overflow arithmetic: checkUnsignedBitfieldOverflow and checkSignedBitfieldOverflow
 * of bitops.c, in BigInt with C's 64-bit wrapping made explicit (BigInt.asIntN / asUintN) where
 * the C code computes in uint64_t or relies on two's complement. The quirks follow from it and
 * are Redis's: SAT of `SET u8 0 -1` is 255 (the value is seen as a huge unsigned one), and SAT of
 * `SET i63 0 -9223372036854775808` is the maximum (the increment limit wraps).
 */

export type OverflowMode = 'wrap' | 'sat' | 'fail';

/** No overflow (null), or the value the mode gives instead (null for FAIL: nothing is written). */
export type OverflowResult = null | { readonly limit: bigint | null };

const int64 = (value: bigint) => BigInt.asIntN(64, value);
const uint64 = (value: bigint) => BigInt.asUintN(64, value);

/** `value` is the stored (or SET) value as uint64_t; `increment` an int64_t. */
export function unsignedOverflow(value: bigint, increment: bigint, bits: number, mode: OverflowMode): OverflowResult {
  const max = (1n << BigInt(bits)) - 1n;
  const maxIncrement = int64(max - value);
  const minIncrement = int64(-value);
  const wrapped = () => uint64(value + increment) & max;
  if (value > max || (increment > 0n && increment > maxIncrement)) {
    return { limit: mode === 'wrap' ? wrapped() : mode === 'sat' ? max : null };
  }
  if (increment < 0n && increment < minIncrement) {
    return { limit: mode === 'wrap' ? wrapped() : mode === 'sat' ? 0n : null };
  }
  return null;
}

/** `value` and `increment` are int64_t. */
export function signedOverflow(value: bigint, increment: bigint, bits: number, mode: OverflowMode): OverflowResult {
  const max = (1n << BigInt(bits - 1)) - 1n;
  const min = -max - 1n;
  const maxIncrement = int64(max - value);
  const minIncrement = int64(min - value);
  // The sum as uint64_t, then sign-extended from the field's top bit.
  const wrapped = () => BigInt.asIntN(bits, uint64(value + increment));
  const wide = bits === 64;
  if (value > max || (!wide && increment > maxIncrement) || (value >= 0n && increment > 0n && increment > maxIncrement)) {
    return { limit: mode === 'wrap' ? wrapped() : mode === 'sat' ? max : null };
  }
  if (value < min || (!wide && increment < minIncrement) || (value < 0n && increment < 0n && increment < minIncrement)) {
    return { limit: mode === 'wrap' ? wrapped() : mode === 'sat' ? min : null };
  }
  return null;
}
