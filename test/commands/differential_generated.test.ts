import fc from 'fast-check';
import { expect, test } from 'vitest';
import { type Word, useDifferential } from './support/differential.js';

/**
 * fast-check generated command sequences, run on a real redis-server 7.0 and on quorumkv's
 * command layer, comparing raw reply bytes (see support/differential.ts for the few
 * order-insensitive or clock-tolerant comparisons).
 *
 * Replay a failure with QKV_SEED=<seed printed below> (fast-check also prints the path of the
 * shrunk counterexample).
 *
 * To stay free of timing flakiness, TTLs are long (>= 100 s) or already past; SET gets absolute
 * times only in the future, because Redis deletes a logically expired key on any read (and
 * DBSIZE then differs) while quorumkv, by design, waits for the leader's replicated delete.
 */

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`differential_generated: seed=${seed} (replay with QKV_SEED=${seed})`);

const { differential } = useDifferential();

const nowSeconds = Math.floor(Date.now() / 1000);

const key = fc.constantFrom<Word>('a', 'b', 'c', 'k:1', Buffer.from([0, 0x78]), Buffer.from([0xc3, 0xa9]));

const integerText = fc.oneof(
  fc.integer({ min: -20, max: 20 }).map(String),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '9223372036854775808', '9007199254740993'),
);

const floatText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e20, max: 1e20 }).map(String),
  fc.constantFrom('0.1', '-0.1', '1.5', '1e10', '3.0E3', '.5', '1.', '1e400', 'inf', 'nan', '0x10'),
);

const value = fc.oneof(
  integerText,
  floatText,
  fc.constantFrom('', 'v', 'hello', ' 1', '01', '+1', '-0', 'abc'),
  fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
);

/** Badly formed numbers that every integer argument must refuse exactly as Redis. */
const garbageNumber = fc.constantFrom('abc', '', '1.5', '+1', ' 1', '01', '-', '9223372036854775808');

/** TTLs in seconds: long, or already past (delete at once), or refused. */
const seconds = fc.oneof(
  fc.integer({ min: 100, max: 100_000 }).map(String),
  fc.integer({ min: -3, max: 0 }).map(String),
  garbageNumber,
  fc.constantFrom('9223372036854775', '9223372036854775807'),
);
const milliseconds = fc.oneof(
  fc.integer({ min: 100_000, max: 100_000_000 }).map(String),
  fc.integer({ min: -3, max: 0 }).map(String),
  garbageNumber,
  fc.constantFrom('9223372036854775807'),
);
const futureSeconds = fc.integer({ min: 1000, max: 1_000_000 }).map((ahead) => String(nowSeconds + ahead));
const futureMs = fc.integer({ min: 1_000_000, max: 1_000_000_000 }).map((ahead) => String(nowSeconds * 1000 + ahead));
const pastSeconds = fc.integer({ min: 1, max: 1_000_000 }).map(String);
const pastMs = fc.integer({ min: 1, max: 1_000_000_000 }).map(String);

function caseVariant(word: string): fc.Arbitrary<string> {
  return fc.constantFrom(word, word.toUpperCase(), word[0]!.toUpperCase() + word.slice(1));
}

/** SET's options, in any order, sometimes conflicting; expiries only in the future. */
const setOptions = fc
  .array(
    fc.oneof(
      caseVariant('nx').map((o) => [o]),
      caseVariant('xx').map((o) => [o]),
      caseVariant('get').map((o) => [o]),
      caseVariant('keepttl').map((o) => [o]),
      fc.tuple(caseVariant('ex'), fc.oneof(fc.integer({ min: 100, max: 100_000 }).map(String), seconds)),
      fc.tuple(caseVariant('px'), milliseconds),
      fc.tuple(caseVariant('exat'), futureSeconds),
      fc.tuple(caseVariant('pxat'), futureMs),
      fc.constant(['bogus']),
    ),
    { maxLength: 3 },
  )
  .map((groups) => groups.flat());

const getexOptions = fc
  .array(
    fc.oneof(
      caseVariant('persist').map((o) => [o]),
      fc.tuple(caseVariant('ex'), seconds),
      fc.tuple(caseVariant('px'), milliseconds),
      fc.tuple(caseVariant('exat'), fc.oneof(futureSeconds, pastSeconds)),
      fc.tuple(caseVariant('pxat'), fc.oneof(futureMs, pastMs)),
      fc.constant(['nx']),
    ),
    { maxLength: 2 },
  )
  .map((groups) => groups.flat());

const expireOptions = fc.array(fc.oneof(caseVariant('nx'), caseVariant('xx'), caseVariant('gt'), caseVariant('lt')), {
  maxLength: 2,
});

const keyValuePairs = fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 3 }).map((pairs) => pairs.flat());

const command: fc.Arbitrary<readonly Word[]> = fc.oneof(
  fc.tuple(key, value, setOptions).map(([k, v, o]) => ['SET', k, v, ...o]),
  fc.tuple(key, value).map(([k, v]) => ['SET', k, v]),
  fc.tuple(key, value).map(([k, v]) => ['SETNX', k, v]),
  fc.tuple(key, seconds, value).map(([k, s, v]) => ['SETEX', k, s, v]),
  fc.tuple(key, milliseconds, value).map(([k, s, v]) => ['PSETEX', k, s, v]),
  fc.tuple(key, value).map(([k, v]) => ['GETSET', k, v]),
  key.map((k) => ['GET', k]),
  key.map((k) => ['GETDEL', k]),
  fc.tuple(key, getexOptions).map(([k, o]) => ['GETEX', k, ...o]),
  fc.array(key, { minLength: 1, maxLength: 4 }).map((ks) => ['MGET', ...ks]),
  keyValuePairs.map((kv) => ['MSET', ...kv]),
  keyValuePairs.map((kv) => ['MSETNX', ...kv]),
  key.map((k) => ['INCR', k]),
  key.map((k) => ['DECR', k]),
  fc.tuple(key, fc.oneof(integerText, garbageNumber)).map(([k, n]) => ['INCRBY', k, n]),
  fc.tuple(key, fc.oneof(integerText, garbageNumber)).map(([k, n]) => ['DECRBY', k, n]),
  fc.tuple(key, floatText).map(([k, n]) => ['INCRBYFLOAT', k, n]),
  fc.tuple(key, value).map(([k, v]) => ['APPEND', k, v]),
  key.map((k) => ['STRLEN', k]),
  fc.tuple(key, fc.oneof(integerText, garbageNumber), fc.oneof(integerText, garbageNumber)).map(([k, s, e]) => [
    'GETRANGE',
    k,
    s,
    e,
  ]),
  fc.tuple(key, fc.oneof(fc.integer({ min: -2, max: 20 }).map(String), garbageNumber), value).map(([k, o, v]) => [
    'SETRANGE',
    k,
    o,
    v,
  ]),
  fc.array(key, { minLength: 1, maxLength: 3 }).map((ks) => ['DEL', ...ks]),
  fc.array(key, { minLength: 1, maxLength: 3 }).map((ks) => ['UNLINK', ...ks]),
  fc.array(key, { minLength: 1, maxLength: 3 }).map((ks) => ['EXISTS', ...ks]),
  key.map((k) => ['TYPE', k]),
  fc.tuple(key, key).map(([a, b]) => ['RENAME', a, b]),
  fc.tuple(key, key).map(([a, b]) => ['RENAMENX', a, b]),
  fc.tuple(key, seconds, expireOptions).map(([k, s, o]) => ['EXPIRE', k, s, ...o]),
  fc.tuple(key, milliseconds, expireOptions).map(([k, s, o]) => ['PEXPIRE', k, s, ...o]),
  fc.tuple(key, fc.oneof(futureSeconds, pastSeconds, garbageNumber), expireOptions).map(([k, s, o]) => [
    'EXPIREAT',
    k,
    s,
    ...o,
  ]),
  fc.tuple(key, fc.oneof(futureMs, pastMs, garbageNumber), expireOptions).map(([k, s, o]) => [
    'PEXPIREAT',
    k,
    s,
    ...o,
  ]),
  key.map((k) => ['TTL', k]),
  key.map((k) => ['PTTL', k]),
  key.map((k) => ['EXPIRETIME', k]),
  key.map((k) => ['PEXPIRETIME', k]),
  key.map((k) => ['PERSIST', k]),
  fc.constantFrom(['DBSIZE'], ['RANDOMKEY'], ['KEYS', '*'], ['KEYS', '?'], ['KEYS', '[ab]*']),
  fc.constantFrom(['SCAN', '0', 'COUNT', '1000'], ['SCAN', '0', 'MATCH', 'k*', 'COUNT', '1000']),
  fc.constantFrom(['SCAN', '0', 'TYPE', 'string', 'COUNT', '1000'], ['SCAN', 'x'], ['SCAN', '0', 'COUNT', '0']),
  fc.constantFrom(['FLUSHDB'], ['FLUSHALL', 'ASYNC'], ['FLUSHALL', 'bogus']),
);

const RUNS = Number(process.env.QKV_DIFFERENTIAL_RUNS ?? 150);

test('differential: generated command sequences match redis-server 7.0 byte for byte', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), async (commands) => {
      expect(await differential().script(commands)).toEqual([]);
    }),
    { seed, numRuns: RUNS },
  );
});

/** Decimal strings of every shape strtold reads (and some it refuses). */
const decimalText = fc
  .tuple(
    fc.constantFrom('', '-', '+'),
    fc.stringMatching(/^[0-9]{0,22}$/),
    fc.option(fc.stringMatching(/^[0-9]{0,22}$/)),
    fc.option(
      fc.oneof(
        fc.integer({ min: -340, max: 340 }),
        // Near the 80-bit format's limits: overflow, subnormals, underflow to zero.
        fc.integer({ min: 4900, max: 4960 }),
        fc.integer({ min: -4990, max: -4900 }),
      ),
    ),
  )
  .map(([sign, integerPart, fraction, exponent]) => {
    let text = sign + integerPart;
    if (fraction !== null) text += `.${fraction}`;
    if (exponent !== null) text += `e${exponent}`;
    return text;
  });

test('differential: INCRBYFLOAT arithmetic and formatting (long double emulation)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(decimalText, { minLength: 1, maxLength: 6 }), async (increments) => {
      const commands: Word[][] = increments.map((increment) => ['INCRBYFLOAT', 'f', increment]);
      expect(await differential().script(commands)).toEqual([]);
    }),
    { seed, numRuns: RUNS * 3 },
  );
});

test('differential: KEYS and SCAN MATCH with generated glob patterns', async () => {
  const pattern = fc.stringMatching(/^[ab*?[\]^\\-]{0,8}$/);
  const name = fc.stringMatching(/^[ab[\]^\\*?-]{0,5}$/);
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(name, { minLength: 1, maxLength: 8 }), fc.array(pattern, { maxLength: 5 }), async (names, patterns) => {
      const commands: Word[][] = [
        ...names.map((n) => ['SET', n, 'v']),
        ...patterns.flatMap((p) => [
          ['KEYS', p],
          ['SCAN', '0', 'MATCH', p, 'COUNT', '1000'],
        ]),
      ];
      expect(await differential().script(commands)).toEqual([]);
    }),
    { seed, numRuns: RUNS * 2 },
  );
});
