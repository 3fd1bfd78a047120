import { FieldReader as BaseFieldReader } from './field_reader.js';
import { crc32 } from 'node:zlib';
import type { SnapshotMetadata } from '../raft/types.js';
import { QuorumError } from '../util/errors.js';

/**
 * The bytes a snapshot is made of, shared by the LevelDB store (snapshot_store.ts), the wire
 * (InstallSnapshot carries the store's chunks as they are) and backup files (backup_file.ts).
 *
 * A snapshot is a descriptor (group, index, term, membership) plus a sequence of opaque records
 * (what they mean is the state machine's business: snapshot_image.ts). The records are framed into
 * one byte stream, and the stream is cut into chunks of a fixed size:
 *
 *   record stream   | len u32 | record bytes | len u32 | record bytes | ...
 *                   '---------------- cut every chunkBytes bytes ------------'
 *
 *   chunk   0        4        8
 *           +--------+--------+-----------------------------------------+
 *           | crc32  | seq    | payload: the next slice of the stream   |
 *           +--------+--------+-----------------------------------------+
 *           crc32  u32 LE: zlib.crc32 of seq and payload
 *           seq    u32 LE: 0, 1, 2, ... within one snapshot
 *           every chunk but the last holds exactly chunkBytes payload bytes; none is empty
 *
 * A record may span chunks, so a chunk never exceeds chunkBytes + 8 bytes however large a value
 * is, and neither writer nor reader ever holds more than one chunk plus one record.
 *
 * What a complete snapshot must add up to (its totals, stored with the descriptor or in a backup
 * trailer): chunk count, record count, payload bytes, and a stream checksum, the crc32 chained
 * over every chunk's crc32 field (4 bytes LE) in order. Per-chunk checksums catch damaged bytes;
 * the totals catch lost, repeated, reordered or foreign chunks and a stream cut short.
 *
 * Descriptor encoding (integers LE; str16 = u16 byte length + UTF-8; list16 = u16 count + str16s):
 *
 *   version u8 (1) | groupId str16 | index u48 | term u48 | voters list16 | learners list16
 *   | hasCreatedAt u8 | [createdAtMs f64]
 *
 * Totals encoding: chunkCount u32 | recordCount u48 | payloadBytes u48 | checksum u32.
 */

/** A snapshot as the Raft core knows it, plus its group and, if the caller gave one, when it was taken. */
export interface SnapshotDescriptor extends SnapshotMetadata {
  readonly groupId: string;
  /** Wall-clock time the caller passed in (nothing here reads a clock); informational only. */
  readonly createdAtMs?: number;
}

/** What a complete record stream adds up to (see the file comment). */
export interface SnapshotTotals {
  readonly chunkCount: number;
  readonly recordCount: number;
  readonly payloadBytes: number;
  readonly checksum: number;
}

/** A complete snapshot's descriptor and totals: what a reader or a backup reports. */
export interface SnapshotInfo extends SnapshotDescriptor, SnapshotTotals {}

export const descriptorVersion = 1;
export const chunkHeaderBytes = 8;
export const recordHeaderBytes = 4;
export const defaultChunkBytes = 256 * 1024;
/** Largest chunk payload a reader accepts from a header it does not control (backup files). */
export const maxChunkBytes = 64 * 1024 * 1024;

/** Bytes that do not parse as this format says. Callers turn it into a corrupt-snapshot or corrupt-backup error with context. */
export class SnapshotFormatError extends QuorumError {
  constructor(message: string) {
    super('SNAPSHOT_FORMAT', message, 'fail');
    this.name = 'SnapshotFormatError';
  }
}

// -------------------------------------------------------------------------------------------------
// Fields

const u48Limit = 2 ** 48;

/** Appends fields to a list of parts; for the small, rare structures (descriptors, heads, trailers). */
export class FieldWriter {
  private readonly parts: Buffer[] = [];

  u8(value: number): this {
    this.parts.push(Buffer.from([value]));
    return this;
  }

  u16(value: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(value);
    this.parts.push(b);
    return this;
  }

  u32(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(value);
    this.parts.push(b);
    return this;
  }

  u48(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value >= u48Limit) throw new RangeError(`${value} is not an integer in [0, 2^48)`);
    const b = Buffer.allocUnsafe(6);
    b.writeUIntLE(value, 0, 6);
    this.parts.push(b);
    return this;
  }

  f64(value: number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(value);
    this.parts.push(b);
    return this;
  }

  str16(value: string): this {
    const text = Buffer.from(value, 'utf8');
    if (text.length > 0xffff) throw new RangeError(`string of ${text.length} bytes does not fit a u16 length`);
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(text.length);
    this.parts.push(b, text);
    return this;
  }

  list16(values: readonly string[]): this {
    if (values.length > 0xffff) throw new RangeError(`list of ${values.length} items does not fit a u16 count`);
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(values.length);
    this.parts.push(b);
    for (const value of values) this.str16(value);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.parts.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads fields with bounds checks; every overrun is a SnapshotFormatError. */
export class FieldReader extends BaseFieldReader {
  constructor(buf: Buffer, pos = 0, end = buf.length) {
    super(buf, pos, end, (message) => new SnapshotFormatError(message));
  }
}

// -------------------------------------------------------------------------------------------------
// Descriptor and totals

export function writeDescriptor(w: FieldWriter, d: SnapshotDescriptor): FieldWriter {
  w.u8(descriptorVersion).str16(d.groupId).u48(d.index).u48(d.term).list16(d.confState.voters).list16(d.confState.learners);
  if (d.createdAtMs === undefined) return w.u8(0);
  return w.u8(1).f64(d.createdAtMs);
}

export function readDescriptor(r: FieldReader): SnapshotDescriptor {
  const version = r.u8();
  if (version !== descriptorVersion) {
    throw new SnapshotFormatError(`unsupported snapshot descriptor version ${version} (this build reads ${descriptorVersion})`);
  }
  const groupId = r.str16();
  const index = r.u48();
  const term = r.u48();
  const voters = r.list16();
  const learners = r.list16();
  const base = { groupId, index, term, confState: { voters, learners } };
  return r.u8() === 0 ? base : { ...base, createdAtMs: r.f64() };
}

export function writeTotals(w: FieldWriter, t: SnapshotTotals): FieldWriter {
  return w.u32(t.chunkCount).u48(t.recordCount).u48(t.payloadBytes).u32(t.checksum);
}

export function readTotals(r: FieldReader): SnapshotTotals {
  return { chunkCount: r.u32(), recordCount: r.u48(), payloadBytes: r.u48(), checksum: r.u32() };
}

/** The descriptor fields of an info (or a descriptor), without totals: for comparisons and begin(). */
export function descriptorOf(d: SnapshotDescriptor): SnapshotDescriptor {
  const base = { groupId: d.groupId, index: d.index, term: d.term, confState: { voters: [...d.confState.voters], learners: [...d.confState.learners] } };
  return d.createdAtMs === undefined ? base : { ...base, createdAtMs: d.createdAtMs };
}

/** Describes the first difference between what a stream declared and what it held, or null. */
export function totalsMismatch(declared: SnapshotTotals, found: SnapshotTotals): string | null {
  for (const field of ['chunkCount', 'recordCount', 'payloadBytes', 'checksum'] as const) {
    if (declared[field] !== found[field]) return `${field} is ${found[field]} where ${declared[field]} was declared`;
  }
  return null;
}

/** Adds up the totals of a chunk stream as it passes. */
export class TotalsAccumulator {
  chunkCount = 0;
  recordCount = 0;
  payloadBytes = 0;
  checksum = 0;

  addChunk(chunk: Buffer): void {
    this.chunkCount++;
    this.payloadBytes += chunk.length - chunkHeaderBytes;
    this.checksum = crc32(chunk.subarray(0, 4), this.checksum);
  }

  totals(): SnapshotTotals {
    return { chunkCount: this.chunkCount, recordCount: this.recordCount, payloadBytes: this.payloadBytes, checksum: this.checksum };
  }
}

// -------------------------------------------------------------------------------------------------
// Feeding records

/**
 * Record bytes a writer packs between two event-loop turns: see test/bench/snapshot-bench.ts
 * (its "writer slice" line) for what one slice costs, so that a node keeps serving while a large
 * snapshot is written.
 */
export const yieldEveryBytes = 64 * 1024;

/**
 * Records a writer can pack straight into its chunks, without a Buffer per record (the state
 * image: snapshot_image.ts). `packInto` adds records to `packer` until it has added at least
 * `budgetBytes` of stream bytes or has none left, and says which; it does all its work
 * synchronously, so what it reads stays consistent within one call.
 */
export interface PackableRecords {
  packInto(packer: ChunkPacker, budgetBytes: number): 'more' | 'done';
}

export function isPackableRecords(records: unknown): records is PackableRecords {
  return typeof (records as Partial<PackableRecords> | null)?.packInto === 'function';
}

/**
 * Feeds `records` to `add` and awaits `pause()` whenever `add` returns true. A plain iterable
 * costs no promise per record; the pauses are where the event loop gets its turns.
 */
export async function feedRecords(
  records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  add: (record: Uint8Array) => boolean,
  pause: () => Promise<void>,
): Promise<void> {
  if (Symbol.asyncIterator in records) {
    for await (const record of records) if (add(record)) await pause();
  } else {
    for (const record of records) if (add(record)) await pause();
  }
}

/**
 * Where a reader delivers records without a Buffer per record: the record is
 * `bytes[start, end)`, valid only during the call (copy what you keep).
 */
export type RecordVisitor = (bytes: Buffer, start: number, end: number) => void;

/**
 * A verified record stream read chunk by chunk (SnapshotReader, VerifiedBackup): `visitRecords`
 * calls `visit` for every record, synchronously for all the records of one chunk (one promise per
 * chunk, not per record), and resolves only once the stream has ended and its totals verified.
 * If it rejects, whatever `visit` built must be discarded.
 */
export interface VisitableRecords {
  visitRecords(visit: RecordVisitor): Promise<void>;
}

// -------------------------------------------------------------------------------------------------
// Chunks

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Checks a chunk's checksum and sequence number and returns its payload (a view into `chunk`).
 * Throws SnapshotFormatError saying what is wrong.
 */
export function openChunk(chunk: Uint8Array, expectedSeq: number): Buffer {
  const buf = asBuffer(chunk);
  if (buf.length <= chunkHeaderBytes) throw new SnapshotFormatError(`chunk ${expectedSeq} has ${buf.length} bytes, no payload`);
  if (crc32(buf.subarray(4)) !== buf.readUInt32LE(0)) throw new SnapshotFormatError(`chunk ${expectedSeq} fails its checksum`);
  const seq = buf.readUInt32LE(4);
  if (seq !== expectedSeq) throw new SnapshotFormatError(`chunk ${seq} arrived where chunk ${expectedSeq} was expected`);
  return buf.subarray(chunkHeaderBytes);
}

/** Recycled chunks a packer keeps (a store batch's worth and a little more). */
const maxSpareChunks = 8;

export function checkChunkBytes(chunkBytes: number): void {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > maxChunkBytes) {
    throw new RangeError(`chunkBytes must be an integer in [1, ${maxChunkBytes}], not ${chunkBytes}`);
  }
}

/**
 * Frames records into the stream and cuts it into sealed chunks (see the file comment). Completed
 * chunks wait in `ready` until taken; `finish()` seals the last, shorter one.
 */
export class ChunkPacker {
  readonly totals = new TotalsAccumulator();
  private ready: Buffer[] = [];
  private readyBytes = 0;
  private chunk: Buffer;
  private fill = chunkHeaderBytes;
  private readonly lengthField = Buffer.allocUnsafe(recordHeaderBytes);
  private readonly spare: Buffer[] = [];

  constructor(readonly chunkBytes: number = defaultChunkBytes) {
    checkChunkBytes(chunkBytes);
    this.chunk = Buffer.allocUnsafe(chunkHeaderBytes + chunkBytes);
  }

  /** Bytes of sealed chunks not yet taken. */
  get pendingBytes(): number {
    return this.readyBytes;
  }

  /**
   * The fast path of `add` for a record of `recordLength` bytes that the caller encodes itself:
   * if it fits in the current chunk with room to spare, frames and counts it and returns where
   * its bytes go in `chunkBuffer` (the caller writes all of them before any other call);
   * otherwise returns -1 and changes nothing (the caller then builds the record and calls `add`).
   */
  reserve(recordLength: number): number {
    const at = this.fill + recordHeaderBytes;
    if (at + recordLength >= this.chunk.length) return -1;
    this.chunk.writeUInt32LE(recordLength, this.fill);
    this.fill = at + recordLength;
    this.totals.recordCount++;
    return at;
  }

  /** The chunk being filled: where `reserve` places records. */
  get chunkBuffer(): Buffer {
    return this.chunk;
  }

  /**
   * Hands back chunks taken earlier once nothing reads them any more (their batch was written), to
   * be filled again: a 1M-key snapshot then allocates a few chunks instead of ~500 (each a
   * 256 KiB external allocation that pushes V8 towards a full GC).
   */
  recycle(chunks: readonly Buffer[]): void {
    for (const chunk of chunks) {
      if (chunk.length === chunkHeaderBytes + this.chunkBytes && this.spare.length < maxSpareChunks) this.spare.push(chunk);
    }
  }

  add(record: Uint8Array): void {
    const end = this.chunk.length;
    if (this.fill + recordHeaderBytes + record.length < end) {
      // The common case: the record fits the current chunk with room to spare.
      this.chunk.writeUInt32LE(record.length, this.fill);
      this.chunk.set(record, this.fill + recordHeaderBytes);
      this.fill += recordHeaderBytes + record.length;
    } else {
      this.lengthField.writeUInt32LE(record.length);
      this.copyIn(this.lengthField);
      this.copyIn(record);
    }
    this.totals.recordCount++;
  }

  /** Seals the last chunk if it holds anything. Add nothing afterwards. */
  finish(): void {
    if (this.fill > chunkHeaderBytes) this.seal(Buffer.from(this.chunk.subarray(0, this.fill)));
  }

  /** Removes and returns the sealed chunks, oldest first. */
  take(): Buffer[] {
    const chunks = this.ready;
    this.ready = [];
    this.readyBytes = 0;
    return chunks;
  }

  private copyIn(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, this.chunk.length - this.fill);
      this.chunk.set(bytes.subarray(offset, offset + n), this.fill);
      this.fill += n;
      offset += n;
      if (this.fill === this.chunk.length) {
        this.seal(this.chunk);
        this.chunk = this.spare.pop() ?? Buffer.allocUnsafe(chunkHeaderBytes + this.chunkBytes);
        this.fill = chunkHeaderBytes;
      }
    }
  }

  private seal(chunk: Buffer): void {
    chunk.writeUInt32LE(this.totals.chunkCount, 4);
    chunk.writeUInt32LE(crc32(chunk.subarray(4)), 0);
    this.totals.addChunk(chunk);
    this.ready.push(chunk);
    this.readyBytes += chunk.length;
  }
}

/**
 * Turns chunk payloads (already checked by openChunk) back into records. A record that lies
 * inside one payload is returned as a view into it; one that spans payloads is assembled from
 * its pieces once they have all arrived (so a bogus length from a stream whose framing is off can
 * never make it allocate more than the bytes that really came). Callers that keep record bytes
 * beyond the payload's life copy them.
 */
export class RecordUnpacker {
  recordCount = 0;
  private readonly lengthField = Buffer.alloc(recordHeaderBytes);
  private lengthFill = 0;
  /** Bytes of the current record still to come, or -1 between records. */
  private remaining = -1;
  private recordLength = 0;
  private pieces: Buffer[] = [];

  /** `maxRecordBytes`: a longer declared length is a SnapshotFormatError (a stream's payload size bounds it). */
  constructor(private readonly maxRecordBytes = Number.POSITIVE_INFINITY) {}

  /** The records this payload completes, in order (all checked before the first is returned). */
  *push(payload: Buffer): Generator<Buffer> {
    const records: Buffer[] = [];
    this.visit(payload, (bytes, start, end) => records.push(bytes.subarray(start, end)));
    yield* records;
  }

  /** Checks and counts the records of a payload without assembling them. */
  skip(payload: Buffer): void {
    this.scan(payload, null);
  }

  /**
   * Calls `visit` for every record this payload completes, in order: a record inside the payload
   * as a range of it, one that spans payloads assembled into a buffer of its own.
   */
  visit(payload: Buffer, visit: RecordVisitor): void {
    this.scan(payload, visit);
  }

  private scan(payload: Buffer, visit: RecordVisitor | null): void {
    let pos = 0;
    while (pos < payload.length) {
      if (this.remaining >= 0) {
        const n = Math.min(payload.length - pos, this.remaining);
        if (visit !== null) this.pieces.push(payload.subarray(pos, pos + n));
        pos += n;
        this.remaining -= n;
        if (this.remaining > 0) continue;
        this.remaining = -1;
        this.recordCount++;
        if (visit !== null) {
          const record = Buffer.concat(this.pieces, this.recordLength);
          this.pieces = [];
          visit(record, 0, record.length);
        }
        continue;
      }
      let length: number;
      if (this.lengthFill === 0 && payload.length - pos >= recordHeaderBytes) {
        length = payload.readUInt32LE(pos);
        pos += recordHeaderBytes;
      } else {
        const n = Math.min(payload.length - pos, recordHeaderBytes - this.lengthFill);
        payload.copy(this.lengthField, this.lengthFill, pos, pos + n);
        this.lengthFill += n;
        pos += n;
        if (this.lengthFill < recordHeaderBytes) return;
        this.lengthFill = 0;
        length = this.lengthField.readUInt32LE(0);
      }
      if (length > this.maxRecordBytes) throw new SnapshotFormatError(`a record declares ${length} bytes, more than the ${this.maxRecordBytes} the stream can hold`);
      if (payload.length - pos >= length) {
        this.recordCount++;
        if (visit !== null) visit(payload, pos, pos + length);
        pos += length;
      } else {
        this.remaining = length;
        this.recordLength = length;
      }
    }
  }

  /** Throws SnapshotFormatError if the stream stopped inside a record. */
  end(): void {
    if (this.lengthFill > 0) throw new SnapshotFormatError(`the record stream ends inside a record's length field`);
    if (this.remaining >= 0) {
      throw new SnapshotFormatError(`the record stream ends ${this.recordLength - this.remaining} bytes into a record of ${this.recordLength}`);
    }
  }
}
