import { CompactedError, RaftInvariantError, UnavailableError } from './errors.js';
import type { LogStorage } from './log_storage.js';
import { EntryType, emptyHardState, emptySnapshot, entrySize } from './types.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/**
 * The in-memory stable log (etcd's MemoryStorage). `entries[0]` is a dummy holding the snapshot's
 * index and term, so that the term of firstIndex() - 1 is always known.
 *
 * A host may subclass it to keep only some payloads in memory (src/node/paged_log_storage.ts):
 * every read of a stored entry goes through `entryAt`, and every size through `entryBytes`.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot = emptySnapshot;
  protected ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  protected get offset(): number {
    return this.ents[0].index;
  }

  /** The entry at `index` (in [firstIndex(), lastIndex()]), with its payload. */
  protected entryAt(index: number): Entry {
    return this.ents[index - this.offset];
  }

  /** entrySize() of the entry at `index`, without needing its payload. */
  entryBytes(index: number): number {
    if (index < this.firstIndex() || index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return entrySize(this.ents[index - this.offset]);
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    const offset = this.offset;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const result: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.entryAt(i);
      size += entrySize(e);
      if (result.length > 0 && size > maxBytes) break;
      result.push(e);
    }
    return result;
  }

  term(index: number): number {
    const offset = this.offset;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index - offset >= this.ents.length) throw new UnavailableError(index, this.lastIndex());
    return this.ents[index - offset].term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the log with a snapshot received from the leader (or loaded at start-up). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index < this.snap.metadata.index) {
      throw new RaftInvariantError(`snapshot ${snap.metadata.index} is older than ${this.snap.metadata.index}`);
    }
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: EntryType.Normal, data: new Uint8Array(0) }];
  }

  /**
   * Records a snapshot of the applied state at `index` (which must be in the log). The log is not
   * compacted; call compact() for that, possibly keeping some entries for slow followers.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const term = this.ents[index - this.offset].term;
    this.snap = { metadata: { index, term, confState }, data };
    return this.snap;
  }

  /** Drops entries before `compactIndex`; the entry at compactIndex becomes the dummy. */
  compact(compactIndex: number): void {
    const offset = this.offset;
    if (compactIndex <= offset) return;
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex, this.lastIndex());
    const dummy = this.ents[compactIndex - offset];
    this.ents = [
      { term: dummy.term, index: dummy.index, type: EntryType.Normal, data: new Uint8Array(0) },
      ...this.ents.slice(compactIndex - offset + 1),
    ];
  }

  /**
   * Appends persisted entries. Entries before firstIndex() are ignored (already compacted); an
   * overlap replaces the stored suffix.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    const from = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const offset = from[0].index - this.offset;
    if (offset > this.ents.length) {
      throw new RaftInvariantError(`missing log entries: last ${this.lastIndex()}, appending at ${from[0].index}`);
    }
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of from) this.ents.push(e);
  }
}
