import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/resp/errors.js';
import { RespParser } from '../../src/resp/parser.js';
import { expectSameEverySplit, parseChunks, seed, splitAt, type Outcome } from './parse_support.js';

const check = (actual: Outcome[], expected: Outcome[]) => expect(actual).toEqual(expected);
const bytes = (text: string) => Buffer.from(text, 'latin1');
const err = (error: string, message: string): Outcome => ({ error, message });

/** Each case runs as one chunk, byte by byte, and split where fast-check picks. */
const cases: [name: string, input: string, expected: Outcome[]][] = [
  ['a multibulk command', '*1\r\n$4\r\nPING\r\n', [['PING']]],
  ['binary-safe payloads', '*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$3\r\n\xff\x00\n\r\n', [['SET', 'k\r\n\0', '\xff\x00\n']]],
  ['an empty bulk', '*2\r\n$4\r\nECHO\r\n$0\r\n\r\n', [['ECHO', '']]],
  ['a pipeline mixing both forms', 'PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\nping\n', [['PING'], ['ECHO', 'x'], ['ping']]],
  ['inline quoting', 'SET a "b c" \'d e\'\r\n', [['SET', 'a', 'b c', 'd e']]],
  ['inline escapes', 'ECHO "\\x41\\x4g\\n\\"" \'a\\\'b\'\r\n', [['ECHO', 'Ax4g\n"', "a'b"]]],
  ['empty inline lines are skipped', '\r\n\n   \r\nPING\r\n', [['PING']]],
  ['counts <= 0 are skipped', '*0\r\n*-1\r\n*-5\r\nPING\r\n', [['PING']]],
  ['the CRLF after a payload is not checked', '*1\r\n$4\r\nPINGxx', [['PING']]],
  ['the LF after a header CR is not checked', '*1\rX$4\r\nPING\r\n', [['PING']]],
  ['a lone CR inside an inline line separates', 'a\rb\n', [['a', 'b']]],
  ['a NUL before the terminator stalls the line', 'PING\0\r\n', []],
  ['a NUL inside a header stalls it', '*1\0\r\n$4\r\nPING\r\n', []],
  ['commands before an error come first', 'PING\r\n*x\r\nPING\r\n', [['PING'], err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['empty count', '*\r\n', [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['-0 count', '*-0\r\n', [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['+1 count', '*+1\r\n', [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['leading zero count', '*01\r\n', [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['count above INT_MAX', '*2147483648\r\n', [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['count of 21 digits', '*-100000000000000000000\r\n', [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')]],
  ['count INT_MAX waits for its arguments', '*2147483647\r\n', []],
  ['no $', '*1\r\n%4\r\n', [err('EXPECTED_DOLLAR', "Protocol error: expected '$', got '%'")]],
  ['no $, raw byte quoted', '*1\r\n\xe9\r\n', [err('EXPECTED_DOLLAR', "Protocol error: expected '$', got '\xe9'")]],
  ['negative bulk length', '*1\r\n$-1\r\n', [err('INVALID_BULK_LENGTH', 'Protocol error: invalid bulk length')]],
  ['empty bulk length', '*1\r\n$\r\n', [err('INVALID_BULK_LENGTH', 'Protocol error: invalid bulk length')]],
  ['bulk length over 512 MB', '*1\r\n$536870913\r\n', [err('INVALID_BULK_LENGTH', 'Protocol error: invalid bulk length')]],
  ['bulk length of 512 MB waits', '*1\r\n$536870912\r\nabc', []],
  ['unbalanced double quote', '"foo\r\n', [err('UNBALANCED_QUOTES', 'Protocol error: unbalanced quotes in request')]],
  ['closing quote not followed by a blank', 'echo "a"b\r\n', [err('UNBALANCED_QUOTES', 'Protocol error: unbalanced quotes in request')]],
  ['unbalanced single quote', "echo 'a\r\n", [err('UNBALANCED_QUOTES', 'Protocol error: unbalanced quotes in request')]],
];

describe('RespParser', () => {
  for (const [name, input, expected] of cases) {
    it(name, () => expectSameEverySplit(bytes(input), expected, check));
  }

  it('reports lines longer than the inline limit, however they are split', () => {
    const tooBig = 'Protocol error: too big inline request';
    expectSameEverySplit(bytes('a'.repeat(65537)), [err('TOO_BIG_INLINE_REQUEST', tooBig)], check);
    expectSameEverySplit(bytes(`${'a'.repeat(65536)}\r\n`), [err('TOO_BIG_INLINE_REQUEST', tooBig)], check);
    expectSameEverySplit(bytes(`${'a'.repeat(65536)}\n`), [['a'.repeat(65536)]], check);
    expectSameEverySplit(bytes(`PING\0${'a'.repeat(65532)}`), [err('TOO_BIG_INLINE_REQUEST', tooBig)], check);
    expectSameEverySplit(bytes(`PING\0${'a'.repeat(65531)}`), [], check);
    expectSameEverySplit(
      bytes(`*${'1'.repeat(65536)}`),
      [err('TOO_BIG_MBULK_COUNT', 'Protocol error: too big mbulk count string')],
      check,
    );
    expectSameEverySplit(
      bytes(`*1\r\n$${'1'.repeat(65536)}`),
      [err('TOO_BIG_BULK_COUNT', 'Protocol error: too big bulk count string')],
      check,
    );
    // A long header that does end is merely not a number.
    expectSameEverySplit(bytes(`*1\r\n$${'1'.repeat(100)}\r\n`), [err('INVALID_BULK_LENGTH', 'Protocol error: invalid bulk length')], check);
  });

  it('applies limits given by name', () => {
    const limits = { maxBulkLength: 10, maxInlineSize: 8, maxMultibulkLength: 3 };
    expectSameEverySplit(bytes('*1\r\n$10\r\n0123456789\r\n'), [['0123456789']], check, limits);
    expectSameEverySplit(bytes('*1\r\n$11\r\n'), [err('INVALID_BULK_LENGTH', 'Protocol error: invalid bulk length')], check, limits);
    expectSameEverySplit(bytes('*4\r\n'), [err('INVALID_MULTIBULK_LENGTH', 'Protocol error: invalid multibulk length')], check, limits);
    expectSameEverySplit(bytes('12345678\r\n'), [['12345678']], check, { maxInlineSize: 9 });
    expectSameEverySplit(bytes('123456789\r\n'), [err('TOO_BIG_INLINE_REQUEST', 'Protocol error: too big inline request')], check, limits);
  });

  it('bounds requests before authentication as Redis does', () => {
    expectSameEverySplit(bytes('*10\r\n'), [], check, {}, false);
    expectSameEverySplit(bytes('*11\r\n'), [err('UNAUTHENTICATED_MULTIBULK_LENGTH', 'Protocol error: unauthenticated multibulk length')], check, {}, false);
    expectSameEverySplit(bytes('*1\r\n$16384\r\n'), [], check, {}, false);
    expectSameEverySplit(bytes('*1\r\n$16385\r\n'), [err('UNAUTHENTICATED_BULK_LENGTH', 'Protocol error: unauthenticated bulk length')], check, {}, false);
  });

  it('closes without a reply past the query buffer limit', () => {
    const parser = new RespParser({ maxQueryBuffer: 100 });
    parser.feed(bytes('*1\r\n$1000\r\n'));
    expect(parser.next()).toBeNull();
    parser.feed(Buffer.alloc(101, 0x61));
    const result = parser.next();
    expect(result).toBeInstanceOf(ProtocolError);
    expect((result as ProtocolError).code).toBe('QUERY_BUFFER_LIMIT');
    expect((result as ProtocolError).reply).toBeNull();
  });

  it('keeps returning its error, and builds the reply Redis writes', () => {
    const parser = new RespParser();
    parser.feed(bytes('*x\r\n'));
    const first = parser.next() as ProtocolError;
    parser.feed(bytes('PING\r\n'));
    expect(parser.next()).toBe(first);
    expect(first.reply).toEqual({ kind: 'error', message: 'ERR Protocol error: invalid multibulk length' });
    expect(first).toMatchObject({ name: 'ProtocolError', outcome: 'fail' });
  });

  it('parses a command inside one chunk in place, without copying', () => {
    const chunk = bytes('*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n');
    const parser = new RespParser();
    parser.feed(chunk);
    const args = parser.next() as Buffer[];
    expect(args.map(String)).toEqual(['ECHO', 'hello']);
    expect(args[1]!.buffer).toBe(chunk.buffer);
  });

  it('copies a large bulk once, into a buffer of its exact size, and what follows stays in place', () => {
    const size = 3 * 1024 * 1024 + 7;
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff;
    const stream = Buffer.concat([bytes(`*2\r\n$3\r\nSET\r\n$${size}\r\n`), payload, bytes('\r\n*1\r\n$4\r\nPING\r\n')]);
    const chunks = splitAt(stream, Array.from({ length: 60 }, (_, i) => i * 65536 + 11));
    const parser = new RespParser();
    const commands: Buffer[][] = [];
    for (const chunk of chunks) {
      parser.feed(chunk);
      for (let r = parser.next(); r !== null; r = parser.next()) commands.push(r as Buffer[]);
    }
    expect(commands).toHaveLength(2);
    const value = commands[0]![1]!;
    expect(value.equals(payload)).toBe(true);
    expect(value.buffer.byteLength).toBe(size + 2);
    expect(commands[1]![0]!.buffer).toBe(chunks[chunks.length - 1]!.buffer);
  });

  it('parses a pipeline of 10,000 commands in one chunk', () => {
    const commands = Array.from({ length: 10_000 }, (_, i) => `*3\r\n$3\r\nSET\r\n$${`key:${i}`.length}\r\nkey:${i}\r\n$5\r\nvalue\r\n`);
    const chunk = bytes(commands.join(''));
    const parser = new RespParser();
    const started = performance.now();
    parser.feed(chunk);
    let count = 0;
    let errors = 0;
    for (let r = parser.next(); r !== null; r = parser.next()) {
      if (Array.isArray(r)) count++;
      else errors++;
    }
    const elapsed = performance.now() - started;
    expect(errors).toBe(0);
    console.log(`10,000-command pipeline (${chunk.length} bytes) parsed in ${elapsed.toFixed(1)} ms`);
    expect(count).toBe(10_000);
    // Byte by byte still finds them all, in order.
    const outcomes = parseChunks(Array.from({ length: 200 }, (_, i) => chunk.subarray(i * (chunk.length / 200), (i + 1) * (chunk.length / 200))));
    expect(outcomes).toHaveLength(10_000);
    expect(outcomes[9_999]).toEqual(['SET', 'key:9999', 'value']);
  });

  it('never throws on random bytes: only commands, then at most one error, the same however split', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.array(fc.constantFrom(...'*$\r\n0123-+ "\'\\x\0ab'.split('')), { maxLength: 80 }).map((chars) => Uint8Array.from(Buffer.from(chars.join(''), 'latin1'))),
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
        (raw, cuts) => {
          const input = Buffer.from(raw);
          const whole = parseChunks([input], { maxInlineSize: 16 });
          const split = parseChunks(splitAt(input, cuts), { maxInlineSize: 16 });
          expect(split).toEqual(whole);
          whole.forEach((outcome, i) => {
            if (!Array.isArray(outcome)) expect(i).toBe(whole.length - 1);
            else expect(outcome.length).toBeGreaterThan(0);
          });
        },
      ),
      { seed, numRuns: 2000 },
    );
  });

  it('gives back exactly the commands a generated stream holds, however split', () => {
    const arg = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
    const command = fc.array(arg, { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.array(command, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 12 }), (commands, cuts) => {
        const stream = Buffer.concat(
          commands.flatMap((args) => [bytes(`*${args.length}\r\n`), ...args.flatMap((a) => [bytes(`$${a.length}\r\n`), a, bytes('\r\n')])]),
        );
        const expected = commands.map((args) => args.map((a) => a.toString('latin1')));
        expect(parseChunks(splitAt(stream, cuts))).toEqual(expected);
      }),
      { seed, numRuns: 500 },
    );
  });
});
