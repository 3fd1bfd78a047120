/**
 * INCRBYFLOAT's arithmetic, emulating what Redis 7.0 does on x86-64 Linux: parse both operands
 * with strtold into an 80-bit `long double`, add, and print with `%.17Lf` minus trailing zeros
 * (ld2string's LD_STR_HUMAN mode). A double is not enough: `INCRBYFLOAT k 0.1` replies `0.1`
 * only because 0.1 as a long double prints as 0.10000000000000000 with 17 decimals.
 *
 * The 80-bit format, emulated exactly with BigInt (no host floating point involved, so every
 * replica computes the same bytes):
 *
 *     value = mantissa × 2^exponent, mantissa < 2^64 (64 significant bits, explicit integer bit)
 *     normal:    2^63 <= mantissa,  exponent in [-16445, 16320]
 *     subnormal: mantissa < 2^63,   exponent = -16445
 *     beyond 2^16384: infinity
 *
 * Rounding is to nearest, ties to even, both for parsing and for the sum (x87 default), and the
 * decimal printing rounds ties to even as glibc does. Limits: strtold's locale is assumed to be
 * "C" (Redis sets it), and x87's double rounding of intermediate results does not arise for a
 * single addition. Results match glibc for all finite inputs; NaN and infinities are refused as
 * Redis refuses them.
 */

export interface LongDouble {
  readonly negative: boolean;
  /** Finite values only; infinities are `{ infinite: true }`. */
  readonly mantissa: bigint;
  readonly exponent: number;
  readonly infinite: boolean;
}

const MANTISSA_BITS = 64;
const MIN_EXPONENT = -16445;
/** A value is infinite once its leading bit is at 2^16384 or above. */
const OVERFLOW_BIT = 16384;
/** Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses inputs this long or longer. */
const MAX_LONG_DOUBLE_CHARS = 5 * 1024;
/** Decimal magnitudes beyond these certainly overflow / underflow to zero (max ~1.19e4932). */
const MAX_DECIMAL_MAGNITUDE = 4934;
const MIN_DECIMAL_MAGNITUDE = -4952;

export const LONG_DOUBLE_ZERO: LongDouble = { negative: false, mantissa: 0n, exponent: 0, infinite: false };

function infinity(negative: boolean): LongDouble {
  return { negative, mantissa: 0n, exponent: 0, infinite: true };
}

function bitLength(value: bigint): number {
  return value === 0n ? 0 : value.toString(2).length;
}

/**
 * The long double nearest to `sign × num / den × 2^exp2` (num >= 0, den > 0), or infinity when
 * it overflows.
 */
function roundToLongDouble(negative: boolean, num: bigint, den: bigint, exp2: number): LongDouble {
  if (num === 0n) return { ...LONG_DOUBLE_ZERO, negative };
  // Scale so that the quotient has at least 66 significant bits: 64 kept, a guard and more.
  const estimate = bitLength(num) - bitLength(den);
  const scale = MANTISSA_BITS + 2 - estimate;
  const scaledNum = scale >= 0 ? num << BigInt(scale) : num;
  const scaledDen = scale >= 0 ? den : den << BigInt(-scale);
  const quotient = scaledNum / scaledDen;
  const inexact = scaledNum % scaledDen !== 0n;
  // quotient ≈ value × 2^(scale - exp2); its leading bit is worth 2^(bitLength - 1 - scale + exp2).
  const leadingExponent = bitLength(quotient) - 1 - scale + exp2;
  const ulpExponent = Math.max(leadingExponent - (MANTISSA_BITS - 1), MIN_EXPONENT);
  const drop = ulpExponent - exp2 + scale;
  let mantissa: bigint;
  if (drop <= 0) {
    mantissa = quotient << BigInt(-drop);
  } else {
    const dropBig = BigInt(drop);
    mantissa = quotient >> dropBig;
    const remainder = quotient & ((1n << dropBig) - 1n);
    const half = 1n << (dropBig - 1n);
    if (remainder > half || (remainder === half && (inexact || (mantissa & 1n) === 1n))) mantissa += 1n;
  }
  let exponent = ulpExponent;
  if (mantissa === 1n << BigInt(MANTISSA_BITS)) {
    mantissa >>= 1n;
    exponent += 1;
  }
  if (mantissa !== 0n && bitLength(mantissa) + exponent > OVERFLOW_BIT) return infinity(negative);
  return { negative, mantissa, exponent, infinite: false };
}

const DECIMAL = /^([+-]?)(?:(\d+)\.?(\d*)|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const HEXADECIMAL = /^([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?$/;
const INFINITY = /^([+-]?)(?:inf|infinity)$/i;

/**
 * Redis's string2ld: strtold over the whole argument, refusing empty or over-long input, leading
 * whitespace, trailing bytes, NaN, and out-of-range values (overflow, or underflow to zero).
 * Returns null when refused.
 */
export function parseLongDouble(buf: Buffer): LongDouble | null {
  if (buf.length === 0 || buf.length >= MAX_LONG_DOUBLE_CHARS) return null;
  const text = buf.toString('latin1');
  let match = DECIMAL.exec(text);
  if (match !== null) {
    const negative = match[1] === '-';
    const intDigits = match[2] ?? '';
    const fracDigits = match[3] ?? match[4] ?? '';
    const digits = (intDigits + fracDigits).replace(/^0+/, '');
    if (digits === '') return { ...LONG_DOUBLE_ZERO, negative };
    const exponent10 = clampExponent(match[5]) - fracDigits.length;
    const magnitude = exponent10 + digits.length - 1;
    if (magnitude > MAX_DECIMAL_MAGNITUDE || magnitude < MIN_DECIMAL_MAGNITUDE) return null;
    const significand = BigInt(digits);
    const result =
      exponent10 >= 0
        ? roundToLongDouble(negative, significand * 10n ** BigInt(exponent10), 1n, 0)
        : roundToLongDouble(negative, significand, 10n ** BigInt(-exponent10), 0);
    return isRefusedRange(result) ? null : result;
  }
  match = HEXADECIMAL.exec(text);
  if (match !== null) {
    const negative = match[1] === '-';
    const fracDigits = match[3] ?? match[4] ?? '';
    const digits = ((match[2] ?? '') + fracDigits).replace(/^0+/, '');
    if (digits === '') return { ...LONG_DOUBLE_ZERO, negative };
    const exponent2 = clampExponent(match[5]) - 4 * fracDigits.length;
    const magnitude = exponent2 + 4 * digits.length;
    if (magnitude > OVERFLOW_BIT + 8 || magnitude < MIN_EXPONENT - 8) return null;
    const result = roundToLongDouble(negative, BigInt('0x' + digits), 1n, exponent2);
    return isRefusedRange(result) ? null : result;
  }
  match = INFINITY.exec(text);
  if (match !== null) return infinity(match[1] === '-');
  return null;
}

/** strtold's ERANGE cases that string2ld refuses: overflow to ±HUGE_VALL, underflow to zero. */
function isRefusedRange(value: LongDouble): boolean {
  return value.infinite || value.mantissa === 0n;
}

/** A parsed exponent, clamped far beyond any meaningful range (the magnitude check refuses it). */
function clampExponent(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = Number(text);
  return Math.max(-1e9, Math.min(1e9, value));
}

/** The sum, rounded to a long double; null when it is NaN or infinite (Redis refuses both). */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  if (a.infinite || b.infinite) return null;
  if (a.mantissa === 0n) return b.mantissa === 0n ? LONG_DOUBLE_ZERO : b;
  if (b.mantissa === 0n) return a;
  const base = Math.min(a.exponent, b.exponent);
  const left = (a.negative ? -a.mantissa : a.mantissa) << BigInt(a.exponent - base);
  const right = (b.negative ? -b.mantissa : b.mantissa) << BigInt(b.exponent - base);
  const sum = left + right;
  if (sum === 0n) return LONG_DOUBLE_ZERO;
  const result = roundToLongDouble(sum < 0n, sum < 0n ? -sum : sum, 1n, base);
  return result.infinite ? null : result;
}

const FRACTION_DIGITS = 17;
const FRACTION_SCALE = 10n ** BigInt(FRACTION_DIGITS);

/**
 * ld2string(LD_STR_HUMAN): `%.17Lf`, then trailing zeros and a trailing '.' removed, and "-0"
 * turned into "0". Finite values only.
 */
export function formatLongDouble(value: LongDouble): string {
  let scaled: bigint;
  if (value.exponent >= 0) {
    scaled = (value.mantissa << BigInt(value.exponent)) * FRACTION_SCALE;
  } else {
    const shift = BigInt(-value.exponent);
    const numerator = value.mantissa * FRACTION_SCALE;
    scaled = numerator >> shift;
    const remainder = numerator & ((1n << shift) - 1n);
    const half = 1n << (shift - 1n);
    if (remainder > half || (remainder === half && (scaled & 1n) === 1n)) scaled += 1n;
  }
  const integerPart = (scaled / FRACTION_SCALE).toString();
  const fraction = (scaled % FRACTION_SCALE).toString().padStart(FRACTION_DIGITS, '0').replace(/0+$/, '');
  const text = fraction === '' ? integerPart : `${integerPart}.${fraction}`;
  return value.negative && text !== '0' ? `-${text}` : text;
}
