import { murmurHash64A } from './murmur_hash.js';

/**
 * Redis's HyperLogLog string, byte for byte (hyperloglog.c), so that the same PFADDs give the
 * same estimates and the same bytes (GET, and later DUMP/RESTORE) as Redis:
 *
 *   header (16 bytes): "HYLL", encoding (0 dense, 1 sparse), 3 zero bytes, the cached
 *                      cardinality as 8 bytes little-endian; its top bit set = stale.
 *   dense:  16384 registers of 6 bits, packed from each byte's least significant bit.
 *   sparse: run-length opcodes over the registers: ZERO 00xxxxxx (1-64 zeros), XZERO
 *           01xxxxxx yyyyyyyy (1-16384 zeros), VAL 1vvvvvxx (1-4 registers of value 1-32).
 *
 * A sparse HLL becomes dense when a register needs a value above 32, or when an update would
 * make it longer than hll-sparse-max-bytes (3000, Redis's default). The sparse updates split and
 * merge opcodes exactly as Redis's hllSparseSet does, since the bytes must come out the same.
 *
 * `HllEditor` works on a private copy: stored values are never mutated (keyspace.ts,
 * "Ownership"); the command stores the copy when it is done.
 */

export const HEADER_BYTES = 16;
export const REGISTERS = 16384;
const INDEX_BITS = 14;
const REGISTER_BITS = 6;
const REGISTER_MAX = 63;
export const DENSE_BYTES = HEADER_BYTES + (REGISTERS * REGISTER_BITS) / 8;
/** Redis's hll-sparse-max-bytes default. */
export const SPARSE_MAX_BYTES = 3000;
const DENSE = 0;
const SPARSE = 1;
const ENCODING_AT = 4;
const CARD_AT = 8;
const SPARSE_VAL_MAX_VALUE = 32;
const SPARSE_VAL_MAX_LEN = 4;
const SPARSE_ZERO_MAX_LEN = 64;
const SPARSE_XZERO_MAX_LEN = 16384;
/** Buckets of the register histogram: values go up to 64 - 14 + 1 = 51, but a corrupt dense HLL may hold up to 63. */
const HISTOGRAM_SIZE = 64;
const Q = 64 - INDEX_BITS;

// Sparse opcodes.
const isZero = (op: number) => (op & 0xc0) === 0;
const isXzero = (op: number) => (op & 0xc0) === 0x40;
const zeroLength = (op: number) => (op & 0x3f) + 1;
const xzeroLength = (op: number, next: number) => (((op & 0x3f) << 8) | next) + 1;
const valValue = (op: number) => ((op >> 2) & 0x1f) + 1;
const valLength = (op: number) => (op & 0x3) + 1;
const valOpcode = (value: number, length: number) => (((value - 1) << 2) | (length - 1)) | 0x80;

/** isHLLObjectOrReply's checks of a string: header magic, a known encoding, a dense one's exact size. */
export function isHll(bytes: Buffer): boolean {
  if (bytes.length < HEADER_BYTES) return false;
  if (bytes[0] !== 0x48 || bytes[1] !== 0x59 || bytes[2] !== 0x4c || bytes[3] !== 0x4c) return false; // HYLL
  const encoding = bytes[ENCODING_AT]!;
  if (encoding > SPARSE) return false;
  return encoding !== DENSE || bytes.length === DENSE_BYTES;
}

export function isDenseHll(hll: Buffer): boolean {
  return hll[ENCODING_AT] === DENSE;
}

/** createHLLObject: sparse, every register in XZERO opcodes, cached cardinality 0 (valid). */
export function emptyHll(): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES + 2 * Math.ceil(REGISTERS / SPARSE_XZERO_MAX_LEN));
  bytes.write('HYLL', 0, 'latin1');
  bytes[ENCODING_AT] = SPARSE;
  let at = HEADER_BYTES;
  for (let left = REGISTERS; left > 0; ) {
    const run = Math.min(left, SPARSE_XZERO_MAX_LEN);
    writeXzero(bytes, at, run);
    at += 2;
    left -= run;
  }
  return bytes;
}

function writeXzero(bytes: Uint8Array, at: number, length: number): void {
  bytes[at] = ((length - 1) >> 8) | 0x40;
  bytes[at + 1] = (length - 1) & 0xff;
}

/** hllPatLen: the register an element hashes to, and its count (the 0...01 run length, 1 to 51). */
export function registerOf(element: Uint8Array): { index: number; count: number } {
  const [hi, lo] = murmurHash64A(element);
  const index = lo & (REGISTERS - 1);
  // The hash's remaining 50 bits, with bit 50 set so that the run ends.
  const restLo = ((lo >>> INDEX_BITS) | (hi << (32 - INDEX_BITS))) >>> 0;
  const restHi = (hi >>> INDEX_BITS) | (1 << (Q - 32));
  const count = restLo !== 0 ? trailingZeros(restLo) + 1 : 32 + trailingZeros(restHi) + 1;
  return { index, count };
}

function trailingZeros(word: number): number {
  return 31 - Math.clz32(word & -word);
}

/** Dense register `index` of the registers that start at `base`; a byte past the end reads as 0. */
function denseRegister(bytes: Uint8Array, base: number, index: number): number {
  const byte = base + ((index * REGISTER_BITS) >> 3);
  const shift = (index * REGISTER_BITS) & 7;
  return ((bytes[byte]! >> shift) | ((bytes[byte + 1] ?? 0) << (8 - shift))) & REGISTER_MAX;
}

function setDenseRegister(bytes: Uint8Array, base: number, index: number, value: number): void {
  const byte = base + ((index * REGISTER_BITS) >> 3);
  const shift = (index * REGISTER_BITS) & 7;
  bytes[byte] = (bytes[byte]! & ~(REGISTER_MAX << shift)) | ((value << shift) & 0xff);
  // The last register ends inside its byte: the next one would be past the string (Redis's sds
  // terminator), and nothing is written there.
  if (byte + 1 < bytes.length) bytes[byte + 1] = (bytes[byte + 1]! & ~(REGISTER_MAX >> (8 - shift))) | (value >> (8 - shift));
}

/** One HLL being changed by a command: a private copy with room to grow (Redis's sdsMakeRoomFor). */
export class HllEditor {
  private bytes: Buffer;
  private length: number;

  constructor(value: Buffer) {
    this.bytes = Buffer.alloc(value.length + 8);
    value.copy(this.bytes, 0);
    this.length = value.length;
  }

  get dense(): boolean {
    return this.bytes[ENCODING_AT] === DENSE;
  }

  /**
   * The value to store: exactly the HLL's bytes, as a view of the editor's buffer (the keyspace
   * copies what it keeps, storedString, so no copy here). The editor is done with after it.
   */
  value(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  invalidateCache(): void {
    this.bytes[CARD_AT + 7] = this.bytes[CARD_AT + 7]! | 0x80;
  }

  /** hllAdd: 1 if a register grew, 0 if not, -1 for a corrupt sparse HLL. */
  add(element: Uint8Array): number {
    const { index, count } = registerOf(element);
    return this.set(index, count);
  }

  /** Raises register `index` to `count` if below it: 1 if it did, 0 if not, -1 when corrupt. */
  set(index: number, count: number): number {
    if (this.dense) {
      if (count <= denseRegister(this.bytes, HEADER_BYTES, index)) return 0;
      setDenseRegister(this.bytes, HEADER_BYTES, index, count);
      return 1;
    }
    return this.sparseSet(index, count);
  }

  /** hllSparseToDense: false (and nothing changed) when the sparse opcodes do not cover exactly every register. */
  toDense(): boolean {
    if (this.dense) return true;
    const dense = Buffer.alloc(DENSE_BYTES + 8);
    // The header moves as it is (the cached cardinality too); only the encoding changes.
    this.bytes.copy(dense, 0, 0, HEADER_BYTES);
    dense[ENCODING_AT] = DENSE;
    const registers = dense.subarray(0, DENSE_BYTES);
    const valid = walkSparse(this.bytes.subarray(0, this.length), (first, run, value) => {
      for (let i = first; i < first + run; i++) setDenseRegister(registers, HEADER_BYTES, i, value);
    });
    if (!valid) return false;
    this.bytes = dense;
    this.length = DENSE_BYTES;
    return true;
  }

  /**
   * Sets the length, with a zero byte just past it as sds keeps one: an XZERO cut short at the
   * end of a corrupt HLL reads it as its second byte, in Redis as here.
   */
  private resize(length: number): void {
    this.length = length;
    this.bytes[length] = 0;
  }

  private ensureRoom(extra: number): void {
    if (this.length + extra + 1 <= this.bytes.length) return;
    const grown = Buffer.alloc((this.length + extra + 1) * 2);
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  /** hllSparseSet: the same splits, merges and promotion as Redis, so the bytes match. */
  private sparseSet(index: number, count: number): number {
    if (count > SPARSE_VAL_MAX_VALUE) return this.promote(index, count);
    // An XZERO split into XZERO-VAL-XZERO grows by 3 bytes at most.
    this.ensureRoom(3);
    const b = this.bytes;
    let end = this.length;
    // Step 1: find the opcode that covers the register.
    let p = HEADER_BYTES;
    let first = 0;
    let prev = -1;
    let span = 0;
    while (p < end) {
      const op = b[p]!;
      let opLength = 1;
      if (isZero(op)) span = zeroLength(op);
      else if (op & 0x80) span = valLength(op);
      else {
        span = xzeroLength(op, b[p + 1]!);
        opLength = 2;
      }
      if (index <= first + span - 1) break;
      prev = p;
      p += opLength;
      first += span;
    }
    if (span === 0 || p >= end) return -1;
    const op = b[p]!;
    let next: number | null = isXzero(op) ? p + 2 : p + 1;
    if (next >= end) next = null;
    const zero = isZero(op);
    const xzero = isXzero(op);
    const runLength = zero ? zeroLength(op) : xzero ? xzeroLength(op, b[p + 1]!) : valLength(op);

    // Step 2: the trivial updates in place.
    let updated = false;
    if (!zero && !xzero) {
      if (valValue(op) >= count) return 0;
      if (runLength === 1) {
        b[p] = valOpcode(count, 1);
        updated = true;
      }
    }
    if (!updated && zero && runLength === 1) {
      b[p] = valOpcode(count, 1);
      updated = true;
    }

    if (!updated) {
      // The general case: the opcode is split into up to three, written to `sequence`.
      const sequence: number[] = [];
      const last = first + span - 1;
      if (zero || xzero) {
        if (index !== first) pushZeros(sequence, index - first);
        sequence.push(valOpcode(count, 1));
        if (index !== last) pushZeros(sequence, last - index);
      } else {
        const value = valValue(op);
        if (index !== first) sequence.push(valOpcode(value, index - first));
        sequence.push(valOpcode(count, 1));
        if (index !== last) sequence.push(valOpcode(value, last - index));
      }
      // Step 3: put the sequence in place of the opcode, unless that outgrows the sparse limit.
      const delta = sequence.length - (xzero ? 2 : 1);
      if (delta > 0 && this.length + delta > SPARSE_MAX_BYTES) return this.promote(index, count);
      if (delta !== 0 && next !== null) b.copyWithin(next + delta, next, end);
      this.resize(this.length + delta);
      for (let i = 0; i < sequence.length; i++) b[p + i] = sequence[i]!;
      end += delta;
    }

    // Step 4: merge adjacent VAL opcodes of one value, looking at up to 5 opcodes from `prev`.
    p = prev >= 0 ? prev : HEADER_BYTES;
    let scan = 5;
    while (p < end && scan-- > 0) {
      const current = b[p]!;
      if (isXzero(current)) {
        p += 2;
        continue;
      }
      if (isZero(current)) {
        p++;
        continue;
      }
      if (p + 1 < end && b[p + 1]! & 0x80) {
        const value = valValue(current);
        const merged = valLength(current) + valLength(b[p + 1]!);
        if (value === valValue(b[p + 1]!) && merged <= SPARSE_VAL_MAX_LEN) {
          b[p + 1] = valOpcode(value, merged);
          b.copyWithin(p, p + 1, end);
          this.resize(this.length - 1);
          end--;
          // Again from the same place: the merged opcode may merge with the next one.
          continue;
        }
      }
      p++;
    }
    this.invalidateCache();
    return 1;
  }

  /** To dense, then set the register there (which always changes it). */
  private promote(index: number, count: number): number {
    if (!this.toDense()) return -1;
    setDenseRegister(this.bytes, HEADER_BYTES, index, count);
    return 1;
  }
}

function pushZeros(sequence: number[], length: number): void {
  if (length > SPARSE_ZERO_MAX_LEN) sequence.push(((length - 1) >> 8) | 0x40, (length - 1) & 0xff);
  else sequence.push(length - 1);
}

/** hllMerge: max[i] = MAX(max[i], register i of `hll`); false when a sparse HLL is corrupt. */
export function mergeRegisters(hll: Buffer, max: Uint8Array): boolean {
  if (hll[ENCODING_AT] === DENSE) {
    for (let i = 0; i < REGISTERS; i++) {
      const value = denseRegister(hll, HEADER_BYTES, i);
      if (value > max[i]!) max[i] = value;
    }
    return true;
  }
  return walkSparse(hll, (first, run, value) => {
    for (let i = first; i < first + run; i++) if (value > max[i]!) max[i] = value;
  });
}

/** The register histogram of a stored HLL; null when a sparse one does not cover exactly every register. */
export function histogramOf(hll: Buffer): number[] | null {
  const histogram = new Array<number>(HISTOGRAM_SIZE).fill(0);
  if (hll[ENCODING_AT] === DENSE) {
    for (let i = 0; i < REGISTERS; i++) histogram[denseRegister(hll, HEADER_BYTES, i)]!++;
    return histogram;
  }
  let nonZero = 0;
  const valid = walkSparse(hll, (_first, run, value) => {
    histogram[value]! += run;
    nonZero += run;
  });
  histogram[0] = REGISTERS - nonZero;
  return valid ? histogram : null;
}

/**
 * Walks a sparse HLL's opcodes, calling `onRun` for each VAL run (first register, run length,
 * value) and counting zeros: false when the opcodes do not cover exactly the 16384 registers.
 * An opcode that runs past the last register makes it invalid at once, as Redis does since the
 * fix of CVE-2025-32023 (which the 7.0 this is compared with has too): before it, a VAL run past
 * the end was skipped, and an HLL covering 16384 registers and then some still merged.
 */
function walkSparse(hll: Buffer, onRun: (first: number, run: number, value: number) => void): boolean {
  let index = 0;
  for (let p = HEADER_BYTES; p < hll.length; ) {
    const op = hll[p]!;
    const xzero = isXzero(op);
    const value = isZero(op) || xzero ? 0 : valValue(op);
    const run = isZero(op) ? zeroLength(op) : xzero ? xzeroLength(op, hll[p + 1] ?? 0) : valLength(op);
    if (index + run > REGISTERS) return false;
    if (value > 0) onRun(index, run, value);
    index += run;
    p += xzero ? 2 : 1;
  }
  return index === REGISTERS;
}

/** The histogram of registers held one per byte (PFCOUNT of several keys, PFMERGE). */
export function histogramOfRegisters(registers: Uint8Array): number[] {
  const histogram = new Array<number>(HISTOGRAM_SIZE).fill(0);
  for (let i = 0; i < REGISTERS; i++) histogram[registers[i]!]!++;
  return histogram;
}

/**
 * hllCount's estimate from a register histogram (Ertl, "New cardinality estimation algorithms
 * for HyperLogLog sketches", as Redis computes it, in doubles and in the same order), as the
 * uint64_t Redis gets from llroundl: an estimate beyond the 64-bit range is 2^63, as x86's
 * conversion gives.
 */
export function estimate(histogram: readonly number[]): bigint {
  const m = REGISTERS;
  let z = m * tau((m - histogram[Q + 1]!) / m);
  for (let j = Q; j >= 1; --j) {
    z += histogram[j]!;
    z *= 0.5;
  }
  z += m * sigma(histogram[0]! / m);
  const e = (0.72134752044448170368 * m * m) / z;
  if (!(e < 2 ** 63)) return 1n << 63n;
  return BigInt(Math.round(e));
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let zPrime: number;
  let y = 1;
  let z = x;
  do {
    x *= x;
    zPrime = z;
    z += x * y;
    y += y;
  } while (zPrime !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let zPrime: number;
  let y = 1.0;
  let z = 1 - x;
  do {
    x = Math.sqrt(x);
    zPrime = z;
    y *= 0.5;
    const d = 1 - x;
    z -= d * d * y;
  } while (zPrime !== z);
  return z / 3;
}

/** The cached cardinality, or null when stale. */
export function cachedCardinality(hll: Buffer): bigint | null {
  if ((hll[CARD_AT + 7]! & 0x80) !== 0) return null;
  return hll.readBigUInt64LE(CARD_AT);
}

/** A copy of `hll` with `cardinality` cached (valid). */
export function withCachedCardinality(hll: Buffer, cardinality: bigint): Buffer {
  const copy = Buffer.from(hll);
  copy.writeBigUInt64LE(BigInt.asUintN(64, cardinality), CARD_AT);
  return copy;
}
