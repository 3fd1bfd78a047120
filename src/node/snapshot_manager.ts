import type { Logger } from 'pino';
import { MessageType } from '../raft/index.js';
import type { Message, SnapshotMetadata } from '../raft/index.js';
import { descriptorOf } from '../storage/snapshot_format.js';
import type { PackableRecords, SnapshotInfo, VisitableRecords } from '../storage/snapshot_format.js';
import { isImageCancelled } from '../state/keyspace_image.js';
import type { ReplicatedStateMachine } from '../state/state_machine.js';
import type { SnapshotReader, SnapshotStore } from '../storage/snapshot_store.js';
import type { IncomingSnapshot, OutgoingSnapshot } from '../transport/snapshot_transfer.js';
import { failpoint, failpointArmed } from './failpoints.js';
import type { GroupSnapshots, RaftGroup } from './raft_group.js';

/** When to take a snapshot, and how much log to keep behind it. */
export interface SnapshotPolicy {
  /** Entries applied since the last snapshot. */
  readonly entries: number;
  /** Payload bytes applied since the last snapshot. */
  readonly bytes: number;
  /** Entries kept in the log behind a snapshot, for followers a little behind. */
  readonly catchupEntries: number;
  /** ... and at most this many bytes of them. */
  readonly catchupBytes: number;
}

export interface SnapshotManagerOptions {
  readonly groupId: string;
  readonly store: SnapshotStore;
  /** What the snapshots are of: imaged to write one, restored to load one. */
  readonly stateMachine: Pick<ReplicatedStateMachine<unknown>, 'beginSnapshot' | 'restore'>;
  readonly policy: SnapshotPolicy;
  readonly sendSnapshot: (peerId: string, snapshot: OutgoingSnapshot) => Promise<void>;
  /** Wall-clock time, only to stamp snapshots (informational). */
  readonly clock: () => number;
  /**
   * Random floats in [0, 1): each snapshot's threshold is the policy's times 1 to 1.5, so that
   * the replicas of a group, which apply the same entries, do not all write their snapshots at
   * the same moment: writing one competes with serving for the CPU, and three at once on shared
   * cores multiply the stall (the figures: docs/performance.md).
   */
  readonly random?: () => number;
  readonly logger: Logger;
}

/**
 * The snapshots of one group: takes them (by policy or on request) without stopping the world,
 * compacts the log behind them, ships them to followers too far behind, receives and installs
 * them, and loads the newest one at start-up.
 *
 * Order that makes crashes safe (see also SnapshotStore and RaftGroup.open): the store is
 * written first and the log only after it (compacted to, or reset to, the snapshot), so the store
 * is never behind the log; a snapshot received from the leader is published in the store before
 * the Raft core sees the MsgSnap.
 *
 * Taking one: the keyspace image is captured between two applies (copy-on-write: O(1) now,
 * mutations afterwards keep a pre-image of what they change) with the dedup table and members,
 * and written in batches that yield to the event loop.
 */
export class SnapshotManager implements GroupSnapshots {
  private group: RaftGroup | null = null;
  private readonly options: SnapshotManagerOptions;
  private appliedEntries = 0;
  private appliedBytes = 0;
  private thresholdScale = 1;
  /** One store write at a time: a snapshot of our own or one received from the leader. */
  private storeBusy: Promise<unknown> = Promise.resolve();
  private taking: Promise<SnapshotInfo> | null = null;
  private triggered = false;
  private readonly shipping = new Set<string>();
  private stopped = false;
  /** Work a snapshot must wait for (see holdSnapshotsUntil). */
  private readonly holds = new Set<Promise<unknown>>();
  /** Counters for INFO and tests. */
  readonly stats = { taken: 0, failed: 0, shipped: 0, installed: 0, lastDurationMs: 0 };

  constructor(options: SnapshotManagerOptions) {
    this.options = options;
    this.restartPolicy();
  }

  /** Starts counting toward the next snapshot (after one was taken or installed). */
  private restartPolicy(): void {
    this.appliedEntries = 0;
    this.appliedBytes = 0;
    this.thresholdScale = 1 + 0.5 * (this.options.random?.() ?? 0);
  }

  /**
   * Loads the newest snapshot in the store into the state (at start-up, before the group opens).
   * Returns its metadata for RaftGroup.open, or null when the store is empty.
   */
  async loadLatest(): Promise<SnapshotInfo | null> {
    const info = this.options.store.latestInfo;
    if (info === null) return null;
    const swap = await this.load(info.index);
    swap();
    return info;
  }

  /** Called once the group is open. */
  attach(group: RaftGroup): void {
    this.group = group;
  }

  /** Whether a snapshot of our own is being written now. */
  get inProgress(): boolean {
    return this.taking !== null;
  }

  /** Payload bytes per chunk of the store (what backups and InstallSnapshot carry). */
  get chunkBytes(): number {
    return this.options.store.chunkBytes;
  }

  /** A reader of the newest snapshot (for backups); the caller closes it. */
  async openLatest(): Promise<SnapshotReader> {
    const reader = await this.options.store.latest();
    if (reader === null) throw new Error(`group ${this.options.groupId} has no snapshot`);
    return reader;
  }

  get latestInfo(): SnapshotInfo | null {
    return this.options.store.latestInfo;
  }

  /** Counts an applied entry toward the policy; takes a snapshot once it says so. */
  noteApplied(payloadBytes: number): void {
    this.appliedEntries++;
    this.appliedBytes += payloadBytes;
    if (this.triggered || this.taking !== null || this.stopped) return;
    const { entries, bytes } = this.options.policy;
    if (this.appliedEntries < entries * this.thresholdScale && this.appliedBytes < bytes * this.thresholdScale) return;
    this.triggered = true;
    // Not from inside apply: the image is captured between two applies, on a turn of its own.
    setImmediate(() => {
      this.triggered = false;
      this.snapshotNow().catch(() => {});
    });
  }

  /**
   * Takes a snapshot of what is applied now (or joins the one under way) and compacts the log
   * behind it. Resolves with the newest snapshot's info.
   */
  snapshotNow(): Promise<SnapshotInfo> {
    if (this.taking === null) {
      this.taking = this.take().finally(() => {
        this.taking = null;
      });
    }
    return this.taking;
  }

  /**
   * Defers every snapshot until `done` settles: a split's new group is written to its own store
   * after the parent applied the split, and the parent's snapshot must not cover the split (so
   * that no replay would make the new group again) before the new group's first snapshot is
   * durable.
   */
  holdSnapshotsUntil(done: Promise<unknown>): void {
    const held = done.catch(() => {}).finally(() => this.holds.delete(held));
    this.holds.add(held);
  }

  /**
   * A snapshot from the leader is refused while snapshots are held: installed, it would replace
   * the log that holds the split a held snapshot waits on, just as a snapshot of our own would
   * cover it (the leader sends it again later).
   */
  private refuseWhileHeld(): void {
    if (this.holds.size > 0) throw new Error(`group ${this.options.groupId} refuses a snapshot from the leader until a split-off group's first snapshot is durable`);
  }

  private async take(): Promise<SnapshotInfo> {
    const group = this.requireGroup();
    while (this.holds.size > 0) await Promise.all([...this.holds]);
    await this.storeBusy.catch(() => {});
    const started = performance.now();
    const index = group.applied;
    const latest = this.options.store.latestInfo;
    if (latest !== null && latest.index >= index) return latest;
    if (index === 0) throw new Error(`group ${this.options.groupId} has applied nothing yet`);
    // The capture: synchronous, between two applies (this is one macrotask).
    const metadata: SnapshotMetadata = { index, term: group.termOf(index), confState: group.confState() };
    const image = this.options.stateMachine.beginSnapshot();
    this.restartPolicy();
    const records = this.failingAtPacks(image.records);
    const write = this.options.store.write({ groupId: this.options.groupId, ...metadata, createdAtMs: this.options.clock() }, records);
    this.storeBusy = write;
    let info: SnapshotInfo;
    try {
      info = await write;
    } catch (err) {
      if (isImageCancelled(err) && !this.stopped) {
        // A split while the image was read (keyspace_image.ts, Cancelling): nothing is wrong; the
        // next capture waits for the new group's first snapshot (holdSnapshotsUntil) and is taken now.
        this.options.logger.info({ component: 'snapshot', group: this.options.groupId, index }, 'snapshot cancelled by a split; taking it again');
        // The finally below releases this image before the new take() captures (it awaits first).
        return this.take();
      }
      this.stats.failed++;
      this.options.logger.warn({ component: 'snapshot', group: this.options.groupId, index, error: (err as Error).message }, 'snapshot failed');
      throw err;
    } finally {
      image.release();
    }
    failpoint('snapshot-after-publish');
    this.stats.taken++;
    this.stats.lastDurationMs = performance.now() - started;
    this.options.logger.info(
      { component: 'snapshot', group: this.options.groupId, index, keys: info.recordCount, bytes: info.payloadBytes, ms: Math.round(this.stats.lastDurationMs) },
      'snapshot taken',
    );
    if (!this.stopped) await group.compactLog(metadata, this.options.policy.catchupEntries, this.options.policy.catchupBytes).catch(() => {});
    return info;
  }

  /**
   * Sends the newest snapshot to a follower the leader's log no longer reaches (the core asked
   * with a MsgSnap, which carries only metadata). One transfer per follower at a time; the core
   * hears how it ended (reportSnapshot) and probes again.
   */
  ship(message: Message): void {
    if (message.type !== MessageType.MsgSnap || this.shipping.has(message.to) || this.stopped) return;
    const group = this.requireGroup();
    this.shipping.add(message.to);
    void (async () => {
      let failed = true;
      const reader = await this.options.store.latest().catch(() => null);
      try {
        if (reader === null) throw new Error('no snapshot in the store');
        const { info } = reader;
        // The newest snapshot may be newer than the one the core named: ship what the store has.
        const snapshotMessage: Message = {
          ...message,
          snapshot: { metadata: { index: info.index, term: info.term, confState: info.confState }, data: new Uint8Array(0) },
        };
        await this.options.sendSnapshot(message.to, { groupId: this.options.groupId, message: snapshotMessage, info, chunks: reader.chunks() });
        failed = false;
        this.stats.shipped++;
        this.options.logger.info({ component: 'snapshot', group: this.options.groupId, to: message.to, index: info.index }, 'snapshot sent');
      } catch (err) {
        this.options.logger.warn({ component: 'snapshot', group: this.options.groupId, to: message.to, error: (err as Error).message }, 'sending a snapshot failed');
      } finally {
        await reader?.close().catch(() => {});
        this.shipping.delete(message.to);
        group.reportSnapshot(message.to, failed);
      }
    })();
  }

  /**
   * A snapshot from the leader: written to the store as it arrives (each chunk checked), published
   * once complete, and only then handed to the core. Rejects (the leader retries later) if it is
   * malformed, cut short, or not newer than what the store holds.
   */
  async receive(incoming: IncomingSnapshot): Promise<void> {
    const group = this.requireGroup();
    const meta = incoming.message.snapshot?.metadata;
    if (incoming.groupId !== this.options.groupId || incoming.message.type !== MessageType.MsgSnap || !meta) {
      throw new Error(`not a snapshot of group ${this.options.groupId}`);
    }
    if (meta.index !== incoming.info.index || meta.term !== incoming.info.term) {
      throw new Error(`snapshot message (index ${meta.index}) and image (index ${incoming.info.index}) disagree`);
    }
    this.refuseWhileHeld();
    const write = this.storeBusy.catch(() => {}).then(async () => {
      this.refuseWhileHeld();
      const latest = this.options.store.latestInfo;
      if (latest !== null && latest.index >= incoming.info.index) return; // already have it (or newer)
      const writer = this.options.store.begin(descriptorOf(incoming.info));
      try {
        for await (const chunk of incoming.chunks) {
          failpoint('install-chunk');
          await writer.writeChunk(chunk);
        }
        this.refuseWhileHeld();
        await writer.finish(incoming.info);
      } catch (err) {
        await writer.abort();
        throw err;
      }
    });
    this.storeBusy = write;
    await write;
    failpoint('install-after-publish');
    group.step(incoming.message);
  }

  /** GroupSnapshots: the core adopted a snapshot from the leader; load it from the store. */
  async install(metadata: SnapshotMetadata): Promise<() => void> {
    const swap = await this.load(metadata.index);
    return () => {
      swap();
      this.restartPolicy();
      this.stats.installed++;
    };
  }

  /** Decodes the stored snapshot at `index` into fresh containers; the swap puts them in place. */
  private async load(index: number): Promise<() => void> {
    const reader = await this.options.store.openReader(index);
    try {
      return await this.options.stateMachine.restore(this.failingAtVisits(reader));
    } finally {
      await reader.close().catch(() => {});
    }
  }

  stop(): Promise<unknown> {
    this.stopped = true;
    return this.storeBusy.catch(() => {});
  }

  private requireGroup(): RaftGroup {
    if (this.group === null) throw new Error('snapshot manager used before its group opened');
    return this.group;
  }

  /** Passes visited records through, hitting the failpoint every so often (for the crash tests). */
  private failingAtVisits(records: VisitableRecords): VisitableRecords {
    if (!failpointArmed('install-load')) return records;
    return {
      visitRecords: (visit) => {
        let n = 0;
        return records.visitRecords((bytes, start, end) => {
          if (n++ % 1000 === 0) failpoint('install-load');
          visit(bytes, start, end);
        });
      },
    };
  }

  /** Passes packing slices through, hitting the failpoint before each (for the crash tests). */
  private failingAtPacks(records: PackableRecords): PackableRecords {
    if (!failpointArmed('snapshot-write-batch')) return records;
    return {
      packInto: (packer, budgetBytes) => {
        failpoint('snapshot-write-batch');
        return records.packInto(packer, budgetBytes);
      },
    };
  }
}
