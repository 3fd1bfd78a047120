import type { Entry, SnapshotMetadata } from '../raft/types.js';
import type { DurableLog, LogUpdate, PersistedLog } from './durable_log.js';
import { StorageCrashedError, StorageStateError } from './errors.js';
import { LogState, plannedRecordCount } from './log_state.js';
import type { PlannedSave } from './log_state.js';

type InFlight =
  | { readonly kind: 'save'; readonly plan: PlannedSave }
  | { readonly kind: 'compact'; readonly snapshot: SnapshotMetadata };

export interface CrashOptions {
  /**
   * How many records of the call under way (if any) reached the disk before the crash, as a torn
   * write in FileLog may keep: 0 (the default) loses the whole call. See `inFlightRecordCount`.
   */
  readonly keepInFlightRecords?: number;
}

/**
 * A DurableLog in memory for simulations, with FileLog's semantics (both apply log_state.ts) and
 * its crash behaviour:
 *
 *   save(u) called ──► in flight ──(promise resolves)──► durable
 *                          │
 *                       crash() ──► a fresh MemoryLog over the durable state
 *                                   (+ optionally a prefix of the in-flight records)
 *
 * A call is durable exactly when its promise resolves: `crash()` before that loses it (or keeps a
 * prefix of its records, as a torn write would), and the crashed instance rejects the call with
 * StorageCrashedError. Everything is synchronous apart from that one promise per call; entries are
 * stored by reference, not copied (callers must not mutate them after saving).
 */
export class MemoryLog implements DurableLog {
  readonly groupId: string;
  private readonly state: LogState;
  private inFlight: InFlight | null = null;
  private crashed = false;
  private closed = false;

  constructor(groupId: string, state?: LogState) {
    this.groupId = groupId;
    this.state = state ?? new LogState({ keepEntries: true });
  }

  load(): Promise<PersistedLog> {
    try {
      this.checkUsable('load');
      return Promise.resolve(this.state.toPersisted());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  save(update: LogUpdate): Promise<void> {
    let plan: PlannedSave;
    try {
      this.checkUsable('save');
      plan = this.state.planSave(update);
    } catch (error) {
      return Promise.reject(error);
    }
    if (plannedRecordCount(plan) === 0) return Promise.resolve();
    return this.complete({ kind: 'save', plan });
  }

  compact(snapshot: SnapshotMetadata): Promise<void> {
    let marker: SnapshotMetadata | null;
    try {
      this.checkUsable('compact');
      marker = this.state.planCompact(snapshot);
    } catch (error) {
      return Promise.reject(error);
    }
    if (marker === null) return Promise.resolve();
    return this.complete({ kind: 'compact', snapshot: marker });
  }

  readEntry(index: number): Entry {
    this.checkUsable('readEntry');
    const entry = this.state.entryAt(index);
    if (entry === undefined) throw new StorageStateError(`readEntry(${index}): not in the log (${this.state.firstIndex}..${this.state.lastIndex})`);
    return entry;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Records the call under way would write (0 when none is). */
  get inFlightRecordCount(): number {
    if (this.inFlight === null) return 0;
    return this.inFlight.kind === 'save' ? plannedRecordCount(this.inFlight.plan) : 1;
  }

  /**
   * Simulates a crash and restart: this instance is dead from now on, and the returned one holds
   * what a restarted node would load.
   */
  crash(options: CrashOptions = {}): MemoryLog {
    this.crashed = true;
    const state = this.state.clone();
    const keep = options.keepInFlightRecords ?? 0;
    if (this.inFlight !== null && keep > 0) {
      if (this.inFlight.kind === 'save') state.applySave(this.inFlight.plan, keep);
      else state.applyCompact(this.inFlight.snapshot);
    }
    this.inFlight = null;
    return new MemoryLog(this.groupId, state);
  }

  private complete(call: InFlight): Promise<void> {
    this.inFlight = call;
    return Promise.resolve().then(() => {
      if (this.crashed) throw new StorageCrashedError(`the node crashed before this ${call.kind} was durable`);
      if (call.kind === 'save') this.state.applySave(call.plan);
      else this.state.applyCompact(call.snapshot);
      this.inFlight = null;
    });
  }

  private checkUsable(operation: string): void {
    if (this.crashed) throw new StorageCrashedError(`${operation}() on a MemoryLog that crashed; use the one crash() returned`);
    if (this.closed) throw new StorageStateError(`${operation}() on a closed MemoryLog`);
    if (this.inFlight !== null) throw new StorageStateError('concurrent calls on one MemoryLog; await each call before the next');
  }
}
