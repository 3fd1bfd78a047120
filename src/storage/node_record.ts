import type { Entry, HardState, SnapshotMetadata } from '../raft/types.js';
import {
  MalformedRecordError,
  PayloadReader,
  decodeEntry,
  decodeHardState,
  recordHeaderSize,
  seal,
  snapshotSize,
  str16Size,
  writeSnapshot,
  writeStr16,
} from './record.js';

/**
 * The record codec of NodeLog segments (node_log.ts): the log that all the Raft groups of a node
 * share. The framing is FileLog's (record.ts): length, CRC32 over type and payload, type, payload.
 * Every record that belongs to a group starts its payload with the group id, inside the checksum,
 * so that a record can never be read as another group's.
 *
 *   a record    | length u32 | crc32 u32 | type u8 | group str16 | payload ... |
 *                                        '--------- checksummed ------------'
 *
 * Payloads (integers little-endian; indices, terms and commits u48; str16 is a u16 byte length
 * then UTF-8; `snapshot` is as in record.ts: index u48 | term u48 | voters list16 | learners list16):
 *
 *   16 segment header  version u8 | seq u48                      (no group: the segment's own)
 *   17 checkpoint      group | prevIndex u48 | hs.term u48 | hs.commit u48 | hs.vote str16
 *                      | hasSnapshot u8 | [snapshot]
 *   18 entry           group | index u48 | term u48 | entry type u8 | data (the rest)
 *   19 hard state      group | term u48 | commit u48 | vote (the rest, UTF-8)
 *   20 compact marker  group | snapshot
 *   21 install marker  group | snapshot
 *   22 drop group      group
 *   23 commit          count u32                                 (no group: ends a batch)
 *
 * The types do not overlap FileLog's (1..5): a FileLog opened on a NodeLog directory, or the
 * other way round, refuses the first record instead of reading it.
 */
export const NodeRecordType = {
  SegmentHeader: 16,
  Checkpoint: 17,
  Entry: 18,
  HardState: 19,
  CompactMarker: 20,
  InstallMarker: 21,
  DropGroup: 22,
  Commit: 23,
} as const;
export type NodeRecordType = (typeof NodeRecordType)[keyof typeof NodeRecordType];

export const nodeFormatVersion = 1;

/** A group's state at the start of a segment: what the segments before it held for the group. */
export interface GroupCheckpoint {
  readonly prevIndex: number;
  readonly hardState: HardState;
  readonly snapshot: SnapshotMetadata | null;
}

export type NodeRecord =
  | { readonly kind: 'header'; readonly seq: number }
  | ({ readonly kind: 'checkpoint'; readonly group: string } & GroupCheckpoint)
  | { readonly kind: 'entry'; readonly group: string; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly group: string; readonly hardState: HardState }
  | { readonly kind: 'compact'; readonly group: string; readonly snapshot: SnapshotMetadata }
  | { readonly kind: 'install'; readonly group: string; readonly snapshot: SnapshotMetadata }
  | { readonly kind: 'drop'; readonly group: string }
  | { readonly kind: 'commit'; readonly count: number };

// -------------------------------------------------------------------------------------------------
// Encoding: sizes first, so that a whole batch is encoded into one buffer (one write).

/** Record header, type byte and the group id. */
function groupRecordBase(group: string): number {
  return recordHeaderSize + 1 + str16Size(group);
}

function startGroupRecord(buf: Buffer, offset: number, type: NodeRecordType, group: string): number {
  buf[offset + recordHeaderSize] = type;
  return writeStr16(buf, offset + recordHeaderSize + 1, group);
}

export const segmentHeaderSize = recordHeaderSize + 1 + 1 + 6;

export function writeSegmentHeader(buf: Buffer, offset: number, seq: number): number {
  let pos = offset + recordHeaderSize;
  buf[pos++] = NodeRecordType.SegmentHeader;
  buf[pos++] = nodeFormatVersion;
  buf.writeUIntLE(seq, pos, 6);
  return seal(buf, offset, pos + 6);
}

export function checkpointSize(group: string, checkpoint: GroupCheckpoint): number {
  return (
    groupRecordBase(group) +
    18 +
    str16Size(checkpoint.hardState.vote) +
    1 +
    (checkpoint.snapshot === null ? 0 : snapshotSize(checkpoint.snapshot))
  );
}

export function writeCheckpoint(buf: Buffer, offset: number, group: string, checkpoint: GroupCheckpoint): number {
  let pos = startGroupRecord(buf, offset, NodeRecordType.Checkpoint, group);
  buf.writeUIntLE(checkpoint.prevIndex, pos, 6);
  buf.writeUIntLE(checkpoint.hardState.term, pos + 6, 6);
  buf.writeUIntLE(checkpoint.hardState.commit, pos + 12, 6);
  pos = writeStr16(buf, pos + 18, checkpoint.hardState.vote);
  if (checkpoint.snapshot === null) {
    buf[pos++] = 0;
  } else {
    buf[pos++] = 1;
    pos = writeSnapshot(buf, pos, checkpoint.snapshot);
  }
  return seal(buf, offset, pos);
}

export function entrySize(group: string, entry: Entry): number {
  return groupRecordBase(group) + 13 + entry.data.length;
}

export function writeEntry(buf: Buffer, offset: number, group: string, entry: Entry): number {
  const pos = startGroupRecord(buf, offset, NodeRecordType.Entry, group);
  buf.writeUIntLE(entry.index, pos, 6);
  buf.writeUIntLE(entry.term, pos + 6, 6);
  buf[pos + 12] = entry.type;
  buf.set(entry.data, pos + 13);
  return seal(buf, offset, pos + 13 + entry.data.length);
}

export function hardStateSize(group: string, hardState: HardState): number {
  return groupRecordBase(group) + 12 + Buffer.byteLength(hardState.vote, 'utf8');
}

export function writeHardState(buf: Buffer, offset: number, group: string, hardState: HardState): number {
  const pos = startGroupRecord(buf, offset, NodeRecordType.HardState, group);
  buf.writeUIntLE(hardState.term, pos, 6);
  buf.writeUIntLE(hardState.commit, pos + 6, 6);
  return seal(buf, offset, pos + 12 + buf.write(hardState.vote, pos + 12, 'utf8'));
}

export function markerSize(group: string, snapshot: SnapshotMetadata): number {
  return groupRecordBase(group) + snapshotSize(snapshot);
}

export function writeMarker(
  buf: Buffer,
  offset: number,
  type: typeof NodeRecordType.CompactMarker | typeof NodeRecordType.InstallMarker,
  group: string,
  snapshot: SnapshotMetadata,
): number {
  return seal(buf, offset, writeSnapshot(buf, startGroupRecord(buf, offset, type, group), snapshot));
}

export function dropSize(group: string): number {
  return groupRecordBase(group);
}

export function writeDrop(buf: Buffer, offset: number, group: string): number {
  return seal(buf, offset, startGroupRecord(buf, offset, NodeRecordType.DropGroup, group));
}

export const commitSize = recordHeaderSize + 1 + 4;

export function writeCommit(buf: Buffer, offset: number, count: number): number {
  const pos = offset + recordHeaderSize;
  buf[pos] = NodeRecordType.Commit;
  buf.writeUInt32LE(count, pos + 1);
  return seal(buf, offset, pos + 5);
}

// -------------------------------------------------------------------------------------------------
// Decoding. `start` is the first payload byte after the type byte (record.ts's `bodyStart`).

export function decodeNodeRecord(type: number, buf: Buffer, start: number, end: number): NodeRecord {
  if (type === NodeRecordType.SegmentHeader) {
    const reader = new PayloadReader(buf, start, end);
    const version = reader.u8();
    if (version !== nodeFormatVersion) {
      throw new MalformedRecordError(`unsupported node log format version ${version} (this build reads ${nodeFormatVersion})`);
    }
    const seq = reader.u48();
    reader.expectEnd('segment header');
    return { kind: 'header', seq };
  }
  if (type === NodeRecordType.Commit) {
    const reader = new PayloadReader(buf, start, end);
    const count = reader.u32();
    reader.expectEnd('commit record');
    return { kind: 'commit', count };
  }
  if (type < NodeRecordType.Checkpoint || type > NodeRecordType.DropGroup) {
    throw new MalformedRecordError(`unknown node log record type ${type}`);
  }
  if (end - start < 2) throw new MalformedRecordError(`record of type ${type} ends before its group id`);
  const groupBytes = buf.readUInt16LE(start);
  const pos = start + 2 + groupBytes;
  if (groupBytes === 0 || pos > end) throw new MalformedRecordError(`record of type ${type} has a group id of ${groupBytes} bytes in ${end - start - 2}`);
  const group = buf.toString('utf8', start + 2, pos);
  switch (type) {
    case NodeRecordType.Checkpoint: {
      const reader = new PayloadReader(buf, pos, end);
      const prevIndex = reader.u48();
      const term = reader.u48();
      const commit = reader.u48();
      const vote = reader.str16();
      const snapshot = reader.u8() === 0 ? null : reader.snapshot();
      reader.expectEnd('checkpoint');
      return { kind: 'checkpoint', group, prevIndex, hardState: { term, vote, commit }, snapshot };
    }
    case NodeRecordType.Entry:
      return { kind: 'entry', group, entry: decodeEntry(buf, pos, end) };
    case NodeRecordType.HardState:
      return { kind: 'hardState', group, hardState: decodeHardState(buf, pos, end) };
    case NodeRecordType.CompactMarker:
    case NodeRecordType.InstallMarker: {
      const reader = new PayloadReader(buf, pos, end);
      const snapshot = reader.snapshot();
      reader.expectEnd('snapshot marker');
      return { kind: type === NodeRecordType.CompactMarker ? 'compact' : 'install', group, snapshot };
    }
    case NodeRecordType.DropGroup:
      if (pos !== end) throw new MalformedRecordError(`drop record has ${end - pos} trailing bytes`);
      return { kind: 'drop', group };
    default:
      throw new MalformedRecordError(`unknown node log record type ${type}`);
  }
}
