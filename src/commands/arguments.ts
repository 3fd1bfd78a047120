/**
 * Argument parsing with Redis's exact acceptance rules, on raw bytes (no Buffer → string on the
 * hot paths).
 */

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const CHAR_MINUS = 0x2d;
/** Redis's LONG_STR_SIZE: string2ll refuses inputs this long or longer. */
const LONG_STR_SIZE = 21;
/** Up to 15 digits always fit a double exactly. */
const SAFE_DIGITS = 15;

export const LLONG_MAX = 9223372036854775807n;
export const LLONG_MIN = -9223372036854775808n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Redis's string2ll acceptance: an optional '-', then `0` alone or a digit 1-9 followed by digits,
 * nothing else (no '+', no spaces, no leading zeros, no "-0"), within the signed 64-bit range.
 * Returns the number of digits, or -1 when the bytes are not such an integer (range not checked).
 */
function integerDigits(buf: Buffer): number {
  const length = buf.length;
  if (length === 0 || length >= LONG_STR_SIZE) return -1;
  if (length === 1 && buf[0] === CHAR_0) return 1;
  let i = buf[0] === CHAR_MINUS ? 1 : 0;
  if (i === length) return -1;
  const first = buf[i]!;
  if (first <= CHAR_0 || first > CHAR_9) return -1;
  for (i++; i < length; i++) {
    const c = buf[i]!;
    if (c < CHAR_0 || c > CHAR_9) return -1;
  }
  return buf[0] === CHAR_MINUS ? length - 1 : length;
}

/** string2ll: the exact signed 64-bit value, or null (not an integer, or out of range). */
export function parseLongLong(buf: Buffer): bigint | null {
  const digits = integerDigits(buf);
  if (digits < 0) return null;
  const value = BigInt(buf.toString('latin1'));
  return value > LLONG_MAX || value < LLONG_MIN ? null : value;
}

/**
 * string2ll, exact: a number when the value is within ±2^53 (always so for up to 15 digits), a
 * bigint beyond; null when Redis would refuse the bytes.
 */
export function parseExactInteger(buf: Buffer): number | bigint | null {
  const digits = integerDigits(buf);
  if (digits < 0) return null;
  if (digits > SAFE_DIGITS) {
    const exact = parseLongLong(buf);
    if (exact === null) return null;
    return exact >= -MAX_SAFE && exact <= MAX_SAFE ? Number(exact) : exact;
  }
  const negative = buf[0] === CHAR_MINUS;
  let value = 0;
  for (let i = negative ? 1 : 0; i < buf.length; i++) value = value * 10 + (buf[i]! - CHAR_0);
  return negative ? -value : value;
}

/**
 * string2ll as a number: exact within ±2^53 and the nearest double beyond (for counts and
 * offsets, where only comparisons against small limits matter); null when refused.
 */
export function parseInteger(buf: Buffer): number | null {
  const value = parseExactInteger(buf);
  return value === null ? null : Number(value);
}

/**
 * Whether `arg` is the option `word` (lower-case ASCII) as Redis compares options: ASCII case
 * folded, and compared as a C string, so the argument ends at its first NUL byte.
 */
export function isOption(arg: Buffer, word: string): boolean {
  const length = word.length;
  if (arg.length < length || (arg.length > length && arg[length] !== 0)) return false;
  for (let i = 0; i < length; i++) {
    if ((arg[i]! | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The argument as Redis's `%s` prints it, up to its first NUL byte, as a byte string (one char
 * per byte: reply texts are latin1, see reply.ts).
 */
export function cString(arg: Buffer): string {
  const nul = arg.indexOf(0);
  return (nul === -1 ? arg : arg.subarray(0, nul)).toString('latin1');
}

/** The bytes of a decimal integer, as Redis's ll2string writes them. */
export function integerBytes(value: number | bigint): Buffer {
  return Buffer.from(String(value), 'latin1');
}

/** `prepare` for writes that need no validation or rewriting: propose the arguments as sent. */
export function asIs(args: readonly Buffer[]): readonly Buffer[] {
  return args;
}
