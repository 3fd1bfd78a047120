/**
 * Hash slots as Redis computes them: the CRC16 check value, slots Redis's own documentation and
 * tests give, and the hash-tag rules against a plain reference implementation of the spec.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16, keyHashSlot, nameHashSlot, slotCount } from '../../src/state/hash_slot.js';
import { propertySeed } from '../support/seed.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The Redis Cluster specification's rule, written out the slow way. */
function referenceSlot(key: Buffer): number {
  let hashed = key;
  const s = key.indexOf('{');
  if (s !== -1) {
    const e = key.indexOf('}', s + 1);
    if (e !== -1 && e !== s + 1) hashed = key.subarray(s + 1, e);
  }
  let crc = 0;
  for (const byte of hashed) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % slotCount;
}

describe('hash slots', () => {
  it('CRC16/XMODEM has the check value 0x31C3 for "123456789" (the spec\'s example)', () => {
    expect(crc16(b('123456789'))).toBe(0x31c3);
  });

  it('gives the slots Redis gives', () => {
    // From Redis's documentation and `CLUSTER KEYSLOT` on Redis 7.0.
    expect(keyHashSlot(b('somekey'))).toBe(11058);
    expect(keyHashSlot(b('foo'))).toBe(12182);
    expect(keyHashSlot(b('bar'))).toBe(5061);
    expect(keyHashSlot(b(''))).toBe(0);
  });

  it('hashes only a non-empty hash tag: the first { and the first } after it', () => {
    expect(keyHashSlot(b('{user1000}.following'))).toBe(keyHashSlot(b('{user1000}.followers')));
    expect(keyHashSlot(b('{user1000}.following'))).toBe(keyHashSlot(b('user1000')));
    expect(keyHashSlot(b('foo{}{bar}'))).toBe(referenceSlot(b('foo{}{bar}')));
    expect(keyHashSlot(b('foo{}{bar}'))).not.toBe(keyHashSlot(b('bar')));
    expect(keyHashSlot(b('foo{{bar}}zap'))).toBe(keyHashSlot(b('{bar')));
    expect(keyHashSlot(b('foo{bar}{zap}'))).toBe(keyHashSlot(b('bar')));
    expect(keyHashSlot(b('}{x}'))).toBe(keyHashSlot(b('x')));
    expect(keyHashSlot(b('no close {brace'))).toBe(referenceSlot(b('no close {brace')));
  });

  it('matches the specification on arbitrary keys, braces and binary bytes included, as bytes and as latin1 names', () => {
    const byte = fc.oneof(fc.constantFrom(0x7b, 0x7d), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 24 }), (bytes) => {
        const key = Buffer.from(bytes);
        expect(keyHashSlot(key)).toBe(referenceSlot(key));
        // The keyspace's form of the same key: its latin1 name.
        expect(nameHashSlot(key.toString('latin1'))).toBe(referenceSlot(key));
      }),
      propertySeed('hash slots', 2000),
    );
  });
});
