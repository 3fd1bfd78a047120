/**
 * Redis's string2ll (util.c): the one strict reading of a decimal integer that the protocol
 * (`*N`, `$N`) and commands (`value is not an integer or out of range`) share. Valid: `0`, or an
 * optional `-` then a digit 1-9 then digits, within the signed 64-bit range. Not valid: empty,
 * `+1`, ` 1`, `01`, `-0`, 21 bytes or more.
 */

const DIGIT_0 = 0x30;
const DIGIT_1 = 0x31;
const DIGIT_9 = 0x39;
const MINUS = 0x2d;
/** LONG_STR_SIZE in util.h: 21 bytes or more is never a long long. */
const LONG_STR_SIZE = 21;
const LLONG_MAX_DIGITS = '9223372036854775807';
const LLONG_MIN_DIGITS = '9223372036854775808';

/**
 * The value of bytes[start, end) as a number, or null when string2ll would refuse it. Values
 * beyond 2^53 come back as the nearest double (fine for comparing against limits); use
 * parseRedisBigInt where exactness matters.
 */
export function parseRedisInteger(bytes: Uint8Array, start = 0, end = bytes.length): number | null {
  const len = end - start;
  if (len <= 0 || len >= LONG_STR_SIZE) return null;
  if (len === 1 && bytes[start] === DIGIT_0) return 0;
  let p = start;
  const negative = bytes[p] === MINUS;
  if (negative) {
    p++;
    if (p === end) return null;
  }
  const first = bytes[p]!;
  if (first < DIGIT_1 || first > DIGIT_9) return null;
  let value = first - DIGIT_0;
  p++;
  for (; p < end; p++) {
    const c = bytes[p]!;
    if (c < DIGIT_0 || c > DIGIT_9) return null;
    value = value * 10 + (c - DIGIT_0);
  }
  const digits = end - start - (negative ? 1 : 0);
  if (digits > 19 || (digits === 19 && !withinLongLong(bytes, end - 19, negative))) return null;
  // Past 15 digits the running sum may round more than once; the parsed text rounds once.
  if (digits > 15) value = Number(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1'));
  else if (negative) value = -value;
  return value;
}

/** As parseRedisInteger, exactly. */
export function parseRedisBigInt(bytes: Uint8Array, start = 0, end = bytes.length): bigint | null {
  if (parseRedisInteger(bytes, start, end) === null) return null;
  return BigInt(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1'));
}

function withinLongLong(bytes: Uint8Array, digitsStart: number, negative: boolean): boolean {
  const bound = negative ? LLONG_MIN_DIGITS : LLONG_MAX_DIGITS;
  for (let i = 0; i < 19; i++) {
    const c = bytes[digitsStart + i]!;
    const b = bound.charCodeAt(i);
    if (c !== b) return c < b;
  }
  return true;
}
