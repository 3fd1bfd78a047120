import fc from 'fast-check';
import { expect, test } from 'vitest';
import { LONG_DOUBLE_ZERO, addLongDouble, formatLongDouble, parseLongDouble } from '../../src/commands/long_double.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`long_double: seed=${seed} (replay with QKV_SEED=${seed})`);

/** What INCRBYFLOAT replies on a missing key, or null when Redis refuses the increment. */
function incrFromZero(text: string): string | null {
  const value = parseLongDouble(Buffer.from(text, 'latin1'));
  if (value === null) return null;
  const sum = addLongDouble(LONG_DOUBLE_ZERO, value);
  return sum === null ? null : formatLongDouble(sum);
}

function incr(base: string, by: string): string | null {
  const a = parseLongDouble(Buffer.from(base));
  const b = parseLongDouble(Buffer.from(by));
  if (a === null || b === null) return null;
  const sum = addLongDouble(a, b);
  return sum === null ? null : formatLongDouble(sum);
}

test('replies Redis 7.0 gives on x86-64 (recorded from redis-server)', () => {
  expect(incrFromZero('0.1')).toBe('0.1');
  expect(incr('0.1', '10.5')).toBe('10.6');
  expect(incrFromZero('1e400')).toBe(
    '10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880',
  );
  expect(incrFromZero('5e-1')).toBe('0.5');
  expect(incrFromZero('0x1.8p1')).toBe('3');
  expect(incrFromZero('-0')).toBe('0');
  expect(incrFromZero('-0.000000000000000001')).toBe('0');
  expect(incrFromZero('inf')).toBeNull();
  expect(incrFromZero('nan')).toBeNull();
  expect(incrFromZero('1e-5000')).toBeNull();
  expect(incrFromZero('1e5000')).toBeNull();
  expect(incrFromZero(' 1')).toBeNull();
  expect(incrFromZero('1e')).toBeNull();
  expect(incrFromZero('')).toBeNull();
});

test('integers within 64 bits are exact and print as themselves', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
      expect(incrFromZero(n.toString())).toBe(n.toString());
    }),
    { seed, numRuns: 2000 },
  );
});

test('addition is exact when it fits 64 significant bits', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 61n), max: 2n ** 61n }), fc.bigInt({ min: -(2n ** 61n), max: 2n ** 61n }), (a, b) => {
      expect(incr(a.toString(), b.toString())).toBe((a + b).toString());
    }),
    { seed, numRuns: 2000 },
  );
});
