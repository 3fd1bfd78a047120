import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { keyHashSlot, nameHashSlot } from '../../src/state/hash_slot.js';
import { KEY_MISSING, Keyspace, NO_EXPIRY } from '../../src/state/keyspace.js';
import { SlotSet } from '../../src/state/slot_set.js';
import { PER_TABLE_OVERHEAD_BYTES } from '../../src/state/slot_tables.js';
import { seededRandom } from '../commands/support/executor.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`keyspace: seed=${seed} (replay with QKV_SEED=${seed})`);

const NOW = 1_700_000_000_000;
const key = (name: string) => Buffer.from(name, 'latin1');
const str = (text: string) => ({ type: 'string' as const, value: Buffer.from(text) });

describe('expiry: hidden by reads, removed only by writes and replicated deletes', () => {
  test('a read at or after the expiry hides the key but keeps it (DBSIZE counts it)', () => {
    const ks = new Keyspace();
    ks.set(key('k'), str('v'), NOW + 10);
    expect(ks.get(key('k'), NOW + 9)?.value.toString()).toBe('v');
    expect(ks.get(key('k'), NOW + 10)).toBeUndefined();
    expect(ks.has(key('k'), NOW + 11)).toBe(false);
    expect(ks.expireAtOf(key('k'), NOW + 10)).toBe(KEY_MISSING);
    expect(ks.liveKeyNames(NOW + 10)).toEqual([]);
    expect(ks.size).toBe(1);
    expect(ks.countWithTtl).toBe(1);
  });

  test('the write-path lookup removes an expired key', () => {
    const ks = new Keyspace();
    ks.set(key('k'), str('v'), NOW + 10);
    expect(ks.lookupWrite(key('k'), NOW + 9)).toBeDefined();
    expect(ks.size).toBe(1);
    expect(ks.lookupWrite(key('k'), NOW + 10)).toBeUndefined();
    expect(ks.size).toBe(0);
    expect(ks.countWithTtl).toBe(0);
  });

  test('delete removes an expired key but reports it as absent; deleteIfExpired spares live keys', () => {
    const ks = new Keyspace();
    ks.set(key('old'), str('v'), NOW);
    ks.set(key('new'), str('v'), NOW + 1000);
    ks.set(key('forever'), str('v'));
    expect(ks.delete(key('old'), NOW)).toBe(false);
    expect(ks.size).toBe(2);
    expect(ks.deleteIfExpired(key('new'), NOW)).toBe(false);
    expect(ks.deleteIfExpired(key('forever'), NOW + 10 ** 9)).toBe(false);
    expect(ks.deleteIfExpired(key('new'), NOW + 1000)).toBe(true);
    expect(ks.deleteIfExpired(key('missing'), NOW)).toBe(false);
    expect(ks.liveKeyNames(NOW)).toEqual(['forever']);
  });

  test('overwrite keeps the TTL, set replaces it, setExpireAt(NO_EXPIRY) removes it', () => {
    const ks = new Keyspace();
    ks.set(key('k'), str('1'), NOW + 50);
    ks.overwrite(key('k'), str('2'));
    expect(ks.expireAtOf(key('k'), NOW)).toBe(NOW + 50);
    ks.set(key('k'), str('3'));
    expect(ks.expireAtOf(key('k'), NOW)).toBe(NO_EXPIRY);
    expect(ks.countWithTtl).toBe(0);
    ks.setExpireAt(key('k'), NOW + 5);
    expect(ks.countWithTtl).toBe(1);
    ks.setExpireAt(key('k'), NO_EXPIRY);
    expect(ks.countWithTtl).toBe(0);
    expect(ks.setExpireAt(key('missing'), NOW)).toBe(false);
  });

  test('rename moves the value and TTL and replaces the destination', () => {
    const ks = new Keyspace();
    ks.set(key('a'), str('A'), NOW + 100);
    ks.set(key('b'), str('B'), NOW + 999);
    ks.rename(key('a'), key('b'));
    expect(ks.get(key('a'), NOW)).toBeUndefined();
    expect(ks.get(key('b'), NOW)?.value.toString()).toBe('A');
    expect(ks.expireAtOf(key('b'), NOW)).toBe(NOW + 100);
    expect(ks.size).toBe(1);
    expect(ks.countWithTtl).toBe(1);
  });
});

describe('active-expiry sampling', () => {
  test('samples are distinct keys that have a TTL; all of them when asking for more', () => {
    const ks = new Keyspace();
    for (let i = 0; i < 100; i++) ks.set(key(`k${i}`), str('v'), i % 2 === 0 ? NOW + i : NO_EXPIRY);
    const random = seededRandom(seed);
    for (let round = 0; round < 50; round++) {
      const sample = ks.sampleKeysWithTtl(20, random).map((k) => k.toString());
      expect(new Set(sample).size).toBe(20);
      for (const name of sample) expect(Number(name.slice(1)) % 2).toBe(0);
    }
    expect(ks.sampleKeysWithTtl(500, random)).toHaveLength(50);
    expect(new Keyspace().sampleKeysWithTtl(5, random)).toEqual([]);
  });

  test('every key with a TTL gets sampled (swap-remove keeps the array dense)', () => {
    const ks = new Keyspace();
    for (let i = 0; i < 40; i++) ks.set(key(`k${i}`), str('v'), NOW + i);
    for (let i = 0; i < 40; i += 3) ks.delete(key(`k${i}`), NOW - 1);
    for (let i = 1; i < 40; i += 3) ks.setExpireAt(key(`k${i}`), NO_EXPIRY);
    const seen = new Set<string>();
    const random = seededRandom(seed);
    for (let round = 0; round < 200; round++) for (const k of ks.sampleKeysWithTtl(3, random)) seen.add(k.toString());
    const expected = Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 3 === 2);
    expect([...seen].sort()).toEqual(expected.map((i) => `k${i}`).sort());
    expect(ks.countWithTtl).toBe(expected.length);
  });
});

describe('SCAN cursor', () => {
  test('every key present for the whole scan is returned, across inserts, deletes, grows and shrinks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400 }),
        fc.array(
          fc.record({
            inserts: fc.integer({ min: 0, max: 300 }),
            deletes: fc.integer({ min: 0, max: 300 }),
            count: fc.integer({ min: 1, max: 20 }),
          }),
          { maxLength: 40 },
        ),
        (initial, steps) => {
          const ks = new Keyspace();
          let next = 0;
          for (; next < initial; next++) ks.set(key(`k${next}`), str('v'));
          const stable = new Set<string>(ks.liveKeyNames(NOW));
          const returned = new Set<string>();
          let cursor = 0;
          let step = 0;
          do {
            const { count, inserts, deletes } = steps[step % Math.max(steps.length, 1)] ?? { count: 10, inserts: 0, deletes: 0 };
            const result = ks.scan(cursor, count);
            for (const name of result.keys) returned.add(name);
            cursor = result.cursor;
            // Mutate between calls: delete some keys (they leave the stable set), insert new ones.
            const live = ks.liveKeyNames(NOW);
            for (let i = 0; i < deletes && i < live.length; i++) {
              const victim = live[(i * 7919 + step) % live.length]!;
              if (ks.delete(key(victim), NOW)) stable.delete(victim);
            }
            for (let i = 0; i < inserts && ks.size < 3000; i++, next++) ks.set(key(`k${next}`), str('v'));
            step++;
          } while (cursor !== 0 && step < 100_000);
          expect(cursor).toBe(0);
          for (const name of stable) expect(returned.has(name)).toBe(true);
        },
      ),
      { seed, numRuns: 150 },
    );
  });

  test('without changes a full scan returns each key exactly once', () => {
    const ks = new Keyspace();
    for (let i = 0; i < 1000; i++) ks.set(key(`k${i}`), str('v'));
    const seen: string[] = [];
    let cursor = 0;
    do {
      const result = ks.scan(cursor, 7);
      seen.push(...result.keys);
      cursor = result.cursor;
    } while (cursor !== 0);
    expect(seen).toHaveLength(1000);
    expect(new Set(seen).size).toBe(1000);
  });
});

describe('random key', () => {
  test('null on an empty or all-expired keyspace; finds the one live key among expired ones', () => {
    const ks = new Keyspace();
    const random = seededRandom(seed);
    expect(ks.randomKey(NOW, random)).toBeNull();
    for (let i = 0; i < 500; i++) ks.set(key(`dead${i}`), str('v'), NOW - 1);
    expect(ks.randomKey(NOW, random)).toBeNull();
    ks.set(key('alive'), str('v'));
    expect(ks.randomKey(NOW, random)?.toString()).toBe('alive');
  });

  test('reaches every key', () => {
    const ks = new Keyspace();
    for (let i = 0; i < 30; i++) ks.set(key(`k${i}`), str('v'));
    const random = seededRandom(seed);
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) seen.add(ks.randomKey(NOW, random)!.toString());
    expect(seen.size).toBe(30);
  });
});

describe('draws over slots of unequal size (keys kept in one table per slot)', () => {
  // 990 keys in one slot (a hash tag), 10 spread over others: a draw that picked a slot first and
  // then a key would return the crowded slot's keys about as often as one other slot's.
  const ks = new Keyspace();
  for (let i = 0; i < 990; i++) ks.set(key(`{crowded}${i}`), str('v'), NOW + 1000);
  for (let i = 0; i < 10; i++) ks.set(key(`lone${i}`), str('v'), NOW + 1000);

  test('a random key is drawn by its slot\'s share of the keys', () => {
    const random = seededRandom(seed);
    let crowded = 0;
    for (let i = 0; i < 2000; i++) if (ks.randomKey(NOW, random)!.toString().startsWith('{crowded}')) crowded++;
    expect(crowded).toBeGreaterThan(2000 * 0.95);
  });

  test('active expiry samples keys with a TTL uniformly across slots', () => {
    const random = seededRandom(seed);
    let crowded = 0;
    for (let i = 0; i < 200; i++) for (const k of ks.sampleKeysWithTtl(10, random)) if (k.toString().startsWith('{crowded}')) crowded++;
    expect(crowded).toBeGreaterThan(2000 * 0.95);
    expect(ks.sampleKeysWithTtl(5000, random)).toHaveLength(1000);
  });
});

describe('memory estimate', () => {
  test('grows with keys and value bytes and returns to zero', () => {
    const ks = new Keyspace();
    expect(ks.usedMemoryBytes).toBe(0);
    ks.set(key('a'), str('x'.repeat(1000)), NOW + 1);
    const one = ks.usedMemoryBytes;
    expect(one).toBeGreaterThan(1000);
    ks.overwrite(key('a'), str('x'.repeat(10)));
    expect(ks.usedMemoryBytes).toBe(one - 990);
    ks.set(key('b'), str('y'));
    ks.rename(key('a'), key('c'));
    ks.delete(key('b'), NOW);
    ks.delete(key('c'), NOW);
    expect(ks.usedMemoryBytes).toBe(0);
    ks.set(key('d'), str('z'));
    ks.clear();
    expect(ks.usedMemoryBytes).toBe(0);
    expect(ks.size).toBe(0);
  });

  test('counts each slot\'s table once, while it holds keys, and hands it over with a split', () => {
    const ks = new Keyspace();
    ks.set(key('{t}a'), str('x'));
    const one = ks.usedMemoryBytes;
    ks.set(key('{t}b'), str('x'));
    const sameSlot = ks.usedMemoryBytes - one;
    ks.set(key('{u}a'), str('x'));
    expect(ks.usedMemoryBytes - one - sameSlot).toBe(sameSlot + PER_TABLE_OVERHEAD_BYTES);
    const moved = SlotSet.empty();
    moved.addRange([nameHashSlot('u'), nameHashSlot('u')]);
    const before = ks.usedMemoryBytes;
    const child = ks.extractSlots(moved);
    expect(child.usedMemoryBytes).toBe(sameSlot + PER_TABLE_OVERHEAD_BYTES);
    expect(ks.usedMemoryBytes + child.usedMemoryBytes).toBe(before);
    child.delete(key('{u}a'), NOW);
    expect(child.usedMemoryBytes).toBe(0);
  });
});

describe('keys of a hash slot (CLUSTER COUNTKEYSINSLOT, GETKEYSINSLOT)', () => {
  test('counts the live keys of one slot, hash tags included, and returns up to the limit', () => {
    const ks = new Keyspace();
    for (const name of ['{user}.a', '{user}.b', '{user}.c', 'other', '{user}.gone']) ks.set(key(name), str('v'));
    ks.setExpireAt(key('{user}.gone'), NOW);
    const slot = keyHashSlot(key('user'));
    const all = ks.keysInSlot(slot, NOW, 10);
    expect(all.count).toBe(3);
    expect(all.keys.map((k) => k.toString()).sort()).toEqual(['{user}.a', '{user}.b', '{user}.c']);
    const two = ks.keysInSlot(slot, NOW, 2);
    expect(two.count).toBe(3);
    expect(two.keys).toHaveLength(2);
    expect(ks.keysInSlot(slot, NOW, 0)).toEqual({ count: 3, keys: [] });
    expect(ks.keysInSlot(keyHashSlot(key('other')), NOW, 5).keys).toEqual([key('other')]);
    // Binary keys come back byte for byte.
    ks.set(key('\xff\x00'), str('v'));
    expect(ks.keysInSlot(keyHashSlot(key('\xff\x00')), NOW, 5).keys).toEqual([key('\xff\x00')]);
  });
});
