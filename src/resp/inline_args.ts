/**
 * Splits an inline request line into arguments with Redis's sdssplitargs rules (sds.c), which
 * redis-cli and `telnet` users rely on:
 *
 *   - blanks (space, \t, \n, \v, \f, \r) separate arguments; inside an unquoted argument only
 *     space, \t, \n, \r end it (\v and \f stay part of it);
 *   - "double quotes": \xHH (two hex digits) is that byte, \n \r \t \b \a are control bytes, a
 *     backslash before any other byte is that byte;
 *   - 'single quotes': only \' is an escape, everything else is literal;
 *   - a quote may open in the middle of an argument (a"b c" is `ab c`), but a closing quote must
 *     be followed by a blank or the end of the line;
 *   - a NUL byte ends the line, as in C.
 *
 * Returns null where Redis reports `unbalanced quotes`. Unquoted arguments are views into
 * `line` (no copy); quoted ones are new buffers.
 */

const NUL = 0x00;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;
const LOWER_X = 0x78;
/** What a backslash makes of the byte after it inside double quotes: n r t b a; others stand for themselves. */
const ESCAPES: ReadonlyMap<number, number> = new Map([
  [0x6e, LF],
  [0x72, CR],
  [0x74, TAB],
  [0x62, 0x08],
  [0x61, 0x07],
]);

/** C isspace in the "C" locale. */
function isSpace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

export function splitInlineArgs(line: Buffer, start = 0, end = line.length): Buffer[] | null {
  // Past `end`, or at a NUL, the C string has ended.
  const at = (i: number): number => (i < end ? line[i]! : NUL);
  const args: Buffer[] = [];
  let p = start;
  for (;;) {
    while (at(p) !== NUL && isSpace(at(p))) p++;
    if (at(p) === NUL) return args;

    // An argument without quotes is a plain slice; the first quote switches to copying bytes.
    const tokenStart = p;
    let bytes: number[] | null = null;
    /** The quote the argument is inside, or 0 outside quotes. */
    let quote = 0;
    let tokenEnd = p;
    for (let done = false; !done; ) {
      const c = at(p);
      if (quote !== 0) {
        if (quote === DQUOTE && c === BACKSLASH && at(p + 1) === LOWER_X && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          bytes!.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (quote === DQUOTE && c === BACKSLASH && at(p + 1) !== NUL) {
          p++;
          bytes!.push(ESCAPES.get(at(p)) ?? at(p));
        } else if (quote === SQUOTE && c === BACKSLASH && at(p + 1) === SQUOTE) {
          p++;
          bytes!.push(SQUOTE);
        } else if (c === quote) {
          // A closing quote must be followed by a blank or the end.
          if (at(p + 1) !== NUL && !isSpace(at(p + 1))) return null;
          done = true;
        } else if (c === NUL) {
          return null;
        } else {
          bytes!.push(c);
        }
      } else if (c === SPACE || c === LF || c === CR || c === TAB || c === NUL) {
        tokenEnd = p;
        done = true;
      } else if (c === DQUOTE || c === SQUOTE) {
        bytes ??= Array.from(line.subarray(tokenStart, p));
        quote = c;
      } else if (bytes !== null) {
        bytes.push(c);
      }
      if (c !== NUL) p++;
    }
    args.push(bytes === null ? line.subarray(tokenStart, tokenEnd) : Buffer.from(bytes));
  }
}
