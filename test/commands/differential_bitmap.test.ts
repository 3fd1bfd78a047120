import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Differential, type Word, useDifferential } from './support/differential.js';

/**
 * The bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO) against a real
 * redis-server 7.0: hand-picked edge cases, each script from an empty keyspace, in RESP2 and (the
 * replies with nulls and arrays) RESP3; then fast-check generated sequences. Replay a generated
 * failure with QKV_SEED=<seed printed below>.
 */

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`differential_bitmap: seed=${seed} (replay with QKV_SEED=${seed})`);

const { redis, differential } = useDifferential();

const bytes = (...values: number[]) => Buffer.from(values);

const scripts: Record<string, (readonly Word[])[]> = {
  'SETBIT and GETBIT': [
    ['SETBIT', 'k', '7', '1'],
    ['GET', 'k'],
    ['SETBIT', 'k', '7', '1'],
    ['SETBIT', 'k', '7', '0'],
    ['GETBIT', 'k', '7'],
    ['SETBIT', 'k', '0', '1'],
    ['SETBIT', 'k', '100', '1'],
    ['GET', 'k'],
    ['STRLEN', 'k'],
    ['GETBIT', 'k', '100'],
    ['GETBIT', 'k', '101'],
    ['GETBIT', 'k', '1000000'],
    ['GETBIT', 'missing', '0'],
    ['GETBIT', 'missing', '4294967295'],
    ['GETBIT', 'k', '4294967295'],
    ['GETBIT', 'k', '4294967296'],
    ['GETBIT', 'k', '-1'],
    ['GETBIT', 'k', 'abc'],
    ['GETBIT', 'k', ''],
    ['GETBIT', 'k', '+1'],
    ['GETBIT', 'k', '9223372036854775808'],
    ['SETBIT', 'k', '4294967296', '1'],
    ['SETBIT', 'k', '-1', '1'],
    ['SETBIT', 'k', 'x', '1'],
    ['SETBIT', 'k', '1', '2'],
    ['SETBIT', 'k', '1', '-1'],
    ['SETBIT', 'k', '1', 'x'],
    ['SETBIT', 'k', '1', ''],
    ['SETBIT', 'k', '1', '01'],
    // The offset is checked before the bit, and both before the key's type.
    ['SETBIT', 'k', '-1', 'x'],
    ['SET', 's', 'foobar'],
    ['GETBIT', 's', '1'],
    ['GETBIT', 's', '2'],
    ['SETBIT', 's', '6', '1'],
    ['GET', 's'],
    // An integer-looking value is bits of its digits.
    ['SET', 'n', '255'],
    ['GETBIT', 'n', '2'],
    ['SETBIT', 'n', '7', '0'],
    ['GET', 'n'],
    // An existing key keeps its TTL; a new one has none.
    ['SET', 't', 'a', 'EX', '1000'],
    ['SETBIT', 't', '20', '1'],
    ['TTL', 't'],
    ['SETBIT', 'new', '3', '0'],
    ['GET', 'new'],
    ['TTL', 'new'],
    ['SET', 'e', ''],
    ['GETBIT', 'e', '0'],
    ['SETBIT', 'e', '0', '0'],
    ['GET', 'e'],
  ],
  'SETBIT at the last offset (a 512 MB string)': [
    ['SETBIT', 'big', '4294967295', '1'],
    ['STRLEN', 'big'],
    ['GETBIT', 'big', '4294967295'],
    ['GETBIT', 'big', '4294967294'],
    ['BITCOUNT', 'big', '-1', '-1'],
    ['BITCOUNT', 'big', '-8', '-1', 'BIT'],
    ['BITPOS', 'big', '1', '-2'],
    ['SETBIT', 'big', '4294967295', '1'],
    ['DEL', 'big'],
  ],
  BITCOUNT: [
    ['BITCOUNT', 'missing'],
    ['BITCOUNT', 'missing', 'a', 'b'],
    ['BITCOUNT', 'missing', '0'],
    ['BITCOUNT', 'missing', '0', '1', 'junk', 'more'],
    ['SET', 'k', 'foobar'],
    ['BITCOUNT', 'k'],
    ['BITCOUNT', 'k', '0', '0'],
    ['BITCOUNT', 'k', '1', '1'],
    ['BITCOUNT', 'k', '1', '1', 'BYTE'],
    ['BITCOUNT', 'k', '5', '30', 'BIT'],
    ['BITCOUNT', 'k', '5', '30', 'bit'],
    ['BITCOUNT', 'k', '0', '-1', 'BIT'],
    ['BITCOUNT', 'k', '3', '3', 'BIT'],
    ['BITCOUNT', 'k', '-5', '-2', 'BIT'],
    ['BITCOUNT', 'k', '-1', '-5'],
    ['BITCOUNT', 'k', '-1', '-5', 'junk'],
    ['BITCOUNT', 'k', '-5', '-1'],
    ['BITCOUNT', 'k', '4', '2'],
    ['BITCOUNT', 'k', '-100', '100'],
    ['BITCOUNT', 'k', '100', '200'],
    ['BITCOUNT', 'k', '-9223372036854775808', '9223372036854775807'],
    ['BITCOUNT', 'k', '-9223372036854775808', '9223372036854775807', 'BIT'],
    ['BITCOUNT', 'k', '0', '1', 'BITS'],
    ['BITCOUNT', 'k', '0', '1', ''],
    ['BITCOUNT', 'k', '0'],
    ['BITCOUNT', 'k', '0', '1', 'BIT', 'x'],
    ['BITCOUNT', 'k', 'a', '1'],
    ['BITCOUNT', 'k', '0', 'b'],
    ['BITCOUNT', 'k', '0', '9223372036854775808'],
    ['SET', 'e', ''],
    ['BITCOUNT', 'e'],
    ['BITCOUNT', 'e', '0', '-1'],
    ['BITCOUNT', 'e', '0', '-1', 'BIT'],
    ['SET', 'ones', bytes(0xff, 0xff, 0xff)],
    ['BITCOUNT', 'ones', '1', '22', 'BIT'],
    ['BITCOUNT', 'ones', '9', '9', 'BIT'],
    ['BITCOUNT', 'ones', '8', '15', 'BIT'],
  ],
  BITPOS: [
    ['BITPOS', 'missing', '0'],
    ['BITPOS', 'missing', '1'],
    ['BITPOS', 'missing', '1', 'a', 'b', 'c', 'd'],
    ['BITPOS', 'missing', '2'],
    ['BITPOS', 'missing', 'x'],
    ['SET', 'k', bytes(0xff, 0xf0, 0x00)],
    ['BITPOS', 'k', '0'],
    ['BITPOS', 'k', '1'],
    ['BITPOS', 'k', '0', '0'],
    ['BITPOS', 'k', '1', '2'],
    ['BITPOS', 'k', '0', '2'],
    ['BITPOS', 'k', '0', '0', '0'],
    ['BITPOS', 'k', '0', '0', '1'],
    ['BITPOS', 'k', '1', '1', '-1'],
    ['BITPOS', 'k', '0', '3', '8', 'BIT'],
    ['BITPOS', 'k', '0', '0', '7', 'BIT'],
    ['BITPOS', 'k', '1', '12', '23', 'BIT'],
    ['BITPOS', 'k', '1', '-12', '-1', 'bit'],
    ['BITPOS', 'k', '0', '-12', '-1', 'BIT'],
    ['BITPOS', 'k', '0', '2', '5', 'BIT'],
    ['BITPOS', 'k', '1', '5', '2', 'BIT'],
    ['BITPOS', 'k', '0', '5', '-1', 'BYTE'],
    ['BITPOS', 'k', '0', '0', '-1', 'BITS'],
    ['BITPOS', 'k', '0', '0', 'x', 'BITS'],
    ['BITPOS', 'k', '0', '0', 'x', 'BIT'],
    ['BITPOS', 'k', '0', 'x'],
    ['BITPOS', 'k', '0', '0', '1', 'BIT', 'x'],
    ['BITPOS', 'k', '1', '-9223372036854775808', '9223372036854775807', 'BIT'],
    ['BITPOS', 'k', '1', '9223372036854775807'],
    ['BITPOS', 'k', '2'],
    ['BITPOS', 'k', '-1'],
    ['SET', 'ones', bytes(0xff, 0xff)],
    ['BITPOS', 'ones', '0'],
    ['BITPOS', 'ones', '0', '0'],
    ['BITPOS', 'ones', '0', '0', '-1'],
    ['BITPOS', 'ones', '0', '1', '14', 'BIT'],
    ['BITPOS', 'ones', '0', '3', 'BIT'],
    ['SET', 'zeros', bytes(0, 0, 0)],
    ['BITPOS', 'zeros', '1'],
    ['BITPOS', 'zeros', '1', '1', '2'],
    ['BITPOS', 'zeros', '0', '1'],
    ['SET', 'e', ''],
    ['BITPOS', 'e', '0'],
    ['BITPOS', 'e', '1'],
    ['BITPOS', 'e', '0', '0'],
  ],
  BITOP: [
    ['SET', 'a', bytes(0xf0, 0x0f, 0xaa)],
    ['SET', 'b', bytes(0xff)],
    ['BITOP', 'AND', 'd', 'a', 'b'],
    ['GET', 'd'],
    ['BITOP', 'or', 'd', 'a', 'b'],
    ['GET', 'd'],
    ['BITOP', 'Xor', 'd', 'a', 'b', 'a'],
    ['GET', 'd'],
    ['BITOP', 'NOT', 'd', 'a'],
    ['GET', 'd'],
    ['BITOP', 'NOT', 'd', 'a', 'b'],
    ['BITOP', 'NOT', 'd'],
    ['BITOP', 'NAND', 'd', 'a', 'b'],
    ['BITOP', '', 'd', 'a'],
    ['BITOP', 'AND', 'd', 'missing', 'a'],
    ['GET', 'd'],
    ['BITOP', 'OR', 'd', 'missing', 'a'],
    ['GET', 'd'],
    // Nothing but empty sources: the destination is deleted, not set to "".
    ['BITOP', 'OR', 'd', 'missing', 'other'],
    ['EXISTS', 'd'],
    ['SET', 'e', ''],
    ['SET', 'd', 'x'],
    ['BITOP', 'NOT', 'd', 'e'],
    ['EXISTS', 'd'],
    ['BITOP', 'NOT', 'd', 'missing'],
    // The destination loses its TTL; a source may be the destination.
    ['SET', 'd', 'x', 'EX', '1000'],
    ['BITOP', 'AND', 'd', 'd', 'a'],
    ['TTL', 'd'],
    ['GET', 'd'],
    ['BITOP', 'OR', 'a', 'a', 'b'],
    ['GET', 'a'],
    ['SET', 'long', 'x'.repeat(100)],
    ['SET', 'long2', 'y'.repeat(70)],
    ['BITOP', 'XOR', 'd', 'long', 'long2'],
    ['GET', 'd'],
    ['BITOP', 'AND', 'd', 'long', 'long2', 'a'],
    ['GET', 'd'],
    ['BITOP', 'NOT', 'd', 'long'],
    ['GET', 'd'],
  ],
  BITFIELD: [
    ['BITFIELD', 'k'],
    ['EXISTS', 'k'],
    ['BITFIELD', 'k', 'GET', 'u8', '0'],
    ['EXISTS', 'k'],
    ['BITFIELD', 'k', 'SET', 'i8', '0', '-100', 'GET', 'u8', '0', 'GET', 'i8', '0'],
    ['GET', 'k'],
    ['BITFIELD', 'k', 'INCRBY', 'u2', '100', '1', 'OVERFLOW', 'SAT', 'incrby', 'u2', '102', '1'],
    ['BITFIELD', 'k', 'INCRBY', 'u2', '100', '1', 'OVERFLOW', 'SAT', 'incrby', 'u2', '102', '1'],
    ['BITFIELD', 'k', 'INCRBY', 'u2', '100', '1', 'OVERFLOW', 'SAT', 'incrby', 'u2', '102', '1'],
    ['BITFIELD', 'k', 'OVERFLOW', 'FAIL', 'incrby', 'u2', '102', '1'],
    ['BITFIELD', 'k', 'SET', 'u8', '#1', '200', 'GET', 'u8', '#1', 'GET', 'u4', '#2'],
    ['GET', 'k'],
    // Overflows of every mode, signed and unsigned, SET and INCRBY.
    ['BITFIELD', 'o', 'SET', 'i8', '0', '127', 'INCRBY', 'i8', '0', '1', 'OVERFLOW', 'SAT', 'INCRBY', 'i8', '0', '-300'],
    ['BITFIELD', 'o', 'OVERFLOW', 'FAIL', 'INCRBY', 'i8', '0', '-1', 'INCRBY', 'i8', '0', '-1000', 'GET', 'i8', '0'],
    ['BITFIELD', 'o', 'OVERFLOW', 'WRAP', 'SET', 'i8', '0', '300', 'SET', 'u8', '0', '-1', 'GET', 'u8', '0'],
    ['BITFIELD', 'o', 'OVERFLOW', 'SAT', 'SET', 'i8', '0', '300', 'SET', 'u8', '0', '-1', 'GET', 'u8', '0'],
    ['BITFIELD', 'o', 'OVERFLOW', 'SAT', 'SET', 'i8', '0', '-300', 'GET', 'i8', '0'],
    ['BITFIELD', 'o', 'OVERFLOW', 'FAIL', 'SET', 'u8', '0', '256', 'SET', 'u8', '0', '255', 'GET', 'u8', '0'],
    ['BITFIELD', 'o', 'OVERFLOW', 'FAIL', 'SET', 'i1', '0', '1', 'SET', 'i1', '0', '-1', 'GET', 'i1', '0', 'GET', 'u1', '0'],
    ['BITFIELD', 'o', 'OVERFLOW', 'SAT', 'INCRBY', 'u3', '0', '-10', 'INCRBY', 'u3', '0', '100'],
    ['BITFIELD', 'o', 'OVERFLOW', 'WRAP', 'INCRBY', 'u3', '0', '-10', 'INCRBY', 'u3', '0', '100'],
    // The widest types: i64 and u63.
    ['BITFIELD', 'w', 'SET', 'i64', '0', '9223372036854775807', 'INCRBY', 'i64', '0', '1', 'GET', 'i64', '0'],
    ['BITFIELD', 'w', 'OVERFLOW', 'SAT', 'INCRBY', 'i64', '0', '-9223372036854775808', 'INCRBY', 'i64', '0', '-9223372036854775808'],
    ['BITFIELD', 'w', 'OVERFLOW', 'SAT', 'SET', 'i64', '0', '9223372036854775807', 'INCRBY', 'i64', '0', '9223372036854775807'],
    ['BITFIELD', 'w', 'OVERFLOW', 'FAIL', 'INCRBY', 'i64', '0', '1', 'INCRBY', 'i64', '0', '-1'],
    ['BITFIELD', 'w', 'SET', 'u63', '1', '9223372036854775807', 'GET', 'u63', '1', 'INCRBY', 'u63', '1', '1'],
    ['BITFIELD', 'w', 'OVERFLOW', 'SAT', 'SET', 'u63', '1', '-1', 'INCRBY', 'u63', '1', '5', 'INCRBY', 'u63', '1', '-9223372036854775808'],
    ['BITFIELD', 'w', 'OVERFLOW', 'SAT', 'SET', 'i63', '0', '-9223372036854775808', 'GET', 'i63', '0'],
    ['BITFIELD', 'w', 'OVERFLOW', 'WRAP', 'SET', 'i63', '0', '-9223372036854775808', 'GET', 'i63', '0'],
    ['BITFIELD', 'w', 'OVERFLOW', 'WRAP', 'SET', 'i64', '3', '-2', 'GET', 'i64', '3', 'GET', 'u63', '4', 'GET', 'i2', '66'],
    ['GET', 'w'],
    // Unaligned fields across bytes, and GET past the end of the string.
    ['BITFIELD', 'u', 'SET', 'u5', '7', '23', 'GET', 'u5', '7', 'GET', 'u16', '0', 'GET', 'i16', '0', 'GET', 'u8', '1000'],
    ['GET', 'u'],
    // Types refused, offsets refused.
    ['BITFIELD', 'k', 'GET', 'u64', '0'],
    ['BITFIELD', 'k', 'GET', 'i65', '0'],
    ['BITFIELD', 'k', 'GET', 'u0', '0'],
    ['BITFIELD', 'k', 'GET', 'I8', '0'],
    ['BITFIELD', 'k', 'GET', 'u', '0'],
    ['BITFIELD', 'k', 'GET', 'u08', '0'],
    ['BITFIELD', 'k', 'GET', 'u8 ', '0'],
    ['BITFIELD', 'k', 'GET', Buffer.from('u8\0x', 'latin1'), '0'],
    ['BITFIELD', 'k', 'GET', '', '0'],
    ['BITFIELD', 'k', 'GET', 'u8', '-1'],
    ['BITFIELD', 'k', 'GET', 'u8', '4294967295'],
    ['BITFIELD', 'k', 'GET', 'u8', '4294967296'],
    ['BITFIELD', 'k', 'GET', 'u8', '#536870911'],
    ['BITFIELD', 'k', 'GET', 'u8', '#536870912'],
    ['BITFIELD', 'k', 'GET', 'u8', '#-1'],
    ['BITFIELD', 'k', 'GET', 'u8', '#'],
    ['BITFIELD', 'k', 'GET', 'u8', '##1'],
    // #N * bits wraps as a 64-bit multiplication: 2^61 * 8 is offset 0.
    ['BITFIELD', 'k', 'GET', 'u8', '#2305843009213693952', 'GET', 'i64', '#144115188075855872'],
    ['BITFIELD', 'k', 'SET', 'u8', '#2305843009213693953', '5'],
    ['GET', 'k'],
    ['BITFIELD', 'k', 'SET', 'u8', '0', 'x'],
    ['BITFIELD', 'k', 'SET', 'u8', '0', '9223372036854775808'],
    ['BITFIELD', 'k', 'SET', 'u8', '0'],
    ['BITFIELD', 'k', 'GET', 'u8'],
    ['BITFIELD', 'k', 'INCRBY', 'u8', '0'],
    ['BITFIELD', 'k', 'OVERFLOW'],
    ['BITFIELD', 'k', 'OVERFLOW', 'NONE'],
    ['BITFIELD', 'k', 'OVERFLOW', 'sat', 'GET'],
    ['BITFIELD', 'k', 'FOO', 'u8', '0'],
    ['BITFIELD', 'k', 'GET', 'u8', '0', 'SET', 'u8', 'x', '1'],
    // Room is made for every write, even when each one FAILs.
    ['BITFIELD', 'f', 'OVERFLOW', 'FAIL', 'INCRBY', 'u8', '100', '300'],
    ['GET', 'f'],
    ['SET', 't', 'abc', 'EX', '1000'],
    ['BITFIELD', 't', 'SET', 'u8', '40', '1'],
    ['TTL', 't'],
    ['GET', 't'],
    ['BITFIELD', 't', 'SET', 'u8', '4294967288', '1', 'GET', 'u8', '0'],
    ['STRLEN', 't'],
    ['DEL', 't'],
  ],
  BITFIELD_RO: [
    ['BITFIELD_RO', 'k'],
    ['BITFIELD_RO', 'k', 'GET', 'u8', '0'],
    ['SET', 'k', 'hello'],
    ['BITFIELD_RO', 'k', 'GET', 'u8', '0', 'get', 'i4', '#3', 'GET', 'i64', '4'],
    ['BITFIELD_RO', 'k', 'SET', 'u8', '0', '1'],
    ['BITFIELD_RO', 'k', 'INCRBY', 'u8', '0', '1'],
    ['BITFIELD_RO', 'k', 'OVERFLOW', 'SAT'],
    ['BITFIELD_RO', 'k', 'OVERFLOW', 'x'],
    ['BITFIELD_RO', 'k', 'GET', 'u64', '0', 'SET', 'u8', '0', '1'],
    ['BITFIELD_RO', 'k', 'SET', 'u8', '0', '1', 'GET', 'u64', '0'],
    ['BITFIELD_RO', 'k', 'GET', 'u8', '-1'],
    ['BITFIELD_RO', 'k', 'GET'],
    ['GET', 'k'],
  ],
  arity: [
    ['SETBIT', 'k', '1'],
    ['GETBIT', 'k'],
    ['GETBIT', 'k', '1', '2'],
    ['BITCOUNT'],
    ['BITPOS', 'k'],
    ['BITOP', 'AND', 'd'],
    ['BITOP', 'NOT'],
    ['BITFIELD'],
    ['BITFIELD_RO'],
  ],
};

describe('differential: bitmap commands against redis-server 7.0', () => {
  for (const [name, commands] of Object.entries(scripts)) {
    test(name, async () => {
      expect(await differential().script(commands)).toEqual([]);
    }, 60_000);
  }

  test('the replies with nulls and arrays in RESP3', async () => {
    const resp3 = await Differential.resp3(await redis.connect());
    for (const name of ['BITFIELD', 'BITFIELD_RO', 'BITPOS']) {
      expect(await resp3.script(scripts[name]!)).toEqual([]);
    }
  });
});

// ------------------------------------------------------------------ generated

const key = fc.constantFrom<Word>('a', 'b', 'c');
/** Small offsets mostly (keys stay short and collide), sometimes refused ones. */
const bitOffset = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 80 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('-1', 'x', '4294967296', '') },
);
const index = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -12, max: 12 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('-9223372036854775808', '9223372036854775807', 'x') },
);
const unit = fc.constantFrom<Word[]>([], ['BIT'], ['BYTE'], ['bit'], ['bits']);
const value = fc.oneof(
  fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
  fc.constantFrom('', '0', '255', 'foobar'),
);
const bitfieldType = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('i', 'u'), fc.integer({ min: 1, max: 64 })).map(([s, n]) => `${s}${n}`) },
  { weight: 1, arbitrary: fc.constantFrom('u64', 'i0', 'x8', 'i65') },
);
const fieldOffset = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 70 }).map(String) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 }).map((n) => `#${n}`) },
  { weight: 1, arbitrary: fc.constantFrom('-1', '#-1', 'x') },
);
const int64Text = fc.oneof(
  fc.integer({ min: -300, max: 300 }).map(String),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', 'x'),
);
const subcommand = fc.oneof(
  fc.tuple(bitfieldType, fieldOffset).map(([t, o]) => ['GET', t, o]),
  fc.tuple(fc.constantFrom('SET', 'INCRBY'), bitfieldType, fieldOffset, int64Text).map(([s, t, o, v]) => [s, t, o, v]),
  fc.constantFrom('WRAP', 'SAT', 'FAIL', 'sat', 'bad').map((mode) => ['OVERFLOW', mode]),
);
const subcommands = fc.array(subcommand, { maxLength: 4 }).map((groups) => groups.flat());

const command: fc.Arbitrary<readonly Word[]> = fc.oneof(
  fc.tuple(key, value).map(([k, v]) => ['SET', k, v]),
  key.map((k) => ['GET', k]),
  key.map((k) => ['DEL', k]),
  fc.tuple(key, bitOffset, fc.constantFrom('0', '1', '2')).map(([k, o, b]) => ['SETBIT', k, o, b]),
  fc.tuple(key, bitOffset).map(([k, o]) => ['GETBIT', k, o]),
  key.map((k) => ['BITCOUNT', k]),
  fc.tuple(key, index, index, unit).map(([k, s, e, u]) => ['BITCOUNT', k, s, e, ...u]),
  fc.tuple(key, fc.constantFrom('0', '1', '2')).map(([k, b]) => ['BITPOS', k, b]),
  fc.tuple(key, fc.constantFrom('0', '1'), index).map(([k, b, s]) => ['BITPOS', k, b, s]),
  fc.tuple(key, fc.constantFrom('0', '1'), index, index, unit).map(([k, b, s, e, u]) => ['BITPOS', k, b, s, e, ...u]),
  fc
    .tuple(fc.constantFrom('AND', 'OR', 'XOR', 'NOT', 'not', 'bad'), key, fc.array(key, { minLength: 1, maxLength: 3 }))
    .map(([op, d, ks]) => ['BITOP', op, d, ...ks]),
  fc.tuple(key, subcommands).map(([k, s]) => ['BITFIELD', k, ...s]),
  fc.tuple(key, subcommands).map(([k, s]) => ['BITFIELD_RO', k, ...s]),
);

const RUNS = Number(process.env.QKV_DIFFERENTIAL_RUNS ?? 150);

test('differential: generated bitmap command sequences match redis-server 7.0 byte for byte', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 30 }), async (commands) => {
      expect(await differential().script(commands)).toEqual([]);
    }),
    { seed, numRuns: RUNS },
  );
}, 120_000);
