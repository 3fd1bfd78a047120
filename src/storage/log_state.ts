import type { Entry, HardState, SnapshotMetadata } from '../raft/types.js';
import { emptyHardState } from '../raft/types.js';
import type { LogUpdate, PersistedLog } from './durable_log.js';
import { InvalidLogUpdateError } from './errors.js';

/**
 * The meaning of the log's records, shared by FileLog (replaying segments, tracking positions)
 * and MemoryLog (its whole state), so that both have the same semantics by construction.
 *
 * A `save()` is planned once (validated, nothing changed) and then applied as a sequence of
 * records, in this order:
 *
 *   [install marker]  entry  entry ... entry  [hard state]
 *
 * A crash may keep any prefix of that sequence; `applySave(plan, n)` applies the first n.
 *
 * Record semantics (the replay rules):
 * - entry i: i must be at most lastIndex + 1. If i <= lastIndex the suffix from i on is dropped
 *   first (truncate-on-conflict by appending).
 * - hard state: replaces the previous one (last record wins).
 * - compact marker S: S becomes the snapshot; entries <= S.index are dropped, later ones kept.
 *   A marker at or below the current snapshot is a no-op (segment headers repeat the snapshot).
 * - install marker S: S becomes the snapshot and the log is empty after it.
 *
 * While FileLog replays a directory whose oldest segments were deleted by compaction, the entries
 * between the snapshot and the first surviving entry record are unknown (a "missing prefix":
 * firstIndex > snapshotIndex + 1). A later marker must cover them; `checkComplete()` says so.
 *
 *   snapshotIndex      firstIndex                 lastIndex
 *        |   missing    |  entries[0] ... entries[n-1] |
 */
export class LogState {
  snapshot: SnapshotMetadata | null = null;
  hardState: HardState = emptyHardState;
  /** Index of entries[0] (or of the next entry when there are none). */
  firstIndex = 1;
  lastIndex = 0;
  /** null when only positions are tracked (FileLog after load keeps no entries in memory). */
  private entries: Entry[] | null;

  constructor(options: { keepEntries: boolean }) {
    this.entries = options.keepEntries ? [] : null;
  }

  get snapshotIndex(): number {
    return this.snapshot === null ? 0 : this.snapshot.index;
  }

  /** A deep enough copy for MemoryLog's crash(): entries are immutable and shared. */
  clone(): LogState {
    const copy = new LogState({ keepEntries: this.entries !== null });
    copy.snapshot = this.snapshot;
    copy.hardState = this.hardState;
    copy.firstIndex = this.firstIndex;
    copy.lastIndex = this.lastIndex;
    if (this.entries !== null) copy.entries = this.entries.slice();
    return copy;
  }

  /** Stops keeping entries; positions, hard state and snapshot are still tracked. */
  dropEntries(): void {
    this.entries = null;
  }

  /** The kept entry at `index`, or undefined (not kept, or not in the log). */
  entryAt(index: number): Entry | undefined {
    if (this.entries === null || index < this.firstIndex || index > this.lastIndex) return undefined;
    return this.entries[index - this.firstIndex];
  }

  toPersisted(): PersistedLog {
    if (this.entries === null) throw new Error('LogState: entries are not kept');
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries.slice() };
  }

  // ---------------------------------------------------------------------------------------------
  // Replay rules: one method per record type. They throw a plain Error on a record that cannot
  // follow the state (the caller turns it into StorageCorruptError with a location).

  /** The checkpoint at the start of a segment. `first`: no earlier segment was replayed. */
  applyCheckpoint(prevIndex: number, hardState: HardState, snapshot: SnapshotMetadata | null, first: boolean): void {
    const snapshotIndex = snapshot === null ? 0 : snapshot.index;
    if (prevIndex < snapshotIndex) {
      throw new Error(`segment header: last index ${prevIndex} is below its snapshot index ${snapshotIndex}`);
    }
    if (first) {
      this.snapshot = snapshot;
      this.hardState = hardState;
      this.firstIndex = prevIndex + 1;
      this.lastIndex = prevIndex;
      if (this.entries !== null) this.entries = [];
      return;
    }
    if (prevIndex !== this.lastIndex) {
      throw new Error(`segment header: starts after index ${prevIndex}, but the previous segment ended at ${this.lastIndex}`);
    }
    if (snapshotIndex !== this.snapshotIndex) {
      throw new Error(`segment header: snapshot index ${snapshotIndex}, but replay reached ${this.snapshotIndex}`);
    }
    this.hardState = hardState;
  }

  applyEntry(entry: Entry): void {
    const index = entry.index;
    if (index <= this.snapshotIndex) {
      throw new Error(`entry ${index} is already covered by the snapshot at ${this.snapshotIndex}`);
    }
    if (index > this.lastIndex + 1) {
      throw new Error(`entry ${index} leaves a gap after the last index ${this.lastIndex}`);
    }
    if (index < this.firstIndex) {
      // Only while a prefix is missing: everything known lies after this entry, so it all goes.
      this.firstIndex = index;
      if (this.entries !== null) this.entries = [entry];
    } else if (this.entries !== null) {
      this.entries.length = index - this.firstIndex;
      this.entries.push(entry);
    }
    this.lastIndex = index;
  }

  applyHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  applyCompact(snapshot: SnapshotMetadata): void {
    if (snapshot.index <= this.snapshotIndex) return;
    if (snapshot.index > this.lastIndex) {
      throw new Error(`compaction to ${snapshot.index} is beyond the last index ${this.lastIndex}`);
    }
    this.snapshot = snapshot;
    if (snapshot.index >= this.firstIndex) {
      if (this.entries !== null) this.entries.splice(0, snapshot.index + 1 - this.firstIndex);
      this.firstIndex = snapshot.index + 1;
    }
  }

  applyInstall(snapshot: SnapshotMetadata): void {
    if (snapshot.index < this.snapshotIndex) {
      throw new Error(`installed snapshot ${snapshot.index} is older than the snapshot at ${this.snapshotIndex}`);
    }
    this.snapshot = snapshot;
    this.firstIndex = snapshot.index + 1;
    this.lastIndex = snapshot.index;
    if (this.entries !== null) this.entries = [];
  }

  /** Throws when replay ended with entries still missing between the snapshot and firstIndex. */
  checkComplete(): void {
    if (this.firstIndex !== this.snapshotIndex + 1) {
      throw new Error(
        `entries ${this.snapshotIndex + 1}..${this.firstIndex - 1} are missing: their segments were deleted but no snapshot covers them`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writers: validate an update against the state (changing nothing), then apply the plan.

  planSave(update: LogUpdate): PlannedSave {
    let snapshotIndex = this.snapshotIndex;
    let lastIndex = this.lastIndex;
    let snapshot: SnapshotMetadata | null = null;
    if (update.snapshot !== undefined) {
      snapshot = update.snapshot;
      checkSnapshotMetadata(snapshot);
      if (snapshot.index < 1) throw new InvalidLogUpdateError(`installed snapshot must have index >= 1, got ${snapshot.index}`);
      if (snapshot.index < snapshotIndex) {
        throw new InvalidLogUpdateError(`installed snapshot ${snapshot.index} is older than the log's snapshot at ${snapshotIndex}`);
      }
      snapshotIndex = snapshot.index;
      lastIndex = snapshot.index;
    }
    let entries: readonly Entry[] = noEntries;
    const given = update.entries;
    if (given !== undefined && given.length > 0) {
      const firstGiven = given[0]!.index;
      for (let i = 0; i < given.length; i++) {
        const entry = given[i]!;
        if (entry.index !== firstGiven + i) {
          throw new InvalidLogUpdateError(`entries are not contiguous: position ${i} has index ${entry.index}, expected ${firstGiven + i}`);
        }
        checkUint48(entry.index, 'entry index', 1);
        checkUint48(entry.term, 'entry term', 0);
        if (!Number.isInteger(entry.type) || entry.type < 0 || entry.type > 255) {
          throw new InvalidLogUpdateError(`entry ${entry.index} has type ${entry.type}; types are stored as one byte`);
        }
      }
      // Entries the snapshot already covers are dropped, as etcd's MemoryStorage.Append does.
      const skip = Math.max(0, snapshotIndex + 1 - firstGiven);
      entries = skip === 0 ? given : given.slice(skip);
      if (entries.length > 0 && entries[0]!.index > lastIndex + 1) {
        throw new InvalidLogUpdateError(`entries start at ${entries[0]!.index}, leaving a gap after the last index ${lastIndex}`);
      }
    }
    let hardState: HardState | null = null;
    if (update.hardState !== undefined) {
      hardState = update.hardState;
      checkUint48(hardState.term, 'hard state term', 0);
      checkUint48(hardState.commit, 'hard state commit', 0);
      if (typeof hardState.vote !== 'string') throw new InvalidLogUpdateError('hard state vote must be a string');
    }
    return { snapshot, entries, hardState };
  }

  /** Applies the first `recordLimit` records of the plan; returns how many it applied. */
  applySave(plan: PlannedSave, recordLimit = Infinity): number {
    let applied = 0;
    if (plan.snapshot !== null) {
      if (applied >= recordLimit) return applied;
      this.applyInstall(plan.snapshot);
      applied++;
    }
    for (const entry of plan.entries) {
      if (applied >= recordLimit) return applied;
      this.applyEntry(entry);
      applied++;
    }
    if (plan.hardState !== null) {
      if (applied >= recordLimit) return applied;
      this.applyHardState(plan.hardState);
      applied++;
    }
    return applied;
  }

  /** The marker to write for `compact(snapshot)`, or null when the log already starts after it. */
  planCompact(snapshot: SnapshotMetadata): SnapshotMetadata | null {
    checkSnapshotMetadata(snapshot);
    if (snapshot.index <= this.snapshotIndex) return null;
    if (snapshot.index > this.lastIndex) {
      throw new InvalidLogUpdateError(`cannot compact to ${snapshot.index}: the last index is ${this.lastIndex}`);
    }
    return snapshot;
  }
}

export interface PlannedSave {
  /** An installed snapshot; its record comes first. */
  readonly snapshot: SnapshotMetadata | null;
  /** The entries to append, without those the snapshot already covers. */
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

export function plannedRecordCount(plan: PlannedSave): number {
  return (plan.snapshot === null ? 0 : 1) + plan.entries.length + (plan.hardState === null ? 0 : 1);
}

const noEntries: readonly Entry[] = Object.freeze([]);

/** Indices, terms and commits are stored as 48-bit integers (2.8e14: centuries of entries). */
export const maxUint48 = 2 ** 48 - 1;

function checkUint48(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min || value > maxUint48) {
    throw new InvalidLogUpdateError(`${what} must be an integer in [${min}, 2^48), got ${value}`);
  }
}

function checkSnapshotMetadata(snapshot: SnapshotMetadata): void {
  checkUint48(snapshot.index, 'snapshot index', 0);
  checkUint48(snapshot.term, 'snapshot term', 0);
  for (const id of [...snapshot.confState.voters, ...snapshot.confState.learners]) {
    if (typeof id !== 'string') throw new InvalidLogUpdateError('snapshot confState members must be strings');
  }
}
