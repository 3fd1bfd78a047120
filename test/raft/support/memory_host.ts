/**
 * The in-memory host that the Raft tests run RawNodes in: one group member with a simulated disk,
 * the Ready phases a real host goes through, and a state machine that records what it applied.
 * The fault simulation (sim/cluster.ts) and the scenario scripts (scenarios/interpreter.ts) each
 * put their own network and safety checks around it.
 *
 * A Ready is handled in two phases, as src/node does:
 *
 *   takeReady()     the caller sends rd.messages at once (they do not wait for the disk);
 *   finishReady()   persist (disk, then the MemoryStorage the core reads), let persistedMessages
 *                   leave, apply the snapshot and committed entries, serve the reads, advance.
 *
 * Between the two the Ready is `pending`. A crash drops it: the disk holds exactly what earlier
 * Readies persisted, and a restarted node is rebuilt from the disk alone, so a crash loses what
 * a real one would.
 */
import {
  EntryType,
  MemoryStorage,
  MessageType,
  ProposalDroppedError,
  RawNode,
  decodeConfChange,
  emptyHardState,
} from '../../../src/raft/index.js';
import type { ConfChange, ConfState, Entry, HardState, Message, RaftConfig, ReadState, Ready, Snapshot } from '../../../src/raft/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A broken safety property (or host rule): the run is wrong, whatever else it did. */
export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

/** What survives a crash: exactly what a Ready's persist step wrote. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export function emptyDisk(): Disk {
  return { hardState: emptyHardState, snapshot: null, entries: [] };
}

/** A disk holding a new group's first log (bootstrapLog's entries and hard state). */
export function bootstrappedDisk(boot: { entries: readonly Entry[]; hardState: HardState }): Disk {
  return { hardState: boot.hardState, snapshot: null, entries: [...boot.entries] };
}

/** The disk's last index: its last entry, or its snapshot's index when it holds no entries. */
export function diskLastIndex(disk: Disk): number {
  const last = disk.entries[disk.entries.length - 1];
  return last ? last.index : (disk.snapshot?.metadata.index ?? 0);
}

/** FNV-1a: a stable per-node seed from a name. */
export function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/**
 * How a harness sets up its nodes: the core's configuration (everything but the storage) and
 * the key a state machine records for an applied entry. Snapshots carry the applied keys, so two
 * nodes' state machines compare key by key, whether they applied entries or a snapshot.
 */
export interface MemoryHostOptions {
  raftConfig(id: string, incarnation: number, applied: number): RaftConfig;
  keyOf(e: Entry): string;
}

/** What a harness does at each step of finishing a Ready (its network and its checks). */
export interface ReadyHandler<N extends MemoryNode = MemoryNode> {
  /** The Ready's hard state, snapshot and entries are on disk; `persistedMessages` may leave. */
  persisted(node: N, rd: Ready): void;
  /** `key` is about to be applied at `index` (from an entry or from a snapshot). */
  applying(node: N, index: number, key: string): void;
  appliedSnapshot?(node: N, snap: Snapshot): void;
  appliedEntry?(node: N, e: Entry, key: string): void;
  /** A membership change was applied; `confState` is the configuration it led to. */
  appliedConfChange?(node: N, cc: ConfChange, confState: ConfState): void;
  readState(node: N, rs: ReadState): void;
  /** After advance(rd). */
  advanced?(node: N, rd: Ready): void;
}

export class MemoryNode {
  readonly storage = new MemoryStorage();
  readonly raw: RawNode;
  up = true;
  /** A Ready taken and not yet finished (persisted, applied, advanced). */
  pending: Ready | null = null;
  /** The state machine: applied[i] is the key of the entry applied at index i (index 0 unused). */
  applied: string[] = [''];
  appliedIndex = 0;
  /** Highest commit index of this node the harness has already recorded (for its checks). */
  recordedCommit = 0;

  /** Starts a node from `disk`, as a host does at start-up (the disk is shared, not copied). */
  constructor(
    readonly id: string,
    readonly disk: Disk,
    readonly incarnation: number,
    protected readonly options: MemoryHostOptions,
  ) {
    if (disk.snapshot) {
      this.storage.applySnapshot(disk.snapshot);
      this.applied = decodeAppliedKeys(disk.snapshot);
      this.appliedIndex = disk.snapshot.metadata.index;
    }
    this.storage.setHardState(disk.hardState);
    this.storage.append(disk.entries);
    this.raw = new RawNode(options.raftConfig(id, incarnation, this.appliedIndex), this.storage);
  }

  /** Phase 1: takes a Ready (null when there is none, or one is pending); send its `messages`. */
  takeReady(): Ready | null {
    if (!this.up || this.pending || !this.raw.hasReady()) return null;
    this.pending = this.raw.ready();
    return this.pending;
  }

  /** Phase 2 for the pending Ready, if any; returns whether there was one. */
  finishPending(handler: ReadyHandler<this>): boolean {
    const rd = this.pending;
    if (!this.up || !rd) return false;
    this.pending = null;
    this.finishReady(rd, handler);
    return true;
  }

  /** Persists, lets persistedMessages leave, applies, serves reads, advances. */
  private finishReady(rd: Ready, handler: ReadyHandler<this>): void {
    this.persist(rd);
    handler.persisted(this, rd);
    if (rd.snapshot) this.applySnapshot(rd.snapshot, handler);
    for (const e of rd.committedEntries) this.applyEntry(e, handler);
    for (const rs of rd.readStates) handler.readState(this, rs);
    this.raw.advance(rd);
    handler.advanced?.(this, rd);
  }

  /** Writes the Ready's snapshot, entries and hard state to the disk, then to the storage. */
  private persist(rd: Ready): void {
    const disk = this.disk;
    if (rd.snapshot) {
      disk.snapshot = rd.snapshot;
      disk.entries = [];
      this.storage.applySnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      disk.entries = disk.entries.filter((e) => e.index < first);
      for (const e of rd.entries) disk.entries.push(e);
      this.storage.append(rd.entries);
    }
    if (rd.hardState) {
      disk.hardState = rd.hardState;
      this.storage.setHardState(rd.hardState);
    }
  }

  private applySnapshot(snap: Snapshot, handler: ReadyHandler<this>): void {
    const keys = decodeAppliedKeys(snap);
    for (let i = 1; i < keys.length; i++) handler.applying(this, i, keys[i]);
    this.applied = keys;
    this.appliedIndex = snap.metadata.index;
    handler.appliedSnapshot?.(this, snap);
  }

  private applyEntry(e: Entry, handler: ReadyHandler<this>): void {
    if (e.index !== this.appliedIndex + 1) {
      throw new SafetyViolation(`${this.id} applied index ${e.index} after ${this.appliedIndex}: gap or repeat`);
    }
    const key = this.options.keyOf(e);
    handler.applying(this, e.index, key);
    this.applied[e.index] = key;
    this.appliedIndex = e.index;
    handler.appliedEntry?.(this, e, key);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const confState = this.raw.applyConfChange(cc);
      handler.appliedConfChange?.(this, cc, confState);
    }
  }

  /** The process dies: whatever the pending Ready held and the disk does not is lost. */
  crash(): void {
    this.up = false;
    this.pending = null;
  }

  /**
   * Snapshots the applied state at the applied index and drops the log up to it, on the disk and
   * in the storage. The caller decides when that is allowed (not with a Ready pending).
   */
  compact(): Snapshot {
    const index = this.appliedIndex;
    const data = enc.encode(JSON.stringify(this.applied.slice(0, index + 1)));
    const snap = this.storage.createSnapshot(index, this.raw.basicStatus().config, data);
    this.storage.compact(index);
    this.disk.snapshot = snap;
    this.disk.entries = this.disk.entries.filter((e) => e.index > index);
    return snap;
  }

  /**
   * Hands a message from the network to the core. A proposal forwarded to a node that cannot
   * take it is refused as it would be on a real node: returned, not thrown.
   */
  deliver(m: Message): ProposalDroppedError | null {
    try {
      this.raw.step(m);
      return null;
    } catch (err) {
      if (err instanceof ProposalDroppedError) return err;
      throw err;
    }
  }
}

/**
 * Tells the sender of a MsgSnap whether it got through, as a host's transport does once the
 * transfer finished or failed; the leader then probes the follower again or retries.
 */
export function reportSnapshotOutcome(sender: MemoryNode | undefined, m: Message, delivered: boolean): void {
  if (m.type !== MessageType.MsgSnap || !sender?.up) return;
  sender.raw.reportSnapshot(m.to, !delivered);
}

function decodeAppliedKeys(snap: Snapshot): string[] {
  return JSON.parse(dec.decode(snap.data)) as string[];
}
