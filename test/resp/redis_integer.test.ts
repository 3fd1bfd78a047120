import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRedisBigInt, parseRedisInteger } from '../../src/resp/redis_integer.js';
import { seed } from './parse_support.js';

const parse = (text: string) => parseRedisInteger(Buffer.from(text, 'latin1'));

describe('parseRedisInteger (string2ll)', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['-1', -1],
    ['2147483647', 2147483647],
    ['9223372036854775807', 9223372036854775807],
    ['-9223372036854775808', -9223372036854775808],
  ])('%s is %d', (text, value) => expect(parse(text)).toBe(value));

  it.each(['', '-', '+1', ' 1', '1 ', '01', '-0', '00', '1a', '9223372036854775808', '-9223372036854775809', '123456789012345678901', '1.0'])(
    '%j is not an integer',
    (text) => expect(parse(text)).toBeNull(),
  );

  it('is exact with BigInt at the edges', () => {
    expect(parseRedisBigInt(Buffer.from('-9223372036854775808'))).toBe(-9223372036854775808n);
    expect(parseRedisBigInt(Buffer.from('9223372036854775807'))).toBe(9223372036854775807n);
    expect(parseRedisBigInt(Buffer.from('x'))).toBeNull();
  });

  it('agrees with BigInt on every canonical 64-bit decimal', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        expect(parseRedisBigInt(Buffer.from(n.toString()))).toBe(n);
        expect(parse(n.toString())).toBe(Number(n));
      }),
      { seed, numRuns: 500 },
    );
  });
});
