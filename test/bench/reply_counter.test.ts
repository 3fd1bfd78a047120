import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplyCounter } from './reply_counter.js';

/** A stream of replies, how many there are, and how many are top-level errors. */
const cases = [
  { name: 'simple strings', stream: '+OK\r\n+OK\r\n', replies: 2, errors: 0 },
  { name: 'integers', stream: ':1\r\n:-42\r\n', replies: 2, errors: 0 },
  { name: 'an error', stream: '-ERR value is not an integer or out of range\r\n+OK\r\n', replies: 2, errors: 1 },
  { name: 'bulk strings, one holding CRLF and a $ sign', stream: '$5\r\nhello\r\n$6\r\n$1\r\n\r\n\r\n', replies: 2, errors: 0 },
  { name: 'null bulk and empty bulk', stream: '$-1\r\n$0\r\n\r\n', replies: 2, errors: 0 },
  { name: 'nested arrays with an error inside', stream: '*2\r\n*2\r\n:1\r\n-ERR x\r\n$3\r\nabc\r\n*0\r\n*-1\r\n', replies: 3, errors: 0 },
  { name: 'a RESP3 map and null', stream: '%1\r\n+k\r\n:1\r\n_\r\n', replies: 2, errors: 0 },
  { name: 'a 4 KiB value', stream: `$4096\r\n${'x'.repeat(4096)}\r\n+OK\r\n`, replies: 2, errors: 0 },
] as const;

function feedAt(stream: Buffer, cuts: readonly number[]): { replies: number; counter: ReplyCounter } {
  const counter = new ReplyCounter();
  let replies = 0;
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    replies += counter.feed(stream.subarray(from, cut));
    from = cut;
  }
  replies += counter.feed(stream.subarray(from));
  return { replies, counter };
}

describe('ReplyCounter', () => {
  for (const c of cases) {
    const stream = Buffer.from(c.stream);
    it(`${c.name}: one chunk`, () => {
      const { replies, counter } = feedAt(stream, []);
      expect([replies, counter.errors]).toEqual([c.replies, c.errors]);
    });
    it(`${c.name}: byte by byte`, () => {
      const { replies, counter } = feedAt(stream, Array.from({ length: stream.length }, (_, i) => i));
      expect([replies, counter.errors]).toEqual([c.replies, c.errors]);
    });
    it(`${c.name}: split where fast-check picks`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 8 }), (cuts) => {
          const { replies, counter } = feedAt(stream, cuts);
          expect([replies, counter.errors]).toEqual([c.replies, c.errors]);
        }),
      );
    });
  }

  it('reports replies as they complete, not before', () => {
    const counter = new ReplyCounter();
    expect(counter.feed(Buffer.from('$5\r\nhel'))).toBe(0);
    expect(counter.feed(Buffer.from('lo\r'))).toBe(0);
    expect(counter.feed(Buffer.from('\n+OK'))).toBe(1);
    expect(counter.feed(Buffer.from('\r\n'))).toBe(1);
  });

  it('keeps the first top-level error text', () => {
    const counter = new ReplyCounter();
    counter.feed(Buffer.from('-TRYAGAIN no leader\r\n-ERR other\r\n'));
    expect(counter.firstError).toBe('-TRYAGAIN no leader');
    expect(counter.errors).toBe(2);
  });
});
