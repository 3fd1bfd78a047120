/**
 * ScanTable under colliding keys: a client that builds keys sharing one chain (the hash is fixed,
 * so it can) must not make lookups walk that chain. Hashes are passed in directly here (find and
 * add take the hash), so "colliding" needs no search for real collisions. Against a plain Map
 * model, through growth and shrinking: every lookup answers right, every entry is still walked
 * once by forEach (the SCAN order is the chains' own), and a long chain is indexed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScanTable, type ScanEntry } from '../../src/state/scan_table.js';
import { propertyParameters } from '../storage/support.js';

interface E extends ScanEntry {
  readonly n: number;
}

const entry = (name: string, n: number): E => ({ name, n, hash: 0, prev: undefined, next: undefined });

describe('ScanTable with colliding keys', () => {
  it('answers every lookup as a Map would, whatever share a chain, through growth and shrinking', () => {
    // A few distinct hashes, so that chains get long; names decide identity.
    const opArb = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), name: fc.nat(400), hash: fc.constantFrom(7, 7 + 1024, 3, 1 << 20) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), name: fc.nat(400) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('find' as const), name: fc.nat(400) }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 1500 }), (ops) => {
        const table = new ScanTable<E>();
        const model = new Map<string, { e: E; hash: number }>();
        let n = 0;
        for (const op of ops) {
          const name = `k${op.name}`;
          const known = model.get(name);
          if (op.kind === 'add') {
            if (known !== undefined) continue;
            const e = entry(name, n++);
            table.add(e, op.hash);
            model.set(name, { e, hash: op.hash });
          } else if (op.kind === 'remove') {
            if (known === undefined) continue;
            table.remove(known.e);
            model.delete(name);
          } else {
            expect(table.find(name, known?.hash ?? 7)).toBe(known?.e);
          }
        }
        for (const [name, { e, hash }] of model) expect(table.find(name, hash)).toBe(e);
        const walked: string[] = [];
        table.forEach((e) => walked.push(e.name));
        expect(walked.sort()).toEqual([...model.keys()].sort());
        expect(table.size).toBe(model.size);
      }),
      propertyParameters('scan table collisions', 150),
    );
  });

  it('indexes a long chain with a map, and stops once it is short again', () => {
    const table = new ScanTable<E>();
    const entries = Array.from({ length: 2_000 }, (_, i) => entry(`c${i}`, i));
    for (const e of entries) table.add(e, 12345);
    expect(table.indexedChains).toBe(1);
    expect(table.find('c1999', 12345)).toBe(entries[1999]);
    expect(table.find('c2000', 12345)).toBeUndefined();
    for (const e of entries.slice(0, 1_990)) table.remove(e);
    expect(table.indexedChains).toBe(0);
    expect(table.find('c1995', 12345)).toBe(entries[1995]);
    // Chains that merge when the table halves are indexed too: 20 + 20 keys whose hashes differ
    // only in bit 13 share a bucket once the table has 8192 buckets or fewer.
    const spread = new ScanTable<E>();
    const all = Array.from({ length: 9_000 }, (_, i) => entry(`s${i}`, i));
    const hashOf = (i: number): number => (i < 20 ? 5 : i < 40 ? 5 + 2 ** 13 : 100_000 + i);
    all.forEach((e, i) => spread.add(e, hashOf(i)));
    expect(spread.indexedChains).toBe(0);
    for (const e of all.slice(40)) spread.remove(e);
    expect(spread.indexedChains).toBe(1);
    expect(spread.find('s19', 5)).toBe(all[19]);
    expect(spread.find('s39', 5 + 2 ** 13)).toBe(all[39]);
  });
});
