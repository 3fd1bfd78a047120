import { readSync } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry, SnapshotMetadata } from '../raft/types.js';
import { OncePerTurn } from '../util/once_per_turn.js';
import { Deferred } from '../util/deferred.js';
import type { DurableLog, LogUpdate, PersistedLog } from './durable_log.js';
import { EntryLocations } from './entry_locations.js';
import {
  InvalidLogUpdateError,
  StorageCorruptError,
  StorageError,
  StorageFailedError,
  StorageStateError,
} from './errors.js';
import type { StorageLogger } from './file_log.js';
import { fsyncDirectory } from './fs_sync.js';
import { SegmentReaders, createSegmentFile, segmentName, segmentNamePattern, truncateSegmentFile, writeFully } from './segment_files.js';
import { LogState, plannedRecordCount } from './log_state.js';
import type { PlannedSave } from './log_state.js';
import {
  NodeRecordType,
  checkpointSize,
  commitSize,
  decodeNodeRecord,
  dropSize,
  entrySize,
  hardStateSize,
  markerSize,
  segmentHeaderSize,
  writeCheckpoint,
  writeCommit,
  writeDrop,
  writeEntry,
  writeHardState,
  writeMarker,
  writeSegmentHeader,
} from './node_record.js';
import type { GroupCheckpoint, NodeRecord } from './node_record.js';
import { readRecordAt, recordHeaderSize } from './record.js';

/**
 * The fsync NodeLog makes its writes durable with (FileHandle.datasync unless injected): tests
 * count calls or hold one back to play a slow or interrupted disk.
 */
export interface NodeLogIo {
  datasync(file: FileHandle): Promise<void>;
}

const realIo: NodeLogIo = { datasync: (file) => file.datasync() };

export interface NodeLogOptions {
  /** The node's log directory (e.g. `<data-dir>/log`); created if missing. */
  readonly dir: string;
  /** A segment is closed and a new one started once the next batch would pass this size. */
  readonly segmentBytes?: number;
  readonly logger?: StorageLogger;
  readonly io?: NodeLogIo;
}

/**
 * Four times FileLog's: a node's log takes the writes of all its groups, and every segment starts
 * with a checkpoint of each of them (etcd's WAL segments are 64 MB too).
 */
export const defaultNodeSegmentBytes = 64 * 1024 * 1024;

interface Segment {
  readonly seq: number;
  readonly name: string;
  /** Bytes up to the end of its last committed batch: where the next batch goes. */
  size: number;
  /**
   * Per group, the highest index among its entry records here that may still be live (FileLog's
   * `maxEntryIndex`, one per group): a truncation lowers it in every older segment, an installed
   * snapshot or a drop removes it. A segment is needed while some group's figure is above that
   * group's snapshot index.
   */
  readonly live: Map<string, number>;
}

/** What the node log knows of one group; the group's view (NodeLogGroup) works on it. */
class GroupSlot {
  /** Positions, hard state and snapshot; entries only while the segments are replayed. */
  readonly state: LogState;
  readonly locations = new EntryLocations();
  /** What replay rebuilt, until the group's first view takes it with load(). */
  stash: PersistedLog | null = null;
  /** The group's open view, if any: one at a time. */
  view: NodeLogGroup | null = null;
  /** A save or compact of the group is under way (the DurableLog contract: never two). */
  busy = false;
  /** dropGroup() is under way: no view until it is done. */
  dropping = false;

  constructor(
    readonly id: string,
    keepEntries: boolean,
  ) {
    this.state = new LogState({ keepEntries });
  }

  /** No hard state, snapshot or entry: the same as a group the log has never seen. */
  get empty(): boolean {
    const { state } = this;
    const hs = state.hardState;
    return state.snapshot === null && state.lastIndex === 0 && hs.term === 0 && hs.commit === 0 && hs.vote === '';
  }

  checkpoint(): GroupCheckpoint {
    return { prevIndex: this.state.lastIndex, hardState: this.state.hardState, snapshot: this.state.snapshot };
  }
}

type Request =
  | { readonly kind: 'save'; readonly slot: GroupSlot; readonly plan: PlannedSave; readonly done: Deferred<void> }
  | { readonly kind: 'compact'; readonly slot: GroupSlot; readonly marker: SnapshotMetadata; readonly done: Deferred<void> }
  | { readonly kind: 'drop'; readonly slot: GroupSlot; readonly done: Deferred<void> };


/** Group ids are written as str16 (node_record.ts). */
const maxGroupIdBytes = 0xffff;

/**
 * One durable log per node, shared by all the Raft groups the node hosts: one directory of
 * segment files, one write and one fdatasync per batch, however many groups the batch serves.
 * Each group sees it through `group(id)`, a DurableLog that behaves exactly as a FileLog of its
 * own (the replay rules are log_state.ts's, per group).
 *
 *   dir/0000000000000007.log
 *   dir/0000000000000008.log   <- the active segment: batches are appended to it
 *
 *   a segment ─┬─ [segment header: version, seq]
 *              │
 *              ├─ [checkpoint g1] [checkpoint g4] ...      ┐ the first batch, in the write
 *              │  [entry g1] [entry g4] [hard state g4]    │ that starts the segment
 *              │  [commit n]                               ┘
 *              ├─ [entry g2] [compact g1] [entry g2] [commit n]     a batch: one write and
 *              ├─ [install g9] [entry g9] [drop g3] [commit n]      one fdatasync
 *              └─ ...
 *
 * Group commit: `save()`/`compact()` of any group, and `dropGroup()`, queue a request. The queue
 * is written on the event-loop turn after a call finds the writer idle (so that every call of the
 * same turn joins it), and otherwise on the turn after the write in flight is durable: the calls
 * that arrived meanwhile go together, as one buffer, one write and one fdatasync. Each caller's
 * promise resolves when the batch that holds its records is durable, not before. One batch is in
 * flight at a time, so only the last batch of the last segment can ever be torn.
 *
 * A batch is atomic: its records are applied on load only when its commit record (which counts
 * them) is intact, so a crash leaves each batch, and therefore each group's call, whole or absent.
 *
 * Compaction and segment deletion: a compaction appends the group's marker (in a batch). When a
 * segment is started, every group with state gets a checkpoint record at its head (its hard
 * state, snapshot and last index at that moment, as etcd's WAL starts each file with a snapshot
 * record), so every segment before it holds nothing that a later one does not restate, except
 * entries. A segment is therefore deleted once it is not the active one, all older ones are gone,
 * and every group's entries in it are dead (at or below the group's snapshot, replaced by a
 * truncation, reset by an installed snapshot, or of a dropped group). Oldest first, with a
 * directory fsync after each, so that a crash leaves the survivors consecutive. A group that never
 * compacts keeps every segment from its oldest live entry on; nothing rewrites its entries forward.
 *
 * Load: one pass over the segments rebuilds every group (`open()`). The last segment may end in
 * a torn batch: from the first record that is short or damaged, or that no intact commit record
 * follows, it is cut. Anywhere else that is StorageCorruptError, as are records that contradict
 * each other (a group's checkpoint that does not continue its records, a segment header in the
 * wrong file, a group with state that a new segment does not checkpoint).
 *
 * After a failed write, fsync or deletion the log refuses every further call, of every group
 * (outcome `unknown`): the host restarts and loads to learn what survived.
 */
export class NodeLog {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly logger: StorageLogger | undefined;
  private readonly io: NodeLogIo;

  private phase: 'new' | 'opening' | 'open' | 'closing' | 'closed' | 'failed' = 'new';
  private segments: Segment[] = [];
  private file: FileHandle | null = null;
  private readonly groups = new Map<string, GroupSlot>();
  /** Read-only descriptors of segments, opened by readEntry and kept until the segment goes. */
  private readonly readers: SegmentReaders;

  private queue: Request[] = [];
  private writing = false;
  private readonly flush = new OncePerTurn(() => void this.writeQueued());
  private idle: Deferred<void> | null = null;

  constructor(options: NodeLogOptions) {
    this.dir = options.dir;
    this.readers = new SegmentReaders(options.dir);
    this.segmentBytes = options.segmentBytes ?? defaultNodeSegmentBytes;
    this.logger = options.logger;
    this.io = options.io ?? realIo;
  }

  /** Replays the directory (creating it if missing). Once, before any other call. */
  async open(): Promise<void> {
    if (this.phase !== 'new') throw new StorageStateError(`open() may be called once, on a new NodeLog (it is ${this.phase})`);
    this.phase = 'opening';
    try {
      await this.replayDirectory();
      this.phase = 'open';
      await this.dropObsoleteSegments();
    } catch (error) {
      this.phase = 'failed';
      await this.closeFile();
      if (error instanceof StorageError) throw error;
      throw new StorageFailedError(`could not load the node log in ${this.dir}`, error);
    }
  }

  /**
   * The log of one group, as a DurableLog (load it before use). One view per group at a time: a
   * second one is refused until the first is closed. A group the log has never seen starts empty.
   */
  group(groupId: string): DurableLog {
    this.checkOpen('group');
    const bytes = Buffer.byteLength(groupId, 'utf8');
    if (bytes === 0 || bytes > maxGroupIdBytes) throw new InvalidLogUpdateError(`group id must be 1..${maxGroupIdBytes} bytes, got ${bytes}`);
    let slot = this.groups.get(groupId);
    if (slot?.dropping === true) throw new StorageStateError(`group ${JSON.stringify(groupId)} is being dropped; wait for dropGroup()`);
    if (slot?.view != null) throw new StorageStateError(`group ${JSON.stringify(groupId)} already has an open log; close it first`);
    if (slot === undefined) {
      slot = new GroupSlot(groupId, false);
      this.groups.set(groupId, slot);
    }
    const view = new NodeLogGroup(slot, this.groupOps(slot));
    slot.view = view;
    return view;
  }

  /** The groups that have state in the log (hard state, snapshot or entries), in no set order. */
  groupIds(): string[] {
    this.checkOpen('groupIds');
    return [...this.groups.values()].filter((slot) => !slot.empty).map((slot) => slot.id);
  }

  /**
   * Forgets a group (it left this node): durable when the promise resolves, and the group then
   * loads empty, now and after a restart. Its view must be closed and no call of it under way.
   */
  async dropGroup(groupId: string): Promise<void> {
    this.checkOpen('dropGroup');
    const slot = this.groups.get(groupId);
    if (slot === undefined) return;
    if (slot.view !== null) throw new StorageStateError(`dropGroup(${JSON.stringify(groupId)}): close the group's log first`);
    if (slot.busy || slot.dropping) throw new StorageStateError(`dropGroup(${JSON.stringify(groupId)}): a call of the group is under way`);
    slot.dropping = true;
    try {
      await this.submit({ kind: 'drop', slot, done: new Deferred() });
    } finally {
      slot.dropping = false;
    }
  }

  /** Writes what is queued, then closes. Views refuse calls from now on. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    if (this.phase === 'open') this.phase = 'closing';
    if (this.writing || this.queue.length > 0) {
      this.idle ??= new Deferred();
      await this.idle.promise;
    }
    if (this.phase !== 'failed') this.phase = 'closed';
    this.readers.closeAll();
    await this.closeFile();
  }

  // ---------------------------------------------------------------------------------------------
  // The views' calls

  private groupOps(slot: GroupSlot): GroupOps {
    return {
      check: (operation) => {
        this.checkOpen(operation);
        if (this.groups.get(slot.id) !== slot) throw new StorageStateError(`${operation}(): group ${JSON.stringify(slot.id)} was dropped`);
      },
      load: () => this.loadGroup(slot),
      save: (update) =>
        this.exclusive(slot, async () => {
          const plan = slot.state.planSave(update);
          if (plannedRecordCount(plan) === 0) return;
          await this.submit({ kind: 'save', slot, plan, done: new Deferred() });
        }),
      compact: (snapshot) =>
        this.exclusive(slot, async () => {
          const marker = slot.state.planCompact(snapshot);
          if (marker === null) return;
          await this.submit({ kind: 'compact', slot, marker, done: new Deferred() });
        }),
      readEntry: (index) => this.readGroupEntry(slot, index),
      closed: (view) => {
        if (slot.view === view) slot.view = null;
      },
    };
  }

  private loadGroup(slot: GroupSlot): PersistedLog {
    const stash = slot.stash;
    if (stash !== null) {
      slot.stash = null;
      return stash;
    }
    // A view opened again after its first one closed: the entries are read back from the files.
    const entries: Entry[] = [];
    for (let index = slot.state.firstIndex; index <= slot.state.lastIndex; index++) entries.push(this.readGroupEntry(slot, index));
    return { hardState: slot.state.hardState, snapshot: slot.state.snapshot, entries };
  }

  /** Calls of one group are not concurrent (the DurableLog contract); a host that breaks that learns it here. */
  private async exclusive(slot: GroupSlot, work: () => Promise<void>): Promise<void> {
    if (slot.busy) throw new StorageStateError(`concurrent calls on the log of group ${JSON.stringify(slot.id)}; await each call before the next`);
    slot.busy = true;
    try {
      await work();
    } finally {
      slot.busy = false;
    }
  }

  private readGroupEntry(slot: GroupSlot, index: number): Entry {
    const where = slot.locations.get(index);
    if (where === undefined) {
      throw new StorageStateError(`readEntry(${index}): not in the log of group ${JSON.stringify(slot.id)} (${slot.state.firstIndex}..${slot.state.lastIndex})`);
    }
    const location = { segment: segmentName(where.segment), offset: where.offset };
    const fd = this.readers.fdFor(where.segment);
    const head = Buffer.allocUnsafe(recordHeaderSize);
    readFullySync(fd, head, where.offset);
    const length = head.readUInt32LE(0);
    const segment = this.segments.find((s) => s.seq === where.segment);
    if (segment === undefined || where.offset + recordHeaderSize + length > segment.size) {
      throw new StorageCorruptError(`entry ${index} of group ${JSON.stringify(slot.id)} does not read back: record length ${length} runs past its batch`, location);
    }
    const buf = Buffer.allocUnsafe(recordHeaderSize + length);
    readFullySync(fd, buf, where.offset);
    const read = readRecordAt(buf, 0);
    if (read.kind !== 'record' || read.type !== NodeRecordType.Entry) {
      const what = read.kind === 'bad' ? read.reason : read.kind === 'record' ? `record type ${read.type}` : 'nothing';
      throw new StorageCorruptError(`entry ${index} of group ${JSON.stringify(slot.id)} does not read back: ${what}`, location);
    }
    const record = decodeNodeRecord(read.type, buf, read.bodyStart, read.end);
    if (record.kind !== 'entry' || record.group !== slot.id || record.entry.index !== index) {
      const found = record.kind === 'entry' ? `entry ${record.entry.index} of group ${JSON.stringify(record.group)}` : record.kind;
      throw new StorageCorruptError(`entry ${index} of group ${JSON.stringify(slot.id)} reads back as ${found}`, location);
    }
    return record.entry;
  }

  // ---------------------------------------------------------------------------------------------
  // Group commit

  private submit(request: Request): Promise<void> {
    this.queue.push(request);
    if (!this.writing) this.flush.schedule();
    return request.done.promise;
  }

  /** Writes everything queued as one batch; runs again while more arrived meanwhile. */
  private async writeQueued(): Promise<void> {
    if (this.writing || this.queue.length === 0) return;
    if (this.phase === 'failed') return;
    this.writing = true;
    const batch = this.queue;
    this.queue = [];
    try {
      await this.writeBatch(batch);
      for (const request of batch) request.done.resolve();
    } catch (error) {
      this.fail(error, batch);
    } finally {
      this.writing = false;
      // (this.phase is read again: the batch may have failed the log meanwhile.)
      if (this.queue.length > 0 && !this.hasFailed()) this.flush.schedule();
      else this.settleIdle();
    }
  }

  private async writeBatch(batch: readonly Request[]): Promise<void> {
    let recordsSize = commitSize;
    let count = 0;
    for (const request of batch) {
      recordsSize += requestSize(request);
      count += requestRecordCount(request);
    }
    const current = this.segments[this.segments.length - 1]!;
    const rollOver = current.size > segmentHeaderSize && current.size + recordsSize > this.segmentBytes;
    const checkpoints = rollOver ? [...this.groups.values()].filter((slot) => !slot.empty) : [];
    let size = recordsSize;
    if (rollOver) {
      size += segmentHeaderSize;
      for (const slot of checkpoints) size += checkpointSize(slot.id, slot.checkpoint());
    }

    const buf = Buffer.allocUnsafe(size);
    let pos = 0;
    const seq = rollOver ? current.seq + 1 : current.seq;
    if (rollOver) {
      pos = writeSegmentHeader(buf, pos, seq);
      for (const slot of checkpoints) pos = writeCheckpoint(buf, pos, slot.id, slot.checkpoint());
      count += checkpoints.length;
    }
    const entryOffsets: number[][] = [];
    for (const request of batch) {
      const offsets: number[] = [];
      pos = encodeRequest(buf, pos, request, offsets);
      entryOffsets.push(offsets);
    }
    pos = writeCommit(buf, pos, count);
    if (pos !== size) throw new Error(`NodeLog: encoded ${pos} bytes of a ${size}-byte batch`);

    const base = rollOver ? 0 : current.size;
    if (rollOver) await this.startSegment(seq, buf);
    else await this.append(current, buf);

    const segment = this.segments[this.segments.length - 1]!;
    batch.forEach((request, i) => this.applyRequest(request, segment, base, entryOffsets[i]!));
    if (rollOver) {
      this.logger?.info({ segment: segment.name, checkpoints: checkpoints.length }, 'started a node log segment');
    }
    await this.dropObsoleteSegments();
  }

  /** After the batch is durable: the same bookkeeping replay does for these records. */
  private applyRequest(request: Request, segment: Segment, base: number, entryOffsets: readonly number[]): void {
    const { slot } = request;
    switch (request.kind) {
      case 'save': {
        const { plan } = request;
        if (plan.snapshot !== null) this.noteInstall(slot);
        if (plan.entries.length > 0) this.noteEntries(slot, plan.entries[0]!.index, plan.entries[plan.entries.length - 1]!.index, segment);
        slot.state.applySave(plan);
        if (plan.snapshot !== null) slot.locations.clear();
        plan.entries.forEach((entry, i) => slot.locations.set(entry.index, segment.seq, base + entryOffsets[i]!));
        return;
      }
      case 'compact':
        slot.state.applyCompact(request.marker);
        slot.locations.dropThrough(request.marker.index);
        return;
      case 'drop':
        this.noteDrop(slot.id);
        this.groups.delete(slot.id);
        return;
    }
  }

  private fail(error: unknown, batch: readonly Request[]): void {
    this.phase = 'failed';
    void this.closeFile();
    const failure = new StorageFailedError('the node log failed to write or fsync a batch; whether it reached the disk is unknown', error);
    for (const request of batch) request.done.reject(failure);
    const queued = this.queue;
    this.queue = [];
    const refused = new StorageFailedError('the node log failed before this call was written', error);
    for (const request of queued) request.done.reject(refused);
    this.logger?.warn({ dir: this.dir, error: (error as Error).message }, 'the node log failed; it refuses further calls');
  }

  private hasFailed(): boolean {
    return this.phase === 'failed';
  }

  private settleIdle(): void {
    const idle = this.idle;
    this.idle = null;
    idle?.resolve();
  }

  // ---------------------------------------------------------------------------------------------
  // Segment liveness (the same calls at write time and in replay)

  /** Entries first..last of the group are (being) written to `segment`. */
  private noteEntries(slot: GroupSlot, first: number, last: number, segment: Segment): void {
    if (first <= slot.state.lastIndex) {
      // Truncate on conflict: the group's records from `first` on, in any segment, are dead.
      for (const older of this.segments) {
        const live = older.live.get(slot.id);
        if (live !== undefined && live >= first) older.live.set(slot.id, first - 1);
      }
    }
    segment.live.set(slot.id, Math.max(segment.live.get(slot.id) ?? 0, last));
  }

  /** An installed snapshot: every earlier entry of the group is dead. */
  private noteInstall(slot: GroupSlot): void {
    for (const segment of this.segments) segment.live.delete(slot.id);
  }

  private noteDrop(groupId: string): void {
    for (const segment of this.segments) segment.live.delete(groupId);
  }

  private segmentNeeded(segment: Segment): boolean {
    for (const [groupId, maxIndex] of segment.live) {
      const slot = this.groups.get(groupId);
      if (slot !== undefined && maxIndex > slot.state.snapshotIndex) return true;
    }
    return false;
  }

  /**
   * Deletes, oldest first, the segments before the active one that no group needs. The segment
   * after a deleted one restates every group's hard state and snapshot in its checkpoints, so only
   * entries could be lost, and none of them is live. A directory fsync after each unlink keeps
   * the survivors consecutive whatever order the file system would make the unlinks durable in.
   */
  private async dropObsoleteSegments(): Promise<void> {
    const deleted: string[] = [];
    while (this.segments.length > 1 && !this.segmentNeeded(this.segments[0]!)) {
      const segment = this.segments[0]!;
      this.readers.close(segment.seq);
      await unlink(this.segmentPath(segment));
      await fsyncDirectory(this.dir);
      this.segments.shift();
      deleted.push(segment.name);
    }
    if (deleted.length > 0) this.logger?.info({ dir: this.dir, segments: deleted }, 'deleted node log segments no group needs');
  }

  // ---------------------------------------------------------------------------------------------
  // Loading

  private async replayDirectory(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true });
    if (created !== undefined) await fsyncDirectory(dirname(created));
    this.segments = await this.listSegments();

    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i]!;
      const isLast = i === this.segments.length - 1;
      const batches = await this.replaySegment(segment, i === 0, isLast);
      if (batches > 0) continue;
      // A last segment without one complete batch: a start (rollover) that never completed, or a
      // fresh log that never completed a save. Anywhere else, or before its predecessors were
      // deleted, it could not be.
      if (!isLast) throw new StorageCorruptError('a segment that is not the last holds no complete batch', { segment: segment.name, offset: 0 });
      if (i > 0) {
        await unlink(this.segmentPath(segment));
        await fsyncDirectory(this.dir);
        this.segments.pop();
        this.logger?.warn({ segment: segment.name }, 'removed a last node log segment that never completed a batch');
      } else if (segment.seq !== 1) {
        throw new StorageCorruptError('the only segment holds no complete batch, but the segments before it were deleted', {
          segment: segment.name,
          offset: 0,
        });
      } else if (segment.size === 0) {
        // The first segment's own header never became durable: start it again.
        await unlink(this.segmentPath(segment));
        await fsyncDirectory(this.dir);
        this.segments.pop();
      }
    }

    for (const slot of this.groups.values()) {
      try {
        slot.state.checkComplete();
      } catch (error) {
        throw new StorageCorruptError(`group ${JSON.stringify(slot.id)}: ${(error as Error).message}`, undefined, error);
      }
      slot.stash = slot.state.toPersisted();
      slot.state.dropEntries();
    }

    if (this.segments.length === 0) {
      const buf = Buffer.allocUnsafe(segmentHeaderSize);
      writeSegmentHeader(buf, 0, 1);
      await this.startSegment(1, buf);
    } else {
      this.file = await open(this.segmentPath(this.segments[this.segments.length - 1]!), 'r+');
    }
  }

  private async listSegments(): Promise<Segment[]> {
    const segments: Segment[] = [];
    for (const name of await readdir(this.dir)) {
      const match = segmentNamePattern.exec(name);
      if (match !== null) segments.push({ seq: Number(match[1]), name, size: 0, live: new Map() });
    }
    segments.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < segments.length; i++) {
      if (segments[i]!.seq !== segments[i - 1]!.seq + 1) {
        throw new StorageCorruptError(`node log segments are not consecutive: ${segments[i - 1]!.name} is followed by ${segments[i]!.name}`);
      }
    }
    return segments;
  }

  /**
   * Replays one segment, a committed batch at a time; returns how many batches it held. In the
   * last segment, what follows the last complete batch is a torn tail, cut here. `size` is left
   * at the end of the last complete batch (0 when not even the header is intact).
   */
  private async replaySegment(segment: Segment, firstSegment: boolean, isLast: boolean): Promise<number> {
    const buf = await readFile(this.segmentPath(segment));
    const replay = new SegmentReplay(
      (record, at) => this.applyReplayed(record, segment, at, firstSegment),
      (checkpointed) => (firstSegment ? [] : this.uncheckpointed(checkpointed)),
    );
    let offset = 0;
    let committedEnd = 0;
    let batches = 0;
    let torn: string | null = null;
    for (;;) {
      const read = readRecordAt(buf, offset);
      if (read.kind === 'end') break;
      if (read.kind === 'bad') {
        torn = read.reason;
        break;
      }
      const location = { segment: segment.name, offset };
      let record: NodeRecord;
      try {
        record = decodeNodeRecord(read.type, buf, read.bodyStart, read.end);
        if (offset === 0) {
          if (record.kind !== 'header') throw new Error(`segment starts with a record of type ${read.type}, not a node log segment header`);
          if (record.seq !== segment.seq) throw new Error(`segment header says segment ${record.seq}`);
          committedEnd = read.end;
        } else if (record.kind === 'commit') {
          replay.commit(record.count);
          committedEnd = read.end;
          batches++;
        } else {
          replay.add(record, offset);
        }
      } catch (error) {
        if (error instanceof StorageError) throw error;
        throw new StorageCorruptError(`bad record: ${(error as Error).message}`, location, error);
      }
      offset = read.end;
    }
    if (torn === null && committedEnd < offset) torn = 'records after the last commit (an incomplete batch)';
    if (torn !== null) {
      if (!isLast) {
        throw new StorageCorruptError(`damaged or incomplete batch in a segment that is not the last: ${torn}`, {
          segment: segment.name,
          offset: committedEnd,
        });
      }
      await this.cutTornTail(segment, committedEnd, buf.length, torn);
    }
    segment.size = committedEnd;
    return batches;
  }

  private async cutTornTail(segment: Segment, offset: number, fileSize: number, reason: string): Promise<void> {
    await truncateSegmentFile(this.segmentPath(segment), offset);
    this.logger?.warn({ segment: segment.name, offset, bytesCut: fileSize - offset, reason }, 'cut a torn tail from the node log');
  }

  /**
   * Replay of one committed record: the rules of log_state.ts, per group, and the same liveness
   * bookkeeping as at write time. `firstSegment`: no earlier segment was replayed, so checkpoints
   * start their groups; later ones must restate exactly what replay reached.
   */
  private applyReplayed(record: NodeRecord, segment: Segment, offset: number, firstSegment: boolean): void {
    switch (record.kind) {
      case 'checkpoint': {
        const known = this.groups.get(record.group);
        if (known === undefined) {
          const slot = new GroupSlot(record.group, true);
          slot.state.applyCheckpoint(record.prevIndex, record.hardState, record.snapshot, true);
          // A group the earlier segments do not hold cannot have state at a later segment's start.
          if (!firstSegment && !slot.empty) throw new Error(`checkpoint of group ${JSON.stringify(record.group)}, which the earlier segments do not hold`);
          this.groups.set(record.group, slot);
        } else {
          const { hardState, snapshot } = known.state;
          if (
            record.hardState.term !== hardState.term ||
            record.hardState.vote !== hardState.vote ||
            record.hardState.commit !== hardState.commit ||
            record.snapshot?.index !== snapshot?.index ||
            record.snapshot?.term !== snapshot?.term
          ) {
            throw new Error(`checkpoint of group ${JSON.stringify(record.group)} does not restate the state its earlier records reached`);
          }
          known.state.applyCheckpoint(record.prevIndex, record.hardState, record.snapshot, false);
        }
        return;
      }
      case 'entry': {
        const slot = this.replaySlot(record.group);
        this.noteEntries(slot, record.entry.index, record.entry.index, segment);
        slot.state.applyEntry(record.entry);
        slot.locations.set(record.entry.index, segment.seq, offset);
        return;
      }
      case 'hardState':
        this.replaySlot(record.group).state.applyHardState(record.hardState);
        return;
      case 'compact': {
        const slot = this.replaySlot(record.group);
        slot.state.applyCompact(record.snapshot);
        slot.locations.dropThrough(record.snapshot.index);
        return;
      }
      case 'install': {
        const slot = this.replaySlot(record.group);
        this.noteInstall(slot);
        slot.state.applyInstall(record.snapshot);
        slot.locations.clear();
        return;
      }
      case 'drop':
        this.noteDrop(record.group);
        this.groups.delete(record.group);
        return;
      case 'header':
      case 'commit':
        throw new Error(`a ${record.kind} record inside a batch`);
    }
  }

  /** Groups with state that a segment (not the first replayed) started without checkpointing. */
  private uncheckpointed(checkpointed: ReadonlySet<string>): string[] {
    return [...this.groups.values()].filter((slot) => !slot.empty && !checkpointed.has(slot.id)).map((slot) => slot.id);
  }

  private replaySlot(groupId: string): GroupSlot {
    let slot = this.groups.get(groupId);
    if (slot === undefined) {
      slot = new GroupSlot(groupId, true);
      this.groups.set(groupId, slot);
    }
    return slot;
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  private async append(segment: Segment, buf: Buffer): Promise<void> {
    await writeFully(this.file!, buf, segment.size);
    await this.io.datasync(this.file!);
    segment.size += buf.length;
  }

  /** Creates segment `seq` holding `buf` (its header first), durable in the directory. */
  private async startSegment(seq: number, buf: Buffer): Promise<void> {
    const segment: Segment = { seq, name: segmentName(seq), size: 0, live: new Map() };
    const handle = await createSegmentFile(this.segmentPath(segment), this.dir, buf, (h) => this.io.datasync(h));
    segment.size = buf.length;
    await this.closeFile();
    this.file = handle;
    this.segments.push(segment);
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  private segmentPath(segment: Segment): string {
    return join(this.dir, segment.name);
  }

  private checkOpen(operation: string): void {
    if (this.phase === 'failed') {
      throw new StorageFailedError(`${operation}(): an earlier load, write or fsync of the node log failed; open it anew`);
    }
    if (this.phase !== 'open') throw new StorageStateError(`${operation}() on a NodeLog that is ${this.phase === 'new' ? 'not open' : this.phase}`);
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = null;
    if (file !== null) await file.close().catch(() => undefined);
  }
}

/**
 * The replay of one segment's records: a batch's records wait for its commit record and are
 * applied together, in order; the first batch of a segment may open with checkpoints.
 */
class SegmentReplay {
  private pending: { readonly record: NodeRecord; readonly offset: number }[] = [];
  /** Checkpoints are allowed only at the head of the segment, before any other record. */
  private atHead = true;
  private headChecked = false;
  private readonly checkpointed = new Set<string>();

  constructor(
    private readonly apply: (record: NodeRecord, offset: number) => void,
    /** The groups with state that are not in `checkpointed` (none when the segment is the first replayed). */
    private readonly uncheckpointed: (checkpointed: ReadonlySet<string>) => string[],
  ) {}

  add(record: NodeRecord, offset: number): void {
    if (record.kind === 'header') throw new Error('segment header in the middle of a segment');
    if (record.kind === 'checkpoint') {
      if (!this.atHead) throw new Error(`checkpoint of group ${JSON.stringify(record.group)} after the head of the segment`);
      if (this.checkpointed.has(record.group)) throw new Error(`second checkpoint of group ${JSON.stringify(record.group)}`);
      this.checkpointed.add(record.group);
    } else if (this.atHead) {
      this.atHead = false;
    }
    this.pending.push({ record, offset });
  }

  commit(count: number): void {
    if (count !== this.pending.length) throw new Error(`commit record counts ${count} records, the batch has ${this.pending.length}`);
    for (const { record, offset } of this.pending) {
      if (!this.headChecked && record.kind !== 'checkpoint') this.checkHead();
      this.apply(record, offset);
    }
    if (!this.headChecked) this.checkHead();
    this.atHead = false;
    this.pending = [];
  }

  /** A segment that follows another restates, at its head, every group with state. */
  private checkHead(): void {
    this.headChecked = true;
    const missing = this.uncheckpointed(this.checkpointed);
    if (missing.length > 0) {
      throw new Error(`the segment does not checkpoint group(s) ${missing.map((id) => JSON.stringify(id)).join(', ')}, which have state`);
    }
  }
}

interface GroupOps {
  /** Throws unless the node log is open and the group has not been dropped since the view was made. */
  check(operation: string): void;
  load(): PersistedLog;
  save(update: LogUpdate): Promise<void>;
  compact(snapshot: SnapshotMetadata): Promise<void>;
  readEntry(index: number): Entry;
  closed(view: NodeLogGroup): void;
}

/**
 * One group's DurableLog on the node log: the contract of durable_log.ts, as FileLog keeps it
 * (load once before anything else; calls not concurrent; refused after close or a failure).
 */
export class NodeLogGroup implements DurableLog {
  readonly groupId: string;
  private phase: 'new' | 'open' | 'closed' = 'new';

  constructor(
    slot: GroupSlot,
    private readonly ops: GroupOps,
  ) {
    this.groupId = slot.id;
  }

  async load(): Promise<PersistedLog> {
    if (this.phase !== 'new') throw new StorageStateError(`load() may be called once, on a new group log (it is ${this.phase})`);
    this.ops.check('load');
    const persisted = this.ops.load();
    this.phase = 'open';
    return persisted;
  }

  async save(update: LogUpdate): Promise<void> {
    this.checkOpen('save');
    await this.ops.save(update);
  }

  async compact(snapshot: SnapshotMetadata): Promise<void> {
    this.checkOpen('compact');
    await this.ops.compact(snapshot);
  }

  readEntry(index: number): Entry {
    this.checkOpen('readEntry');
    return this.ops.readEntry(index);
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.ops.closed(this);
  }

  private checkOpen(operation: string): void {
    if (this.phase !== 'open') {
      throw new StorageStateError(`${operation}() on the log of group ${JSON.stringify(this.groupId)}, which is ${this.phase === 'new' ? 'not loaded' : 'closed'}`);
    }
    this.ops.check(operation);
  }
}

function requestSize(request: Request): number {
  const group = request.slot.id;
  switch (request.kind) {
    case 'save': {
      const { plan } = request;
      let size = plan.snapshot === null ? 0 : markerSize(group, plan.snapshot);
      for (const entry of plan.entries) size += entrySize(group, entry);
      if (plan.hardState !== null) size += hardStateSize(group, plan.hardState);
      return size;
    }
    case 'compact':
      return markerSize(group, request.marker);
    case 'drop':
      return dropSize(group);
  }
}

function requestRecordCount(request: Request): number {
  return request.kind === 'save' ? plannedRecordCount(request.plan) : 1;
}

/** Encodes the request's records in log_state.ts's order; `entryOffsets` gets each entry's record offset. */
function encodeRequest(buf: Buffer, pos: number, request: Request, entryOffsets: number[]): number {
  const group = request.slot.id;
  switch (request.kind) {
    case 'save': {
      const { plan } = request;
      if (plan.snapshot !== null) pos = writeMarker(buf, pos, NodeRecordType.InstallMarker, group, plan.snapshot);
      for (const entry of plan.entries) {
        entryOffsets.push(pos);
        pos = writeEntry(buf, pos, group, entry);
      }
      if (plan.hardState !== null) pos = writeHardState(buf, pos, group, plan.hardState);
      return pos;
    }
    case 'compact':
      return writeMarker(buf, pos, NodeRecordType.CompactMarker, group, request.marker);
    case 'drop':
      return writeDrop(buf, pos, group);
  }
}

function readFullySync(fd: number, buf: Buffer, position: number): void {
  let read = 0;
  while (read < buf.length) {
    const n = readSync(fd, buf, read, buf.length - read, position + read);
    if (n === 0) throw new StorageCorruptError(`node log record at offset ${position} ends early (${read} of ${buf.length} bytes)`);
    read += n;
  }
}
