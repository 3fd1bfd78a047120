import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/**
 * What the core reads of the stable (persisted) log: etcd's `Storage`. Implementations answer
 * synchronously from memory; the durable copy lives in src/storage and the host keeps the two in
 * step (persist first, then append here).
 *
 * The log covers [firstIndex(), lastIndex()]; firstIndex() - 1 is the snapshot's index, whose term
 * is still known (term(firstIndex() - 1) works).
 */
export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), at most `maxBytes` of them but always at least one. Throws
   * CompactedError if lo is before firstIndex(), UnavailableError if hi - 1 > lastIndex().
   */
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[];
  /** Term of entry i, for i in [firstIndex() - 1, lastIndex()]. Throws outside that range. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot. Throws SnapshotTemporarilyUnavailableError while one is being made. */
  snapshot(): Snapshot;
}
