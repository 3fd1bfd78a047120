/**
 * Glob matching exactly as Redis's stringmatchlen (util.c) with nocase off, as KEYS and SCAN
 * MATCH use it, over byte strings (latin1: one char per byte):
 *
 *   *        any run of bytes, including none
 *   ?        any one byte
 *   [abc]    one byte of the set; [^abc] one byte not in it; [a-z] a range (ends in either
 *            order, compared as C's signed char); \x inside a class is x literally
 *   \x       x literally (a trailing lone \ is a literal \)
 *
 * Redis's quirks kept: an unterminated class runs to the end of the pattern (`[abc` is the set
 * abc); a range may swallow the closing bracket (`[a-]` is a range from ']' to 'a' and the class
 * goes on); an empty subject matches only the empty pattern (Redis never enters its loop, so `*`
 * does not match an empty key; KEYS and SCAN skip the pattern when it is exactly `*`).
 *
 * Redis recurses on `*`; this compiles the pattern into tokens once, then matches with the
 * classic single backtrack point, which accepts the same strings (every token but `*` consumes
 * exactly one byte) without recursion, so no pattern can exhaust the stack.
 */

const STAR = 0;
const ANY = 1;
const LITERAL = 2;
const CLASS = 3;

type Token =
  | { readonly kind: typeof STAR }
  | { readonly kind: typeof ANY }
  | { readonly kind: typeof LITERAL; readonly byte: number }
  | {
      readonly kind: typeof CLASS;
      readonly negated: boolean;
      readonly bytes: readonly number[];
      /** [start, end] pairs of signed-char values, start <= end. */
      readonly ranges: readonly number[];
    };

const CHAR_STAR = 0x2a;
const CHAR_QUESTION = 0x3f;
const CHAR_OPEN = 0x5b;
const CHAR_CLOSE = 0x5d;
const CHAR_CARET = 0x5e;
const CHAR_BACKSLASH = 0x5c;
const CHAR_DASH = 0x2d;

function signedChar(byte: number): number {
  return byte > 127 ? byte - 256 : byte;
}

/** Tokenizes as stringmatchlen walks the pattern. */
function compile(pattern: string): Token[] {
  const tokens: Token[] = [];
  const length = pattern.length;
  let i = 0;
  while (i < length) {
    const c = pattern.charCodeAt(i);
    if (c === CHAR_STAR) {
      if (tokens.at(-1)?.kind !== STAR) tokens.push({ kind: STAR });
      i++;
    } else if (c === CHAR_QUESTION) {
      tokens.push({ kind: ANY });
      i++;
    } else if (c === CHAR_OPEN) {
      i++;
      const negated = i < length && pattern.charCodeAt(i) === CHAR_CARET;
      if (negated) i++;
      const bytes: number[] = [];
      const ranges: number[] = [];
      for (;;) {
        const p = i < length ? pattern.charCodeAt(i) : -1;
        if (p === CHAR_BACKSLASH && length - i >= 2) {
          i++;
          bytes.push(pattern.charCodeAt(i));
        } else if (p === CHAR_CLOSE) {
          break;
        } else if (i >= length) {
          // Unterminated: Redis steps back so that its common "next pattern byte" ends the scan.
          i--;
          break;
        } else if (length - i >= 3 && pattern.charCodeAt(i + 1) === CHAR_DASH) {
          const start = signedChar(p);
          const end = signedChar(pattern.charCodeAt(i + 2));
          ranges.push(Math.min(start, end), Math.max(start, end));
          i += 2;
        } else {
          bytes.push(p);
        }
        i++;
      }
      tokens.push({ kind: CLASS, negated, bytes, ranges });
      i++;
    } else if (c === CHAR_BACKSLASH && length - i >= 2) {
      tokens.push({ kind: LITERAL, byte: pattern.charCodeAt(i + 1) });
      i += 2;
    } else {
      tokens.push({ kind: LITERAL, byte: c });
      i++;
    }
  }
  return tokens;
}

function matchesOne(token: Token, byte: number): boolean {
  switch (token.kind) {
    case ANY:
      return true;
    case LITERAL:
      return token.byte === byte;
    case CLASS: {
      let found = token.bytes.includes(byte);
      if (!found) {
        const value = signedChar(byte);
        for (let r = 0; r < token.ranges.length && !found; r += 2) {
          found = value >= token.ranges[r]! && value <= token.ranges[r + 1]!;
        }
      }
      return found !== token.negated;
    }
    default:
      return false;
  }
}

/** A compiled pattern: `matches(subject)` for many subjects. Both are latin1 byte strings. */
export class GlobPattern {
  private readonly tokens: Token[];
  private readonly empty: boolean;

  constructor(pattern: string) {
    this.tokens = compile(pattern);
    this.empty = pattern.length === 0;
  }

  matches(subject: string): boolean {
    if (subject.length === 0) return this.empty;
    const tokens = this.tokens;
    let t = 0;
    let s = 0;
    let starToken = -1;
    let starSubject = 0;
    while (s < subject.length) {
      const token = tokens[t];
      if (token !== undefined && token.kind === STAR) {
        starToken = t++;
        starSubject = s;
      } else if (token !== undefined && matchesOne(token, subject.charCodeAt(s))) {
        t++;
        s++;
      } else if (starToken !== -1) {
        t = starToken + 1;
        s = ++starSubject;
      } else {
        return false;
      }
    }
    while (t < tokens.length && tokens[t]!.kind === STAR) t++;
    return t === tokens.length;
  }
}
