import type { Entry, HardState, SnapshotMetadata } from '../raft/types.js';

/**
 * The durable Raft log of one group: entries, hard state and the metadata of the snapshot the log
 * starts after. The host writes to it in its Ready loop and, after a restart, rebuilds the core's
 * in-memory view (raft/MemoryStorage) from `load()`.
 *
 * Contract:
 * - `save()` makes everything it was given durable before its promise resolves: one fsync per
 *   call, however many entries (group commit). Nothing that depends on it may be sent or
 *   acknowledged before it resolves.
 * - `entries` in one `save()` are contiguous. If the first one's index is at or below the last
 *   stored index, the stored suffix from that index on is replaced (Raft's truncate-on-conflict).
 * - A crash at any moment loses at most the `save()` that was under way; `load()` then returns the
 *   longest prefix of complete records. A torn tail is detected (checksum per record) and cut.
 * - Calls are not concurrent: the host awaits one before starting the next.
 */
export interface DurableLog {
  /** The group this log belongs to; written into the log so files cannot be mixed up. */
  readonly groupId: string;
  load(): Promise<PersistedLog>;
  save(update: LogUpdate): Promise<void>;
  /**
   * Records that a snapshot covers everything up to `snapshot.index`, and drops the entries
   * before it. Entries after it are kept. Durable when the promise resolves.
   */
  compact(snapshot: SnapshotMetadata): Promise<void>;
  /**
   * A durable, uncompacted entry read back synchronously (the host may drop payloads from
   * memory and read them again when the Raft core asks). Throws if `index` is not in the log.
   */
  readEntry(index: number): Entry;
  close(): Promise<void>;
}

export interface LogUpdate {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  /**
   * A snapshot installed from the leader: the log is reset to start after it (entries after it
   * that the same update carries are kept).
   */
  readonly snapshot?: SnapshotMetadata;
}

export interface PersistedLog {
  readonly hardState: HardState;
  /** The snapshot the log starts after, or null when the log starts at index 1. */
  readonly snapshot: SnapshotMetadata | null;
  /** Contiguous entries after the snapshot (or from index 1). */
  readonly entries: readonly Entry[];
}
