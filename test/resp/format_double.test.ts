import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDouble } from '../../src/resp/format_double.js';

/** [value as shortest repr, C's '%.17g' of it], made with Python's %-formatting (glibc's rules). */
const vectors = JSON.parse(readFileSync(new URL('./fixtures/doubles-17g.json', import.meta.url), 'utf8')) as [string, string][];

describe('formatDouble (%.17g)', () => {
  it(`matches C's %.17g on ${vectors.length} values, exact ties included`, () => {
    const wrong = vectors.filter(([value, expected]) => formatDouble(Number(value)) !== expected);
    expect(wrong).toEqual([]);
  });

  it.each([
    [0.1, '0.10000000000000001'],
    [1.5, '1.5'],
    [-0, '-0'],
    [0, '0'],
    [1e17, '1e+17'],
    [1e16, '10000000000000000'],
    [0.0001, '0.0001'],
    [0.00001, '1.0000000000000001e-05'],
    [2.98023223876953125e-8, '2.9802322387695312e-08'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ])('%d -> %s', (value, expected) => expect(formatDouble(value)).toBe(expected));
});
