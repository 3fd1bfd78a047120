/**
 * MurmurHash64A as Redis's hyperloglog.c computes it (reading 8-byte blocks little-endian, on
 * any host), on 64-bit values held as two unsigned 32-bit halves: exact, and without a BigInt
 * per step on PFADD's path.
 */

const TWO_32 = 0x1_0000_0000;
const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;

/** A 64-bit value as [high 32 bits, low 32 bits], both unsigned. */
type U64 = [number, number];

/** (a * b) mod 2^64. */
function multiply(aHi: number, aLo: number, bHi: number, bLo: number, out: U64): void {
  // aLo * bLo exactly, from 16-bit pieces (each partial product stays below 2^53).
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const middle = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (middle % 0x10000) * 0x10000;
  const carry = Math.floor(low / TWO_32);
  out[1] = low >>> 0;
  // The high half: the high part of aLo * bLo, plus the cross products' low 32 bits.
  out[0] = (a1 * b1 + Math.floor(middle / 0x10000) + carry + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** The hash of `data` with Redis's seed for HyperLogLog elements, 0xadc83b19. */
export function murmurHash64A(data: Uint8Array, seed = 0xadc83b19): U64 {
  const length = data.length;
  const h: U64 = [0, 0];
  const k: U64 = [0, 0];
  // h = seed ^ (len * m)
  multiply(0, length, M_HI, M_LO, h);
  h[1] = (h[1] ^ seed) >>> 0;
  const blocks = length - (length & 7);
  for (let i = 0; i < blocks; i += 8) {
    const lo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    const hi = (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)) >>> 0;
    multiply(hi, lo, M_HI, M_LO, k);
    // k ^= k >> 47: only the high half's top 17 bits reach the low half.
    k[1] = (k[1] ^ (k[0] >>> 15)) >>> 0;
    multiply(k[0], k[1], M_HI, M_LO, k);
    h[0] = (h[0] ^ k[0]) >>> 0;
    h[1] = (h[1] ^ k[1]) >>> 0;
    multiply(h[0], h[1], M_HI, M_LO, h);
  }
  const tail = length & 7;
  if (tail > 0) {
    for (let t = tail - 1; t >= 0; t--) {
      const byte = data[blocks + t]!;
      if (t >= 4) h[0] = (h[0] ^ (byte << (8 * (t - 4)))) >>> 0;
      else h[1] = (h[1] ^ (byte << (8 * t))) >>> 0;
    }
    multiply(h[0], h[1], M_HI, M_LO, h);
  }
  h[1] = (h[1] ^ (h[0] >>> 15)) >>> 0;
  multiply(h[0], h[1], M_HI, M_LO, h);
  h[1] = (h[1] ^ (h[0] >>> 15)) >>> 0;
  return h;
}
