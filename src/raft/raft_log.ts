import { CompactedError, RaftInvariantError, UnavailableError } from './errors.js';
import type { LogStorage } from './log_storage.js';
import { UnstableLog } from './log_unstable.js';
import { entrySize } from './types.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The log as the core sees it: stable entries in LogStorage followed by unstable ones, plus the
 * commit and apply positions.
 *
 *   snapshot | stable (storage) ........ | unstable .......... |
 *            firstIndex          applied ≤ committed ≤ lastIndex
 */
export class RaftLog {
  readonly storage: LogStorage;
  readonly unstable: UnstableLog;
  committed: number;
  /** Highest index the host confirmed applied. */
  applied: number;
  /** Highest index handed to the host for applying (≥ applied). */
  applying: number;
  private readonly maxApplyBytes: number;

  constructor(storage: LogStorage, maxApplyBytes: number) {
    this.storage = storage;
    this.maxApplyBytes = maxApplyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The last index the host has confirmed persisted. */
  stableLastIndex(): number {
    // A snapshot waiting to be persisted replaces the whole log: nothing of it is stable yet.
    if (this.unstable.snapshot) return 0;
    return Math.min(this.storage.lastIndex(), this.unstable.offset - 1);
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry `index`, or 0 when the log does not know it (compacted or past the end). */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(index);
    if (t !== null) return t;
    try {
      return this.storage.term(index);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0;
      throw err;
    }
  }

  matchTerm(index: number, term: number): boolean {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return false;
    return this.term(index) === term;
  }

  /**
   * Follower side of AppendEntries (Raft paper §5.3): if our entry at `index` has `logTerm`,
   * append what is new, truncating a conflicting suffix, and advance the commit index. Returns
   * the last index now known to match the leader, or null when the consistency check fails.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNewIndex = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new RaftInvariantError(`entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    if (ents[0].index - 1 < this.committed) {
      throw new RaftInvariantError(`appending at ${ents[0].index} would overwrite committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry in `ents` that is not already in the log with the same term;
   * 0 when all are there. Entries past our end count as conflicts (they are new).
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index ≤ `index` whose term is ≤ `term`, with that term. Both
   * sides use it to skip a whole conflicting term per round trip instead of one entry.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (; index > 0; index--) {
      // An unknown term (0: compacted or past the end) may match, so it stops the search too.
      const t = this.term(index);
      if (t <= term) return [index, t];
    }
    return [0, 0];
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet handed out for applying, bounded in bytes. */
  nextCommittedEntries(): readonly Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = Math.max(this.applying, this.firstIndex() - 1) + 1;
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.maxApplyBytes);
  }

  /**
   * Committed entries that are already persisted here (stable) and not yet handed out for
   * applying: what a host may apply while the fsync of a newer Ready is still in flight.
   */
  durableCommittedEntries(): readonly Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = Math.max(this.applying, this.firstIndex() - 1) + 1;
    const hi = Math.min(this.committed, this.stableLastIndex());
    if (lo > hi) return [];
    return this.slice(lo, hi + 1, Number.POSITIVE_INFINITY);
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot) return false;
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} is past the last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new RaftInvariantError(`applied ${index} outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
    if (this.applying < index) this.applying = index;
  }

  acceptApplying(index: number): void {
    if (index > this.applying) this.applying = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Raft's up-to-date check for votes (§5.4.1): later last term wins, then the longer log. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Commits up to `maxIndex` only if that entry is of the leader's current term (§5.4.2: a leader
   * never commits an earlier term's entry by counting replicas).
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }

  /** Entries from `lo` on, at most `maxBytes` (at least one). Throws CompactedError. */
  entriesFrom(lo: number, maxBytes: number): readonly Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Entries in [lo, hi), at most `maxBytes` (at least one). Throws CompactedError if lo is gone. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    let result: Entry[] = [];
    const unstableOffset = this.unstable.offset;
    if (lo < unstableOffset) {
      const stable = this.storage.entries(lo, Math.min(hi, unstableOffset), maxBytes);
      result = [...stable];
      // Storage stopped early because of the byte limit: do not add unstable entries after a gap.
      if (stable.length < Math.min(hi, unstableOffset) - lo) return result;
    }
    if (hi > unstableOffset) {
      const from = Math.max(lo, unstableOffset);
      const unstableEnts = this.unstable.slice(from, hi);
      for (const e of unstableEnts) result.push(e);
    }
    return limitSize(result, maxBytes);
  }

  allEntries(): Entry[] {
    return this.slice(this.firstIndex(), this.lastIndex() + 1, Number.POSITIVE_INFINITY);
  }
}

function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0 || maxBytes === Number.POSITIVE_INFINITY) return ents;
  let size = entrySize(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
