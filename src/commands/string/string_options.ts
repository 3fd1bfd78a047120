import type { Reply } from '../../resp/reply.js';
import { LLONG_MAX, parseInteger, parseLongLong } from '../arguments.js';
import { invalidExpireTime, notAnInteger } from '../replies.js';

/**
 * The options of SET and GETEX, parsed as Redis 7.0's parseExtendedStringArgumentsOrReply: one
 * pass left to right; an option that conflicts with one already seen (or that the command does
 * not take) is a syntax error. Repeating an option is allowed and the last value wins
 * (`SET k v EX 1 EX 2` expires in 2 s), exactly as Redis.
 *
 *   SET:   NX | XX, GET, KEEPTTL | EX s | PX ms | EXAT s | PXAT ms
 *   GETEX: PERSIST | EX s | PX ms | EXAT s | PXAT ms
 */
export const StringOption = {
  NX: 1 << 0,
  XX: 1 << 1,
  EX: 1 << 2,
  PX: 1 << 3,
  KEEPTTL: 1 << 4,
  GET: 1 << 5,
  EXAT: 1 << 6,
  PXAT: 1 << 7,
  PERSIST: 1 << 8,
} as const;

const { NX, XX, EX, PX, KEEPTTL, GET, EXAT, PXAT, PERSIST } = StringOption;
const ANY_EXPIRE = EX | PX | EXAT | PXAT;

export interface StringOptions {
  readonly flags: number;
  /** Index of the expiry's value argument, or -1. */
  readonly expireIndex: number;
}

const CHAR_E = 0x65;
const CHAR_G = 0x67;
const CHAR_K = 0x6b;
const CHAR_N = 0x6e;
const CHAR_P = 0x70;
const CHAR_X = 0x78;
const CHAR_A = 0x61;
const CHAR_T = 0x74;

/**
 * Parses options from `args[first]` on; null means `ERR syntax error`. Options are recognised
 * by a switch on the lower-cased first byte and the length, as C strings (an argument ends at
 * its first NUL byte, as Redis's comparisons do).
 */
export function parseStringOptions(args: readonly Buffer[], first: number, forSet: boolean): StringOptions | null {
  let flags = 0;
  let expireIndex = -1;
  for (let j = first; j < args.length; j++) {
    const opt = args[j]!;
    const hasNext = j + 1 < args.length;
    const length = cStringLength(opt);
    const c0 = (opt[0] ?? 0) | 0x20;
    let option = 0;
    if (length === 2) {
      const c1 = opt[1]! | 0x20;
      if (c1 === CHAR_X) {
        if (c0 === CHAR_N) option = NX;
        else if (c0 === CHAR_X) option = XX;
        else if (c0 === CHAR_E) option = EX;
        else if (c0 === CHAR_P) option = PX;
      }
    } else if (length === 3) {
      if (c0 === CHAR_G && (opt[1]! | 0x20) === CHAR_E && (opt[2]! | 0x20) === CHAR_T) option = GET;
    } else if (length === 4) {
      if ((opt[1]! | 0x20) === CHAR_X && (opt[2]! | 0x20) === CHAR_A && (opt[3]! | 0x20) === CHAR_T) {
        if (c0 === CHAR_E) option = EXAT;
        else if (c0 === CHAR_P) option = PXAT;
      }
    } else if (length === 7) {
      if (c0 === CHAR_K && matchesRest(opt, 'keepttl')) option = KEEPTTL;
      else if (c0 === CHAR_P && matchesRest(opt, 'persist')) option = PERSIST;
    }
    switch (option) {
      case NX:
        if (!forSet || flags & XX) return null;
        break;
      case XX:
        if (!forSet || flags & NX) return null;
        break;
      case GET:
        if (!forSet) return null;
        break;
      case KEEPTTL:
        if (!forSet || flags & (PERSIST | ANY_EXPIRE)) return null;
        break;
      case PERSIST:
        if (forSet || flags & (KEEPTTL | ANY_EXPIRE)) return null;
        break;
      case EX:
      case PX:
      case EXAT:
      case PXAT:
        // The same option again is allowed (last wins); another expiry kind is not.
        if (!hasNext || flags & (KEEPTTL | PERSIST | (ANY_EXPIRE & ~option))) return null;
        expireIndex = ++j;
        break;
      default:
        return null;
    }
    flags |= option;
  }
  return { flags, expireIndex };
}

function cStringLength(arg: Buffer): number {
  const nul = arg.indexOf(0);
  return nul === -1 ? arg.length : nul;
}

function matchesRest(opt: Buffer, word: string): boolean {
  for (let i = 1; i < word.length; i++) {
    if ((opt[i]! | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** Below this, `value × 1000 + now` stays an exact double, so no BigInt is needed. */
const FAST_PATH_LIMIT = 4_000_000_000_000;
const LLONG_MAX_SECONDS = LLONG_MAX / 1000n;

/**
 * Redis's getExpireMillisecondsOrReply: the absolute expiry, in ms, that an EX / PX / EXAT / PXAT
 * value means at `nowMs`, or the error Redis gives (not an integer; `invalid expire time in
 * '<command>' command` for values <= 0 and for overflow of the unit conversion or of adding now).
 * The result is exact: a bigint when it is beyond 2^53.
 */
export function absoluteExpireMs(
  arg: Buffer,
  flags: number,
  nowMs: number,
  commandName: string,
): number | bigint | Reply {
  const inSeconds = (flags & (EX | EXAT)) !== 0;
  const relative = (flags & (EX | PX)) !== 0;
  const value = parseInteger(arg);
  if (value === null) return notAnInteger;
  if (value <= 0) return invalidExpireTime(commandName);
  if (value < FAST_PATH_LIMIT) {
    const ms = inSeconds ? value * 1000 : value;
    return relative ? ms + nowMs : ms;
  }
  const exact = parseLongLong(arg)!;
  if (inSeconds && exact > LLONG_MAX_SECONDS) return invalidExpireTime(commandName);
  const ms = (inSeconds ? exact * 1000n : exact) + (relative ? BigInt(nowMs) : 0n);
  // In C the sum wraps negative on overflow, which Redis then refuses.
  if (ms > LLONG_MAX) return invalidExpireTime(commandName);
  return ms;
}
