import fc from 'fast-check';
import { expect, test } from 'vitest';
import { GlobPattern } from '../../src/commands/keyspace/glob.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`glob: seed=${seed} (replay with QKV_SEED=${seed})`);

/**
 * Reference: a line-by-line reading of Redis 7.0's recursive stringmatchlen (nocase off) over
 * byte arrays, with C's NUL terminator modelled as reading 0 past the end and `char` signed.
 */
function reference(pattern: number[], subject: number[]): boolean {
  const at = (bytes: number[], index: number) => (index < bytes.length ? bytes[index]! : 0);
  const signed = (byte: number) => (byte > 127 ? byte - 256 : byte);
  function match(p: number, plen: number, s: number, slen: number): boolean {
    while (plen > 0 && slen > 0) {
      const c = at(pattern, p);
      if (c === 0x2a) {
        while (plen > 0 && at(pattern, p + 1) === 0x2a) {
          p++;
          plen--;
        }
        if (plen === 1) return true;
        while (slen > 0) {
          if (match(p + 1, plen - 1, s, slen)) return true;
          s++;
          slen--;
        }
        return false;
      } else if (c === 0x3f) {
        s++;
        slen--;
      } else if (c === 0x5b) {
        p++;
        plen--;
        const not = at(pattern, p) === 0x5e;
        if (not) {
          p++;
          plen--;
        }
        let matched = false;
        for (;;) {
          if (at(pattern, p) === 0x5c && plen >= 2) {
            p++;
            plen--;
            if (at(pattern, p) === at(subject, s)) matched = true;
          } else if (at(pattern, p) === 0x5d) {
            break;
          } else if (plen === 0) {
            p--;
            plen++;
            break;
          } else if (plen >= 3 && at(pattern, p + 1) === 0x2d) {
            let start = signed(at(pattern, p));
            let end = signed(at(pattern, p + 2));
            const ch = signed(at(subject, s));
            if (start > end) [start, end] = [end, start];
            p += 2;
            plen -= 2;
            if (ch >= start && ch <= end) matched = true;
          } else if (at(pattern, p) === at(subject, s)) {
            matched = true;
          }
          p++;
          plen--;
        }
        if (not) matched = !matched;
        if (!matched) return false;
        s++;
        slen--;
      } else {
        if (c === 0x5c && plen >= 2) {
          p++;
          plen--;
        }
        if (at(pattern, p) !== at(subject, s)) return false;
        s++;
        slen--;
      }
      p++;
      plen--;
      if (slen === 0) {
        while (at(pattern, p) === 0x2a) {
          p++;
          plen--;
        }
        break;
      }
    }
    return plen === 0 && slen === 0;
  }
  return match(0, pattern.length, 0, subject.length);
}

const latin1 = (bytes: number[]) => Buffer.from(bytes).toString('latin1');

test('GlobPattern accepts exactly what Redis stringmatchlen accepts', () => {
  const alphabet = [0x61, 0x62, 0x2a, 0x3f, 0x5b, 0x5d, 0x5e, 0x2d, 0x5c, 0x00, 0x80, 0xff];
  const bytes = (maxLength: number) => fc.array(fc.constantFrom(...alphabet), { maxLength });
  fc.assert(
    fc.property(bytes(10), fc.array(bytes(8), { minLength: 1, maxLength: 10 }), (pattern, subjects) => {
      const glob = new GlobPattern(latin1(pattern));
      for (const subject of subjects) {
        expect(glob.matches(latin1(subject))).toBe(reference(pattern, subject));
      }
    }),
    { seed, numRuns: 5000 },
  );
});

test('known cases', () => {
  const cases: [string, string, boolean][] = [
    ['h?llo', 'hello', true],
    ['h*llo', 'heeeello', true],
    ['h[ae]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-b]llo', 'hbllo', true],
    ['*', '', false],
    ['', '', true],
    ['a\\*', 'a*', true],
    ['[abc', 'b', true],
    ['a[-z]', 'a-', true],
  ];
  for (const [pattern, subject, expected] of cases) {
    expect(new GlobPattern(pattern).matches(subject), `${pattern} ~ ${subject}`).toBe(expected);
  }
});

test('a pattern of many stars does not exhaust the stack', () => {
  const pattern = '*a'.repeat(50_000);
  expect(new GlobPattern(pattern).matches('a'.repeat(49_999))).toBe(false);
  expect(new GlobPattern(pattern).matches('a'.repeat(50_000))).toBe(true);
});
