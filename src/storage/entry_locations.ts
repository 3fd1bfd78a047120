/**
 * Where each live entry record of a FileLog sits (segment and byte offset), so that an entry the
 * host dropped from memory can be read back (FileLog.readEntry). It follows the same replay rules
 * as LogState's entries: writing index i drops every location from i on first (truncate on
 * conflict), a compaction drops those at or below the snapshot, an installed snapshot drops all.
 *
 * Two parallel number arrays from `first` on, not an object per entry: a log between snapshots
 * may hold a million single-write entries.
 */
export class EntryLocations {
  private first = 1;
  private segments: number[] = [];
  private offsets: number[] = [];

  /** The record of entry `index` starts at `offset` in segment `segment`. */
  set(index: number, segment: number, offset: number): void {
    const at = index - this.first;
    if (at < 0 || at > this.segments.length) {
      // Before the known range (a replay with a missing prefix) or after a gap: start afresh.
      this.first = index;
      this.segments = [segment];
      this.offsets = [offset];
      return;
    }
    this.segments.length = at;
    this.offsets.length = at;
    this.segments.push(segment);
    this.offsets.push(offset);
  }

  get(index: number): { segment: number; offset: number } | undefined {
    const at = index - this.first;
    if (at < 0 || at >= this.segments.length) return undefined;
    return { segment: this.segments[at]!, offset: this.offsets[at]! };
  }

  /** Drops every location at or below `index` (a compaction). */
  dropThrough(index: number): void {
    const count = Math.min(index + 1 - this.first, this.segments.length);
    if (count <= 0) return;
    this.segments = this.segments.slice(count);
    this.offsets = this.offsets.slice(count);
    this.first += count;
  }

  /** Drops every location (an installed snapshot): the next entry starts afresh. */
  clear(): void {
    this.segments = [];
    this.offsets = [];
  }
}
