import { FieldReader } from './field_reader.js';
import { crc32 } from 'node:zlib';
import type { Entry, EntryType, HardState, SnapshotMetadata } from '../raft/types.js';
import { QuorumError } from '../util/errors.js';

/**
 * The record codec of FileLog segments. A segment is a sequence of records:
 *
 *   offset  0        4        8      9
 *           +--------+--------+------+----------------------------+
 *           | length | crc32  | type | payload (length - 1 bytes) |
 *           +--------+--------+------+----------------------------+
 *
 *   length  u32 LE: the bytes after the 8-byte header (type byte + payload), at least 1
 *   crc32   u32 LE: zlib.crc32 of those `length` bytes
 *
 * Payloads (integers little-endian; indices, terms and commits are u48; str16 is a u16 byte
 * length then UTF-8; list16 is a u16 count then that many str16):
 *
 *   1 segment header  version u8 | prevIndex u48 | hs.term u48 | hs.commit u48 | hs.vote str16
 *                     | groupId str16 | hasSnapshot u8 | [snapshot]
 *   2 entry           index u48 | term u48 | entry type u8 | data (the rest)
 *   3 hard state      term u48 | commit u48 | vote (the rest, UTF-8)
 *   4 compact marker  snapshot
 *   5 install marker  snapshot
 *
 *   snapshot          index u48 | term u48 | voters list16 | learners list16
 *
 * The segment header is the first record of every segment: it names the group and carries a
 * checkpoint (the log's last index, hard state and snapshot when the segment was started), so that
 * deleting older segments never loses the hard state or the snapshot position.
 */
export const RecordType = {
  SegmentHeader: 1,
  Entry: 2,
  HardState: 3,
  CompactMarker: 4,
  InstallMarker: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const formatVersion = 1;
export const recordHeaderSize = 8;

export interface SegmentHeader {
  readonly groupId: string;
  /** The log's last index when the segment was started; its first entry is at most one past it. */
  readonly prevIndex: number;
  readonly hardState: HardState;
  readonly snapshot: SnapshotMetadata | null;
}

// -------------------------------------------------------------------------------------------------
// Encoding. Sizes are computed first so that one update is encoded into one buffer (one write).

export function entryRecordSize(entry: Entry): number {
  return recordHeaderSize + 1 + 12 + 1 + entry.data.length;
}

export function writeEntryRecord(buf: Buffer, offset: number, entry: Entry): number {
  let pos = offset + recordHeaderSize;
  buf[pos++] = RecordType.Entry;
  buf.writeUIntLE(entry.index, pos, 6);
  buf.writeUIntLE(entry.term, pos + 6, 6);
  buf[pos + 12] = entry.type;
  pos += 13;
  buf.set(entry.data, pos);
  return seal(buf, offset, pos + entry.data.length);
}

export function hardStateRecordSize(hardState: HardState): number {
  return recordHeaderSize + 1 + 12 + Buffer.byteLength(hardState.vote, 'utf8');
}

export function writeHardStateRecord(buf: Buffer, offset: number, hardState: HardState): number {
  let pos = offset + recordHeaderSize;
  buf[pos++] = RecordType.HardState;
  buf.writeUIntLE(hardState.term, pos, 6);
  buf.writeUIntLE(hardState.commit, pos + 6, 6);
  pos += 12;
  pos += buf.write(hardState.vote, pos, 'utf8');
  return seal(buf, offset, pos);
}

export function snapshotRecordSize(snapshot: SnapshotMetadata): number {
  return recordHeaderSize + 1 + snapshotSize(snapshot);
}

export function writeSnapshotRecord(
  buf: Buffer,
  offset: number,
  type: typeof RecordType.CompactMarker | typeof RecordType.InstallMarker,
  snapshot: SnapshotMetadata,
): number {
  let pos = offset + recordHeaderSize;
  buf[pos++] = type;
  pos = writeSnapshot(buf, pos, snapshot);
  return seal(buf, offset, pos);
}

export function segmentHeaderRecordSize(header: SegmentHeader): number {
  return (
    recordHeaderSize +
    1 +
    1 +
    18 +
    str16Size(header.hardState.vote) +
    str16Size(header.groupId) +
    1 +
    (header.snapshot === null ? 0 : snapshotSize(header.snapshot))
  );
}

export function writeSegmentHeaderRecord(buf: Buffer, offset: number, header: SegmentHeader): number {
  let pos = offset + recordHeaderSize;
  buf[pos++] = RecordType.SegmentHeader;
  buf[pos++] = formatVersion;
  buf.writeUIntLE(header.prevIndex, pos, 6);
  buf.writeUIntLE(header.hardState.term, pos + 6, 6);
  buf.writeUIntLE(header.hardState.commit, pos + 12, 6);
  pos += 18;
  pos = writeStr16(buf, pos, header.hardState.vote);
  pos = writeStr16(buf, pos, header.groupId);
  if (header.snapshot === null) {
    buf[pos++] = 0;
  } else {
    buf[pos++] = 1;
    pos = writeSnapshot(buf, pos, header.snapshot);
  }
  return seal(buf, offset, pos);
}

/** Fills in length and checksum of the record that starts at `start` and ends at `end`. */
export function seal(buf: Buffer, start: number, end: number): number {
  const body = buf.subarray(start + recordHeaderSize, end);
  buf.writeUInt32LE(body.length, start);
  buf.writeUInt32LE(crc32(body), start + 4);
  return end;
}

export function snapshotSize(snapshot: SnapshotMetadata): number {
  return 12 + list16Size(snapshot.confState.voters) + list16Size(snapshot.confState.learners);
}

export function writeSnapshot(buf: Buffer, pos: number, snapshot: SnapshotMetadata): number {
  buf.writeUIntLE(snapshot.index, pos, 6);
  buf.writeUIntLE(snapshot.term, pos + 6, 6);
  pos = writeList16(buf, pos + 12, snapshot.confState.voters);
  return writeList16(buf, pos, snapshot.confState.learners);
}

export function str16Size(value: string): number {
  return 2 + Buffer.byteLength(value, 'utf8');
}

export function writeStr16(buf: Buffer, pos: number, value: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  if (length > 0xffff) throw new RangeError(`string of ${length} bytes does not fit a u16 length`);
  buf.writeUInt16LE(length, pos);
  return pos + 2 + buf.write(value, pos + 2, 'utf8');
}

function list16Size(values: readonly string[]): number {
  let size = 2;
  for (const value of values) size += str16Size(value);
  return size;
}

function writeList16(buf: Buffer, pos: number, values: readonly string[]): number {
  if (values.length > 0xffff) throw new RangeError(`list of ${values.length} items does not fit a u16 count`);
  buf.writeUInt16LE(values.length, pos);
  pos += 2;
  for (const value of values) pos = writeStr16(buf, pos, value);
  return pos;
}

// -------------------------------------------------------------------------------------------------
// Decoding.

export type RecordRead =
  | { readonly kind: 'record'; readonly type: number; readonly bodyStart: number; readonly end: number }
  | { readonly kind: 'end' }
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * Frames the record at `offset`: `end` when the buffer ends exactly there, `bad` when what is there
 * is not a complete, intact record (a torn tail if it is the last segment, corruption otherwise).
 * `bodyStart` is the first payload byte (after the type byte).
 */
export function readRecordAt(buf: Buffer, offset: number): RecordRead {
  const remaining = buf.length - offset;
  if (remaining === 0) return { kind: 'end' };
  if (remaining < recordHeaderSize) return { kind: 'bad', reason: `short record header (${remaining} of ${recordHeaderSize} bytes)` };
  const length = buf.readUInt32LE(offset);
  if (length === 0) return { kind: 'bad', reason: 'zero record length' };
  if (length > remaining - recordHeaderSize) {
    return { kind: 'bad', reason: `short record (${remaining - recordHeaderSize} of ${length} bytes)` };
  }
  const bodyStart = offset + recordHeaderSize;
  const end = bodyStart + length;
  if (crc32(buf.subarray(bodyStart, end)) !== buf.readUInt32LE(offset + 4)) {
    return { kind: 'bad', reason: 'checksum mismatch' };
  }
  return { kind: 'record', type: buf[bodyStart]!, bodyStart: bodyStart + 1, end };
}

/** Thrown when an intact (checksummed) record's payload does not parse: corruption or a bug. */
export class MalformedRecordError extends QuorumError {
  constructor(message: string) {
    super('MALFORMED_RECORD', message, 'fail');
    this.name = 'MalformedRecordError';
  }
}

export function decodeEntry(buf: Buffer, start: number, end: number): Entry {
  if (end - start < 13) throw new MalformedRecordError(`entry record of ${end - start} payload bytes`);
  const data = new Uint8Array(end - start - 13);
  data.set(buf.subarray(start + 13, end));
  return {
    index: buf.readUIntLE(start, 6),
    term: buf.readUIntLE(start + 6, 6),
    type: buf[start + 12] as EntryType,
    data,
  };
}

export function decodeHardState(buf: Buffer, start: number, end: number): HardState {
  if (end - start < 12) throw new MalformedRecordError(`hard state record of ${end - start} payload bytes`);
  return {
    term: buf.readUIntLE(start, 6),
    commit: buf.readUIntLE(start + 6, 6),
    vote: buf.toString('utf8', start + 12, end),
  };
}

export function decodeSnapshotRecord(buf: Buffer, start: number, end: number): SnapshotMetadata {
  const reader = new PayloadReader(buf, start, end);
  const snapshot = reader.snapshot();
  reader.expectEnd('snapshot marker');
  return snapshot;
}

export function decodeSegmentHeader(buf: Buffer, start: number, end: number): SegmentHeader {
  const reader = new PayloadReader(buf, start, end);
  const version = reader.u8();
  if (version !== formatVersion) throw new MalformedRecordError(`unsupported log format version ${version} (this build reads ${formatVersion})`);
  const prevIndex = reader.u48();
  const term = reader.u48();
  const commit = reader.u48();
  const vote = reader.str16();
  const groupId = reader.str16();
  const snapshot = reader.u8() === 0 ? null : reader.snapshot();
  reader.expectEnd('segment header');
  return { groupId, prevIndex, hardState: { term, vote, commit }, snapshot };
}

/** The field reader of record payloads: an overrun is a MalformedRecordError. */
export class PayloadReader extends FieldReader {
  constructor(buf: Buffer, pos: number, end: number) {
    super(buf, pos, end, (message) => new MalformedRecordError(`record payload ${message}`));
  }

  snapshot(): SnapshotMetadata {
    const index = this.u48();
    const term = this.u48();
    const voters = this.list16();
    const learners = this.list16();
    return { index, term, confState: { voters, learners } };
  }
}
