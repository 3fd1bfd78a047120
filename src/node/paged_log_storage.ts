import { MemoryStorage } from '../raft/memory_storage.js';
import { RaftInvariantError } from '../raft/errors.js';
import { entrySize } from '../raft/types.js';
import type { Entry, EntryType, Snapshot } from '../raft/types.js';

/** Where dropped payloads are read back from: the group's durable log (DurableLog.readEntry). */
export interface EntryReader {
  readEntry(index: number): Entry;
}

/** An entry whose payload was dropped from memory: what the core may see of it without a read. */
class PagedOutEntry implements Entry {
  readonly data = new Uint8Array(0);

  constructor(
    readonly term: number,
    readonly index: number,
    readonly type: EntryType,
    /** entrySize() of the entry as it was. */
    readonly bytes: number,
  ) {}
}

/**
 * The Raft core's stable log (a MemoryStorage) with payloads kept in memory only for the newest
 * `residentBytes` of applied entries and for everything not yet applied; older payloads are read
 * back from the durable log when the core asks for them (a follower far behind, a new leader
 * catching one up). etcd keeps the whole log since the last snapshot in memory and bounds it by
 * snapshotting every 10k entries; here a snapshot is taken by size (--snapshot-bytes, 256 MiB),
 * and the log would hold those bytes a second time beside the state machine. The Storage interface allows this: etcd's says an implementation may read
 * from disk, and the core only ever calls it synchronously, which a page-cached pread is.
 *
 *   firstIndex ........ cursor ............................ lastIndex
 *   | payloads on disk |  resident (applied + not applied)  |
 *
 * `resident` counts the payload bytes of entries from `cursor` on, kept exact at every change.
 */
export class PagedLogStorage extends MemoryStorage {
  /** Every entry below it is paged out (or compacted). */
  private cursor = 1;
  private resident = 0;
  /** Reads the durable log served (INFO: a rising count means followers far behind). */
  pageIns = 0;

  constructor(
    private readonly reader: EntryReader,
    private readonly residentBytes: number,
  ) {
    super();
  }

  get residentPayloadBytes(): number {
    return this.resident;
  }

  /** Entries below this index have no payload in memory; those from it on have theirs. */
  get pagedOutBelow(): number {
    return Math.max(this.cursor, this.firstIndex());
  }

  protected override entryAt(index: number): Entry {
    const e = super.entryAt(index);
    if (!(e instanceof PagedOutEntry)) return e;
    const read = this.reader.readEntry(index);
    if (read.term !== e.term || read.index !== index) {
      throw new RaftInvariantError(`entry ${index} read back with term ${read.term}, expected ${e.term}`);
    }
    this.pageIns++;
    return read;
  }

  override entryBytes(index: number): number {
    const e = super.entryAt(index);
    return e instanceof PagedOutEntry ? e.bytes : super.entryBytes(index);
  }

  /**
   * Pages out the oldest resident payloads at or below `appliedIndex` until at most
   * `residentBytes` remain resident. Only applied entries: apply reads every entry once more.
   */
  pageOut(appliedIndex: number): void {
    const last = Math.min(appliedIndex, this.lastIndex());
    if (this.cursor < this.firstIndex()) this.cursor = this.firstIndex();
    while (this.resident > this.residentBytes && this.cursor <= last) {
      const at = this.cursor - this.offset;
      const e = this.ents[at]!;
      if (!(e instanceof PagedOutEntry)) {
        this.resident -= e.data.length;
        this.ents[at] = new PagedOutEntry(e.term, e.index, e.type, entrySize(e));
      }
      this.cursor++;
    }
  }

  override append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    // The suffix an overlap replaces leaves memory first (never a paged-out one: only applied,
    // hence committed, entries are paged out, and committed entries are never replaced).
    const from = Math.max(entries[0]!.index, this.firstIndex());
    this.forget(from, this.lastIndex());
    if (from < this.cursor) this.cursor = from;
    super.append(entries);
    for (const e of entries) if (e.index >= from) this.resident += e.data.length;
  }

  override compact(compactIndex: number): void {
    this.forget(this.firstIndex(), Math.min(compactIndex, this.lastIndex()));
    super.compact(compactIndex);
  }

  override applySnapshot(snap: Snapshot): void {
    super.applySnapshot(snap);
    this.resident = 0;
    this.cursor = snap.metadata.index + 1;
  }

  /** Takes the resident payloads of entries lo..hi out of the count (they are leaving the log). */
  private forget(lo: number, hi: number): void {
    for (let i = Math.max(lo, this.cursor); i <= hi; i++) {
      const e = super.entryAt(i);
      if (!(e instanceof PagedOutEntry)) this.resident -= e.data.length;
    }
  }
}
