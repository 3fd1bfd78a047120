import { readSync } from 'node:fs';
import { fsyncDirectory } from './fs_sync.js';
import { SegmentReaders, createSegmentFile, segmentName, segmentNamePattern, truncateSegmentFile, writeFully } from './segment_files.js';
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry, SnapshotMetadata } from '../raft/types.js';
import type { DurableLog, LogUpdate, PersistedLog } from './durable_log.js';
import {
  StorageCorruptError,
  StorageError,
  StorageFailedError,
  StorageGroupMismatchError,
  StorageStateError,
} from './errors.js';
import { EntryLocations } from './entry_locations.js';
import { LogState } from './log_state.js';
import type { PlannedSave } from './log_state.js';
import {
  RecordType,
  decodeEntry,
  decodeHardState,
  decodeSegmentHeader,
  decodeSnapshotRecord,
  entryRecordSize,
  hardStateRecordSize,
  readRecordAt,
  recordHeaderSize,
  segmentHeaderRecordSize,
  snapshotRecordSize,
  writeEntryRecord,
  writeHardStateRecord,
  writeSegmentHeaderRecord,
  writeSnapshotRecord,
} from './record.js';
import type { SegmentHeader } from './record.js';

/** The minimal logger FileLog reports to; a pino child logger fits. */
export interface StorageLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface FileLogOptions {
  /** One directory per group; created if missing. */
  readonly dir: string;
  readonly groupId: string;
  /** A segment is closed and a new one started once the next write would pass this size. */
  readonly segmentBytes?: number;
  readonly logger?: StorageLogger;
}

export const defaultSegmentBytes = 16 * 1024 * 1024;

/** What `load()` cut from the end of the last segment. */
export interface TornTail {
  readonly segment: string;
  readonly offset: number;
  readonly bytesCut: number;
  readonly reason: string;
}

interface Segment {
  readonly seq: number;
  readonly name: string;
  size: number;
  /** Bytes of its header record: a segment with nothing after it is never rolled over. */
  headerSize: number;
  /**
   * The highest index among its entry records that may still be live. Truncations lower it for
   * every older segment and an installed snapshot zeroes it: a segment is deleted once this is
   * at or below the snapshot index.
   */
  maxEntryIndex: number;
}


/**
 * A segmented, append-only file log (see record.ts for the bytes).
 *
 *   dir/0000000000000007.log   [header] [entry] [entry] [hard state] [compact marker] ...
 *   dir/0000000000000008.log   [header] [entry] ...                                    <- appended to
 *
 * - `save()`: the update is encoded into one buffer, written with one write call and made durable
 *   with one datasync (group commit). A new segment (rollover, or an installed snapshot) is also
 *   made durable in the directory (fsync of the directory) before `save()` resolves.
 * - `compact()`: appends a compact marker (durable), then deletes, oldest first, the segments
 *   whose entries are all covered by the snapshot. Every segment header repeats the hard state,
 *   the snapshot and the last index, so a crash anywhere in between still loads the same state.
 * - `load()`: replays the segments in order (rules in log_state.ts). In the last segment, the
 *   first record that is short or fails its checksum starts a torn tail: the file is cut there and
 *   the cut reported to the logger. Anywhere else such a record is StorageCorruptError.
 * - After a failed write or fsync the log refuses further calls (outcome `unknown`); the host
 *   restarts and `load()`s to learn what survived, as etcd does after a WAL error.
 */
export class FileLog implements DurableLog {
  readonly groupId: string;
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly logger: StorageLogger | undefined;

  private phase: 'new' | 'open' | 'failed' | 'closed' = 'new';
  private busy = false;
  private segments: Segment[] = [];
  private file: FileHandle | null = null;
  /** Positions, hard state and snapshot; no entries once loaded. */
  private readonly state = new LogState({ keepEntries: true });
  /** Where each live entry's record is, for readEntry. */
  private readonly locations = new EntryLocations();
  /** Read-only descriptors of segments, opened by readEntry and kept until the segment goes. */
  private readonly readers: SegmentReaders;

  constructor(options: FileLogOptions) {
    if (options.groupId.length === 0) throw new TypeError('FileLog: groupId must not be empty');
    this.dir = options.dir;
    this.readers = new SegmentReaders(options.dir);
    this.groupId = options.groupId;
    this.segmentBytes = options.segmentBytes ?? defaultSegmentBytes;
    this.logger = options.logger;
  }

  async load(): Promise<PersistedLog> {
    if (this.phase !== 'new') throw new StorageStateError(`load() may be called once, on a new FileLog (it is ${this.phase})`);
    return this.exclusive(async () => {
      try {
        const persisted = await this.replayDirectory();
        this.phase = 'open';
        await this.dropObsoleteSegments();
        return persisted;
      } catch (error) {
        await this.closeFile();
        this.phase = 'failed';
        if (error instanceof StorageError) throw error;
        throw new StorageFailedError(`could not load the log in ${this.dir}`, error);
      }
    });
  }

  async save(update: LogUpdate): Promise<void> {
    this.checkOpen('save');
    return this.exclusive(async () => {
      const plan = this.state.planSave(update);
      if (plan.snapshot === null && plan.entries.length === 0 && plan.hardState === null) return;
      await this.failOnError('save', async () => {
        const recordsSize = planSize(plan);
        // An installed snapshot starts a segment of its own: every older one is dead at once.
        const newSegment = plan.snapshot !== null || this.shouldRollOver(recordsSize);
        if (plan.snapshot !== null) for (const segment of this.segments) segment.maxEntryIndex = 0;
        const checkpoint = newSegment ? this.checkpoint() : null;
        const size = (checkpoint === null ? 0 : segmentHeaderRecordSize(checkpoint)) + recordsSize;
        const buf = Buffer.allocUnsafe(size);
        let pos = 0;
        if (checkpoint !== null) pos = writeSegmentHeaderRecord(buf, pos, checkpoint);
        const headerSize = pos;
        if (plan.snapshot !== null) pos = writeSnapshotRecord(buf, pos, RecordType.InstallMarker, plan.snapshot);
        const entryOffsets: number[] = [];
        for (const entry of plan.entries) {
          entryOffsets.push(pos);
          pos = writeEntryRecord(buf, pos, entry);
        }
        if (plan.hardState !== null) pos = writeHardStateRecord(buf, pos, plan.hardState);

        const current = this.segments[this.segments.length - 1]!;
        const base = checkpoint === null ? current.size : 0;
        if (checkpoint !== null) await this.startSegment(buf, headerSize);
        else await this.append(buf);
        const written = this.segments[this.segments.length - 1]!.seq;

        if (plan.entries.length > 0) this.noteEntries(plan.entries[0]!.index, plan.entries[plan.entries.length - 1]!.index);
        this.state.applySave(plan);
        if (plan.snapshot !== null) this.locations.clear();
        plan.entries.forEach((entry, i) => this.locations.set(entry.index, written, base + entryOffsets[i]!));
        if (plan.snapshot !== null) await this.dropObsoleteSegments();
      });
    });
  }

  async compact(snapshot: SnapshotMetadata): Promise<void> {
    this.checkOpen('compact');
    return this.exclusive(async () => {
      const marker = this.state.planCompact(snapshot);
      if (marker === null) return;
      await this.failOnError('compact', async () => {
        const size = snapshotRecordSize(marker);
        const checkpoint = this.shouldRollOver(size) ? this.checkpoint() : null;
        const buf = Buffer.allocUnsafe((checkpoint === null ? 0 : segmentHeaderRecordSize(checkpoint)) + size);
        const headerSize = checkpoint === null ? 0 : writeSegmentHeaderRecord(buf, 0, checkpoint);
        writeSnapshotRecord(buf, headerSize, RecordType.CompactMarker, marker);
        if (checkpoint !== null) await this.startSegment(buf, headerSize);
        else await this.append(buf);
        this.state.applyCompact(marker);
        this.locations.dropThrough(marker.index);
        await this.dropObsoleteSegments();
      });
    });
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.readers.closeAll();
    await this.closeFile();
  }

  /**
   * Reads back a durable entry that has not been compacted, synchronously: for a host that keeps
   * only recent payloads in memory (src/node/paged_log_storage.ts) and must answer the Raft
   * core's reads at once. The record's checksum is verified again.
   */
  readEntry(index: number): Entry {
    this.checkOpen('readEntry');
    const where = this.locations.get(index);
    if (where === undefined) {
      throw new StorageStateError(`readEntry(${index}): not in the log (${this.state.firstIndex}..${this.state.lastIndex})`);
    }
    const fd = this.readers.fdFor(where.segment);
    const head = Buffer.allocUnsafe(recordHeaderSize);
    readFullySync(fd, head, where.offset);
    const buf = Buffer.allocUnsafe(recordHeaderSize + head.readUInt32LE(0));
    readFullySync(fd, buf, where.offset);
    const read = readRecordAt(buf, 0);
    const location = { segment: segmentName(where.segment), offset: where.offset };
    if (read.kind !== 'record' || read.type !== RecordType.Entry) {
      throw new StorageCorruptError(`entry ${index} does not read back: ${read.kind === 'bad' ? read.reason : `record type ${read.kind === 'record' ? read.type : 'end'}`}`, location);
    }
    const entry = decodeEntry(buf, read.bodyStart, read.end);
    if (entry.index !== index) throw new StorageCorruptError(`entry ${index} reads back as entry ${entry.index}`, location);
    return entry;
  }

  // ---------------------------------------------------------------------------------------------
  // Loading

  private async replayDirectory(): Promise<PersistedLog> {
    const created = await mkdir(this.dir, { recursive: true });
    if (created !== undefined) await fsyncDirectory(dirname(created));
    this.segments = await this.listSegments();

    let index = 0;
    while (index < this.segments.length) {
      const segment = this.segments[index]!;
      const isLast = index === this.segments.length - 1;
      const intact = await this.replaySegment(segment, index === 0, isLast);
      if (!intact) {
        // The last segment's header itself was torn: the segment never held a completed save.
        await unlink(this.segmentPath(segment));
        await fsyncDirectory(this.dir);
        this.logger?.warn({ group: this.groupId, segment: segment.name }, 'removed a last log segment that never got an intact header');
        this.segments.pop();
        break;
      }
      index++;
    }
    if (this.segments.length === 0) {
      // A fresh log: its first segment is created now, so the directory names its group at once.
      const header: SegmentHeader = { groupId: this.groupId, prevIndex: 0, hardState: this.state.hardState, snapshot: null };
      const buf = Buffer.allocUnsafe(segmentHeaderRecordSize(header));
      writeSegmentHeaderRecord(buf, 0, header);
      await this.startSegment(buf, buf.length);
    } else {
      try {
        this.state.checkComplete();
      } catch (error) {
        throw new StorageCorruptError((error as Error).message, undefined, error);
      }
      const last = this.segments[this.segments.length - 1]!;
      this.file = await open(this.segmentPath(last), 'r+');
    }
    const persisted = this.state.toPersisted();
    this.state.dropEntries();
    return persisted;
  }

  private async listSegments(): Promise<Segment[]> {
    const segments: Segment[] = [];
    for (const name of await readdir(this.dir)) {
      const match = segmentNamePattern.exec(name);
      if (match !== null) segments.push({ seq: Number(match[1]), name, size: 0, headerSize: 0, maxEntryIndex: 0 });
    }
    segments.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < segments.length; i++) {
      if (segments[i]!.seq !== segments[i - 1]!.seq + 1) {
        throw new StorageCorruptError(
          `log segments are not consecutive: ${segments[i - 1]!.name} is followed by ${segments[i]!.name}`,
        );
      }
    }
    return segments;
  }

  /** Replays one segment into `state`. Returns false when the last segment has no intact header. */
  private async replaySegment(segment: Segment, first: boolean, isLast: boolean): Promise<boolean> {
    const buf = await readFile(this.segmentPath(segment));
    let offset = 0;
    for (;;) {
      const read = readRecordAt(buf, offset);
      if (read.kind === 'end') break;
      if (read.kind === 'bad') {
        if (!isLast) {
          throw new StorageCorruptError(`damaged record in a segment that is not the last: ${read.reason}`, {
            segment: segment.name,
            offset,
          });
        }
        await this.cutTornTail(segment, offset, buf.length, read.reason);
        if (offset === 0) return false;
        break;
      }
      const location = { segment: segment.name, offset };
      try {
        this.replayRecord(segment, read.type, buf, read.bodyStart, read.end, offset, offset === 0, first);
      } catch (error) {
        if (error instanceof StorageError) throw error;
        throw new StorageCorruptError(`bad record: ${(error as Error).message}`, location, error);
      }
      if (offset === 0) segment.headerSize = read.end;
      offset = read.end;
    }
    if (offset === 0) {
      // An empty file: created, but its first write never completed.
      if (!isLast) throw new StorageCorruptError('empty segment that is not the last', { segment: segment.name, offset });
      return false;
    }
    segment.size = offset;
    return true;
  }

  private replayRecord(
    segment: Segment,
    type: number,
    buf: Buffer,
    start: number,
    end: number,
    recordOffset: number,
    atSegmentStart: boolean,
    firstSegment: boolean,
  ): void {
    if (atSegmentStart !== (type === RecordType.SegmentHeader)) {
      throw new Error(atSegmentStart ? `segment starts with a record of type ${type}, not a header` : 'segment header in the middle of a segment');
    }
    switch (type) {
      case RecordType.SegmentHeader: {
        const header = decodeSegmentHeader(buf, start, end);
        if (header.groupId !== this.groupId) throw new StorageGroupMismatchError(this.groupId, header.groupId, segment.name);
        this.state.applyCheckpoint(header.prevIndex, header.hardState, header.snapshot, firstSegment);
        return;
      }
      case RecordType.Entry: {
        const entry = decodeEntry(buf, start, end);
        this.noteEntries(entry.index, entry.index, segment);
        this.state.applyEntry(entry);
        this.locations.set(entry.index, segment.seq, recordOffset);
        return;
      }
      case RecordType.HardState:
        this.state.applyHardState(decodeHardState(buf, start, end));
        return;
      case RecordType.CompactMarker: {
        const marker = decodeSnapshotRecord(buf, start, end);
        this.state.applyCompact(marker);
        this.locations.dropThrough(marker.index);
        return;
      }
      case RecordType.InstallMarker:
        for (const older of this.segments) older.maxEntryIndex = 0;
        this.state.applyInstall(decodeSnapshotRecord(buf, start, end));
        this.locations.clear();
        return;
      default:
        throw new Error(`unknown record type ${type}`);
    }
  }

  private async cutTornTail(segment: Segment, offset: number, fileSize: number, reason: string): Promise<void> {
    await truncateSegmentFile(this.segmentPath(segment), offset);
    const cut: TornTail = { segment: segment.name, offset, bytesCut: fileSize - offset, reason };
    this.logger?.warn({ group: this.groupId, ...cut }, 'cut a torn tail from the log');
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Records that entries first..last are (being) written to `segment` (the current one by default).
   * Rewriting from `first` kills every older record at or after it, in any segment.
   */
  private noteEntries(first: number, last: number, segment = this.segments[this.segments.length - 1]!): void {
    if (first <= this.state.lastIndex) {
      for (const older of this.segments) older.maxEntryIndex = Math.min(older.maxEntryIndex, first - 1);
    }
    segment.maxEntryIndex = Math.max(segment.maxEntryIndex, last);
  }

  private shouldRollOver(writeSize: number): boolean {
    const current = this.segments[this.segments.length - 1]!;
    return current.size > current.headerSize && current.size + writeSize > this.segmentBytes;
  }

  private checkpoint(): SegmentHeader {
    return {
      groupId: this.groupId,
      prevIndex: this.state.lastIndex,
      hardState: this.state.hardState,
      snapshot: this.state.snapshot,
    };
  }

  private async append(buf: Buffer): Promise<void> {
    const current = this.segments[this.segments.length - 1]!;
    await writeFully(this.file!, buf, current.size);
    await this.file!.datasync();
    current.size += buf.length;
  }

  /** Creates the next segment holding `buf` (a header record first), durable in the directory. */
  private async startSegment(buf: Buffer, headerSize: number): Promise<void> {
    const previous = this.segments[this.segments.length - 1];
    const seq = previous === undefined ? 1 : previous.seq + 1;
    const segment: Segment = { seq, name: segmentName(seq), size: 0, headerSize, maxEntryIndex: 0 };
    const handle = await createSegmentFile(this.segmentPath(segment), this.dir, buf, (h) => h.datasync());
    segment.size = buf.length;
    await this.closeFile();
    this.file = handle;
    this.segments.push(segment);
  }

  /**
   * Deletes, oldest first, the segments before the current one whose entries are all covered by
   * the snapshot. Oldest first keeps the survivors consecutive if a crash interrupts it.
   */
  private async dropObsoleteSegments(): Promise<void> {
    const snapshotIndex = this.state.snapshotIndex;
    let count = 0;
    while (count < this.segments.length - 1 && this.segments[count]!.maxEntryIndex <= snapshotIndex) count++;
    if (count === 0) return;
    const doomed = this.segments.slice(0, count);
    for (const segment of doomed) {
      this.readers.close(segment.seq);
      await unlink(this.segmentPath(segment));
      this.segments.shift();
    }
    await fsyncDirectory(this.dir);
    this.logger?.info(
      { group: this.groupId, snapshotIndex, segments: doomed.map((segment) => segment.name) },
      'deleted log segments covered by the snapshot',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  private segmentPath(segment: Segment): string {
    return join(this.dir, segment.name);
  }

  private checkOpen(operation: string): void {
    if (this.phase === 'failed') {
      throw new StorageFailedError(`${operation}(): an earlier load, write or fsync failed; open the log anew and load() it`);
    }
    if (this.phase !== 'open') throw new StorageStateError(`${operation}() on a FileLog that is ${this.phase === 'new' ? 'not loaded' : this.phase}`);
  }

  /** Calls are not concurrent (the DurableLog contract); a host that breaks that learns it here. */
  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy) throw new StorageStateError('concurrent calls on one FileLog; await each call before the next');
    this.busy = true;
    try {
      return await work();
    } finally {
      this.busy = false;
    }
  }

  private async failOnError(operation: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.phase = 'failed';
      await this.closeFile();
      throw new StorageFailedError(`${operation}() failed; whether it reached the disk is unknown`, error);
    }
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = null;
    if (file !== null) await file.close().catch(() => undefined);
  }
}

function planSize(plan: PlannedSave): number {
  let size = plan.snapshot === null ? 0 : snapshotRecordSize(plan.snapshot);
  for (const entry of plan.entries) size += entryRecordSize(entry);
  if (plan.hardState !== null) size += hardStateRecordSize(plan.hardState);
  return size;
}

function readFullySync(fd: number, buf: Buffer, position: number): void {
  let read = 0;
  while (read < buf.length) {
    const n = readSync(fd, buf, read, buf.length - read, position + read);
    if (n === 0) throw new StorageCorruptError(`log record at offset ${position} ends early (${read} of ${buf.length} bytes)`);
    read += n;
  }
}
