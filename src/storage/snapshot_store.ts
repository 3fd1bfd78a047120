import { mkdir } from 'node:fs/promises';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { Level } from 'level';
import type { Iterator } from 'level';
import type { StorageLogger } from './file_log.js';
import {
  SnapshotCorruptError,
  SnapshotError,
  SnapshotGroupMismatchError,
  SnapshotIoError,
  SnapshotNotFoundError,
  SnapshotOutOfDateError,
  SnapshotStateError,
} from './snapshot_errors.js';
import {
  ChunkPacker,
  FieldReader,
  FieldWriter,
  RecordUnpacker,
  SnapshotFormatError,
  TotalsAccumulator,
  asBuffer,
  checkChunkBytes,
  defaultChunkBytes,
  descriptorOf,
  feedRecords,
  isPackableRecords,
  openChunk,
  readDescriptor,
  readTotals,
  totalsMismatch,
  writeDescriptor,
  writeTotals,
  yieldEveryBytes,
} from './snapshot_format.js';
import type { PackableRecords, RecordVisitor, SnapshotDescriptor, SnapshotInfo, SnapshotTotals } from './snapshot_format.js';

/** What a snapshot write takes: record Buffers, or records that pack themselves (packedStateImage). */
export type SnapshotRecords = Iterable<Uint8Array> | AsyncIterable<Uint8Array> | PackableRecords;

/**
 * The snapshots of one group, in a LevelDB database of their own (one directory per group).
 *
 * API
 *
 *   const store = await SnapshotStore.open({ dir, groupId });     // cleans up unfinished writes
 *   store.latestInfo                                              // SnapshotInfo | null, no I/O
 *
 *   // Taking a snapshot: the caller begins a point-in-time iterable first (Keyspace.beginSnapshot(),
 *   // O(1), a copy-on-write image that stays consistent while applies go on; the synchronous
 *   // Keyspace.snapshot() blocks for a time proportional to the keyspace),
 *   // then the store writes it in batches, yielding between them.
 *   const info = await store.write(descriptor, records);          // Iterable | AsyncIterable<Uint8Array>,
 *                                                                 // or PackableRecords (packedStateImage)
 *
 *   // Loading: stream, verify, and only then use (see snapshot_image.ts for the keyspace side).
 *   const reader = await store.latest();                          // SnapshotReader | null
 *   for await (const record of reader.records()) ...              // throws SnapshotCorruptError
 *                                                                 // before it ends if anything is off
 *   await reader.visitRecords((bytes, start, end) => ...);        // the same, one promise per chunk
 *   // InstallSnapshot, leader side: the stored chunks, as they are, at most chunkBytes + 8 each.
 *   const reader = await store.openReader(index);                 // send reader.info first, then
 *   for await (const chunk of reader.chunks()) send(chunk);
 *   // follower side:
 *   const writer = store.begin(descriptorOf(info));
 *   await writer.writeChunk(chunk) ...;                           // each checked as it arrives
 *   await writer.finish(info);                                    // totals must match, or nothing is published
 *   // or writer.abort() when the stream breaks off.
 *
 * Keys and values (integers in keys big-endian so that keys sort by number):
 *
 *   key                                       value
 *   0x01                                      HEAD  crc32 u32 | version u8 | groupId str16 | count u8 | id u32 ×count
 *                                                   (the published snapshots, newest first)
 *   0x02 | id u32 BE | 0x00                   META  crc32 u32 | descriptor | totals   (snapshot_format.ts)
 *   0x02 | id u32 BE | 0x01 | seq u32 BE      CHUNK as snapshot_format.ts describes (it carries its own crc32)
 *
 * Crash safety. A write stages its chunks under a fresh id that HEAD does not name, in batches of
 * about `batchBytes` (not synced: they only matter once published). The last batch holds the
 * remaining chunks, the META and the new HEAD, and is written with `sync: true`. A LevelDB batch
 * is atomic (one write-ahead-log record with a checksum; a torn record is dropped on recovery)
 * and a synced write makes every earlier write durable (the log is sequential). So whenever the
 * process dies, HEAD names either the old snapshots, all complete, or the new one, complete.
 * Anything under an id HEAD does not name is garbage from an unfinished write or from a deletion
 * a crash interrupted; `open()` deletes it, and the next id is above every id it saw. Old
 * snapshots are deleted only after the new HEAD is durable. Readers pin what they read: a
 * reader's LevelDB iterator reads from the implicit snapshot taken when it was opened, so a
 * snapshot deleted while it is being streamed to a follower stays readable to that stream.
 *
 * Verification. Every value carries a crc32. `open()` checks HEAD and every META it names; the
 * chunks are checked as they are read, and the totals at the end of the stream, so a corrupt
 * snapshot is a SnapshotCorruptError before a reader's iteration ends. Nothing here reads a clock.
 *
 * Not stopping the world. A writer packs at most yieldEveryBytes of records between two event-loop
 * turns and hands LevelDB one batch per ~1 MiB (its work runs off the main thread); the chunks of
 * a written batch are filled again (ChunkPacker.recycle), so a write allocates a few chunks, not
 * one per 256 KiB. The capture is the
 * caller's: it must be a point-in-time iterable taken between two applies (a KeyspaceImage is one
 * however long the write takes).
 *
 * What the host must keep in order (the wiring's part of crash safety):
 *   - publish here first, then record the snapshot in the Raft log (compact / install marker), and
 *     only then drop log entries it covers: a crash in between leaves a store snapshot at least as
 *     new as the log's, and entries up to it are simply superseded on replay;
 *   - on start, load `latestInfo` if its index is at least the log's snapshot index.
 */

export interface SnapshotStoreOptions {
  readonly dir: string;
  readonly groupId: string;
  /** Payload bytes of every chunk but the last (the InstallSnapshot unit). */
  readonly chunkBytes?: number;
  /** Chunks are written in LevelDB batches of about this many bytes. */
  readonly batchBytes?: number;
  /** How many published snapshots to keep: 1 (the latest) or 2 (also the one before). */
  readonly retain?: 1 | 2;
  readonly logger?: StorageLogger;
  /** Failpoints for crash tests. */
  readonly hooks?: SnapshotStoreHooks;
}

export const defaultBatchBytes = 1024 * 1024;

/** Where a write is when a hook runs: before LevelDB batch number `batch` (from 0) of snapshot `snapshotId`. */
export interface BatchPoint {
  readonly snapshotId: number;
  readonly batch: number;
  /** The publishing batch (remaining chunks, META, HEAD; synced). */
  readonly final: boolean;
}

/**
 * Test failpoints. A hook that throws stops the write right there, as a crash would: a test then
 * closes the store without aborting the writer and reopens it.
 */
export interface SnapshotStoreHooks {
  beforeBatch?(point: BatchPoint): void | Promise<void>;
  /** After HEAD names the new snapshot, before older ones are deleted. */
  afterPublish?(info: SnapshotInfo): void | Promise<void>;
}

/**
 * One retained snapshot, opened for a single pass: `records()` or `chunks()`, not both.
 * Either iteration checks every chunk before anything from it is yielded and the totals before it
 * ends, throwing SnapshotCorruptError; a consumer commits what it built only once the iteration
 * has ended normally. Breaking out of the loop, or `close()`, releases the reader.
 */
export interface SnapshotReader {
  readonly info: SnapshotInfo;
  /** The records, in order. A record is a view into a chunk: copy what you keep. */
  records(): AsyncGenerator<Buffer, void, undefined>;
  /**
   * The records, in order, without a promise or a Buffer per record (VisitableRecords): the way
   * to load a large snapshot. Resolves once the stream has ended and verified.
   */
  visitRecords(visit: RecordVisitor): Promise<void>;
  /** The stored chunks, as `SnapshotWriter.writeChunk` on another node takes them. */
  chunks(): AsyncGenerator<Buffer, void, undefined>;
  close(): Promise<void>;
}

/**
 * A snapshot being written. Feed it either records (a local snapshot) or chunks (one received
 * from a peer or read from a backup), not both, then `finish()` to publish or `abort()` to drop
 * it. Calls must not overlap. After any error only `abort()` is useful.
 */
export interface SnapshotWriter {
  readonly descriptor: SnapshotDescriptor;
  /** Packs records into chunks and writes them in batches, yielding to the event loop as it goes. */
  writeRecords(records: SnapshotRecords): Promise<void>;
  /** Takes the next chunk of a stream made by `SnapshotReader.chunks()`; checks it first. */
  writeChunk(chunk: Uint8Array): Promise<void>;
  /**
   * Publishes the snapshot (one synced batch) and deletes the ones no longer retained. With
   * `expected` (the sender's totals), a stream that does not add up is a SnapshotCorruptError and
   * nothing is published.
   */
  finish(expected?: SnapshotTotals): Promise<SnapshotInfo>;
  /** Drops what was staged. Harmless after finish() or a failure. */
  abort(): Promise<void>;
}

type Db = Level<Buffer, Buffer>;
const bufferEncoding = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

const headVersion = 1;
const headKey = Buffer.from([0x01]);
const snapshotPrefixByte = 0x02;
const metaPart = 0x00;
const chunkPart = 0x01;

function snapshotPrefix(id: number): Buffer {
  const key = Buffer.allocUnsafe(5);
  key[0] = snapshotPrefixByte;
  key.writeUInt32BE(id, 1);
  return key;
}

function metaKey(id: number): Buffer {
  return Buffer.concat([snapshotPrefix(id), Buffer.from([metaPart])]);
}

function chunkKey(id: number, seq: number): Buffer {
  const key = Buffer.allocUnsafe(10);
  key[0] = snapshotPrefixByte;
  key.writeUInt32BE(id, 1);
  key[5] = chunkPart;
  key.writeUInt32BE(seq, 6);
  return key;
}

/** Every key of snapshot `id`. */
function snapshotRange(id: number): { gte: Buffer; lt: Buffer } {
  return { gte: snapshotPrefix(id), lt: snapshotPrefix(id + 1) };
}

/** A small value with its crc32 in front. */
function sealValue(body: Buffer): Buffer {
  const value = Buffer.allocUnsafe(4 + body.length);
  value.writeUInt32LE(crc32(body), 0);
  body.copy(value, 4);
  return value;
}

function openValue(value: Buffer, what: string): FieldReader {
  if (value.length < 4 || crc32(value.subarray(4)) !== value.readUInt32LE(0)) throw new SnapshotFormatError(`${what} fails its checksum`);
  return new FieldReader(value, 4);
}

function encodeHead(groupId: string, ids: readonly number[]): Buffer {
  const w = new FieldWriter().u8(headVersion).str16(groupId).u8(ids.length);
  for (const id of ids) w.u32(id);
  return sealValue(w.toBuffer());
}

function decodeHead(value: Buffer): { groupId: string; ids: number[] } {
  const r = openValue(value, 'HEAD');
  const version = r.u8();
  if (version !== headVersion) throw new SnapshotFormatError(`unsupported HEAD version ${version}`);
  const groupId = r.str16();
  const ids: number[] = [];
  for (let n = r.u8(); n > 0; n--) ids.push(r.u32());
  r.expectEnd('HEAD');
  return { groupId, ids };
}

function encodeMeta(info: SnapshotInfo): Buffer {
  return sealValue(writeTotals(writeDescriptor(new FieldWriter(), info), info).toBuffer());
}

function decodeMeta(value: Buffer, id: number): SnapshotInfo {
  const r = openValue(value, `META of snapshot ${id}`);
  const info = { ...readDescriptor(r), ...readTotals(r) };
  r.expectEnd(`META of snapshot ${id}`);
  return info;
}

function levelCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/** A LevelDB failure as a snapshot error: its own corruption reports are corruption. */
function wrapLevelError(err: unknown, doing: string, outcome: 'fail' | 'unknown'): SnapshotError {
  if (err instanceof SnapshotError) return err;
  if (levelCode(err) === 'LEVEL_CORRUPTION') return new SnapshotCorruptError(`LevelDB reports corruption while ${doing}: ${(err as Error).message}`, err);
  return new SnapshotIoError(`LevelDB failed while ${doing}: ${(err as Error).message}`, err, outcome);
}

interface Retained {
  readonly id: number;
  readonly info: SnapshotInfo;
  /** The META value as stored; a reader checks that its pinned view holds the same. */
  readonly meta: Buffer;
}

interface PublishPlan {
  readonly meta: Buffer;
  readonly head: Buffer;
  readonly retained: Retained[];
  readonly dropped: Retained[];
}

/** What a writer may see and do of its store. */
interface WriterHost {
  readonly db: Db;
  readonly chunkBytes: number;
  readonly batchBytes: number;
  readonly hooks: SnapshotStoreHooks;
  checkUsable(): void;
  planPublish(id: number, info: SnapshotInfo): PublishPlan;
  /** The publishing batch landed: `retained` is now what HEAD names. */
  published(retained: Retained[]): void;
  /** The writer is finished with, one way or another; a failure of outcome `unknown` fails the store. */
  done(writer: StoreWriter, failure?: SnapshotError): void;
  deleteSnapshots(dropped: readonly Retained[]): Promise<void>;
}

export class SnapshotStore {
  private retained: Retained[];
  private nextId: number;
  private activeWriter: StoreWriter | null = null;
  private failure: SnapshotError | null = null;
  private closed = false;
  readonly chunkBytes: number;
  readonly batchBytes: number;
  readonly retain: number;

  private constructor(
    private readonly db: Db,
    readonly dir: string,
    readonly groupId: string,
    retained: Retained[],
    nextId: number,
    private readonly options: SnapshotStoreOptions,
  ) {
    this.retained = retained;
    this.nextId = nextId;
    this.chunkBytes = options.chunkBytes ?? defaultChunkBytes;
    this.batchBytes = options.batchBytes ?? defaultBatchBytes;
    this.retain = options.retain ?? 2;
  }

  /**
   * Opens (creating if needed) the store in `dir`: checks HEAD and the METAs it names, and deletes
   * whatever belongs to no published snapshot. Throws SnapshotGroupMismatchError for another
   * group's directory and SnapshotCorruptError when HEAD or a META is damaged.
   */
  static async open(options: SnapshotStoreOptions): Promise<SnapshotStore> {
    if (options.retain !== undefined && options.retain !== 1 && options.retain !== 2) throw new RangeError(`retain must be 1 or 2, not ${options.retain}`);
    checkChunkBytes(options.chunkBytes ?? defaultChunkBytes);
    await mkdir(options.dir, { recursive: true });
    const db: Db = new Level<Buffer, Buffer>(options.dir, bufferEncoding);
    try {
      await db.open();
      const retained: Retained[] = [];
      const headValue = await db.get(headKey);
      if (headValue !== undefined) {
        const head = decodeOrCorrupt(() => decodeHead(headValue), `snapshot store ${options.dir}`);
        if (head.groupId !== options.groupId) throw new SnapshotGroupMismatchError(options.groupId, head.groupId, `snapshot store ${options.dir}`);
        for (const id of head.ids) {
          const meta = await db.get(metaKey(id));
          if (meta === undefined) throw new SnapshotCorruptError(`snapshot store ${options.dir}: HEAD names snapshot ${id}, which has no META`);
          retained.push({ id, meta, info: decodeOrCorrupt(() => decodeMeta(meta, id), `snapshot store ${options.dir}`) });
        }
      }
      const maxId = await removeUnpublished(db, new Set(retained.map((r) => r.id)), options.logger);
      const nextId = Math.max(maxId, ...retained.map((r) => r.id)) + 1;
      return new SnapshotStore(db, options.dir, options.groupId, retained, nextId, options);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw wrapLevelError(err, `opening ${options.dir}`, 'fail');
    }
  }

  /** The newest published snapshot, or null. */
  get latestInfo(): SnapshotInfo | null {
    return this.retained[0]?.info ?? null;
  }

  /** The retained snapshots, newest first. */
  list(): SnapshotInfo[] {
    return this.retained.map((r) => r.info);
  }

  /** A reader of the newest snapshot, or null when there is none. */
  async latest(): Promise<SnapshotReader | null> {
    const newest = this.retained[0];
    return newest === undefined ? null : this.openReader(newest.info.index);
  }

  /** A reader of the retained snapshot at `index` (the newest one if two share it). */
  async openReader(index: number): Promise<SnapshotReader> {
    this.checkUsable();
    const target = this.retained.find((r) => r.info.index === index);
    if (target === undefined) throw new SnapshotNotFoundError(index);
    // Created before any await: the iterator pins the database as it is now.
    const iterator: LevelIterator = this.db.iterator({ ...snapshotRange(target.id), fillCache: false });
    return new StoredSnapshotReader(iterator, target, `snapshot ${target.id} (index ${index}) of group ${this.groupId} in ${this.dir}`);
  }

  /**
   * Starts a snapshot. Only one writer at a time; a descriptor of another group, or older than the
   * newest snapshot, is refused.
   */
  begin(descriptor: SnapshotDescriptor): SnapshotWriter {
    this.checkUsable();
    if (this.activeWriter !== null) throw new SnapshotStateError(`a snapshot write (index ${this.activeWriter.descriptor.index}) is already under way`);
    if (descriptor.groupId !== this.groupId) throw new SnapshotGroupMismatchError(this.groupId, descriptor.groupId, 'snapshot descriptor');
    const newest = this.latestInfo;
    if (newest !== null && descriptor.index < newest.index) throw new SnapshotOutOfDateError(descriptor.index, newest.index);
    const host: WriterHost = {
      db: this.db,
      chunkBytes: this.chunkBytes,
      batchBytes: this.batchBytes,
      hooks: this.options.hooks ?? {},
      checkUsable: () => this.checkUsable(),
      planPublish: (id, info) => this.planPublish(id, info),
      published: (retained) => {
        this.retained = retained;
      },
      done: (w, failure) => {
        if (this.activeWriter === w) this.activeWriter = null;
        if (failure !== undefined && failure.outcome === 'unknown') this.failure = failure;
      },
      deleteSnapshots: (ids) => this.deleteSnapshots(ids),
    };
    const writer = new StoreWriter(host, this.nextId++, descriptorOf(descriptor));
    this.activeWriter = writer;
    return writer;
  }

  /** begin + writeRecords + finish; aborts on failure. */
  async write(descriptor: SnapshotDescriptor, records: SnapshotRecords): Promise<SnapshotInfo> {
    const writer = this.begin(descriptor);
    try {
      await writer.writeRecords(records);
      return await writer.finish();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** Closes the database. A writer still open is abandoned: what it staged is deleted at the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.activeWriter = null;
    await this.db.close();
  }

  private checkUsable(): void {
    if (this.closed) throw new SnapshotStateError(`snapshot store ${this.dir} is closed`);
    if (this.failure !== null) throw new SnapshotStateError(`snapshot store ${this.dir} failed (${this.failure.message}); reopen it`, this.failure);
  }

  /** What the publishing batch writes for `info` under `id` (META, HEAD), and the snapshots that fall out. */
  private planPublish(id: number, info: SnapshotInfo): PublishPlan {
    const meta = encodeMeta(info);
    const retained = [{ id, info, meta }, ...this.retained.slice(0, this.retain - 1)];
    const dropped = this.retained.filter((r) => !retained.includes(r));
    return { meta, head: encodeHead(this.groupId, retained.map((r) => r.id)), retained, dropped };
  }

  /**
   * Deletes dropped snapshots by naming their keys (META and chunks 0..chunkCount-1, all a
   * published snapshot has): one unsynced batch of ~500 tombstones for a 1M-key snapshot. A range
   * clear would read every chunk back from disk to find the keys (LevelDB iterates values with
   * them), ~130 MB per snapshot competing with the Raft log's fsyncs. Failures, or a crash before
   * the batch is durable, only leave garbage that the next open removes.
   */
  private async deleteSnapshots(dropped: readonly Retained[]): Promise<void> {
    for (const { id, info } of dropped) {
      const ops: { type: 'del'; key: Buffer }[] = [{ type: 'del', key: metaKey(id) }];
      for (let seq = 0; seq < info.chunkCount; seq++) ops.push({ type: 'del', key: chunkKey(id, seq) });
      try {
        await this.db.batch(ops, { sync: false });
      } catch (err) {
        this.options.logger?.warn({ dir: this.dir, snapshotId: id, err }, 'could not delete an old snapshot; the next open will');
      }
    }
  }
}

function decodeOrCorrupt<T>(decode: () => T, where: string): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof SnapshotFormatError || err instanceof RangeError) throw new SnapshotCorruptError(`${where}: ${err.message}`, err);
    throw err;
  }
}

/**
 * Deletes every snapshot id not in `keep` and returns the highest id seen. Visits one key per id
 * (a seek past each id), not every chunk.
 */
async function removeUnpublished(db: Db, keep: ReadonlySet<number>, logger: StorageLogger | undefined): Promise<number> {
  const garbage: number[] = [];
  let maxId = 0;
  const keys = db.keys({ gte: snapshotPrefix(0), lt: Buffer.from([snapshotPrefixByte + 1]), fillCache: false });
  try {
    for (let key = await keys.next(); key !== undefined; key = await keys.next()) {
      if (key.length < 5) {
        // Not a key this store writes: drop it and look just past it.
        await db.del(key);
        keys.seek(Buffer.concat([key, Buffer.from([0])]));
        continue;
      }
      const id = key.readUInt32BE(1);
      maxId = Math.max(maxId, id);
      if (!keep.has(id)) garbage.push(id);
      if (id === 0xffffffff) break;
      keys.seek(snapshotPrefix(id + 1));
    }
  } finally {
    await keys.close();
  }
  for (const id of garbage) {
    logger?.info({ dir: db.location, snapshotId: id }, 'removing an unfinished or superseded snapshot');
    await db.clear(snapshotRange(id));
  }
  return maxId;
}

type WriterState = 'open' | 'publishing' | 'published' | 'failed' | 'aborted';

class StoreWriter implements SnapshotWriter {
  private state: WriterState = 'open';
  private busy = false;
  private mode: 'records' | 'chunks' | null = null;
  private readonly packer: ChunkPacker;
  /** Chunk mode: the checks and totals of received chunks. */
  private readonly unpacker = new RecordUnpacker();
  private readonly received = new TotalsAccumulator();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextSeq = 0;
  private batch = 0;
  /** The publishing batch was attempted: from then on nothing staged may be deleted here. */
  private publishAttempted = false;

  /** The call under way, so that abort() can wait for it. */
  private current: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: WriterHost,
    readonly snapshotId: number,
    readonly descriptor: SnapshotDescriptor,
  ) {
    this.packer = new ChunkPacker(host.chunkBytes);
  }

  async writeRecords(records: SnapshotRecords): Promise<void> {
    await this.run('writeRecords', 'records', async () => {
      let sinceYield = 0;
      /** Adds a record; true when it is time to hand the event loop a turn (and a batch to LevelDB if one is ready). */
      const add = (record: Uint8Array): boolean => {
        this.packer.add(record);
        sinceYield += record.length + 4;
        return sinceYield >= yieldEveryBytes || this.packer.pendingBytes >= this.host.batchBytes;
      };
      const pause = async (): Promise<void> => {
        this.stopIfAborted();
        sinceYield = 0;
        if (this.packer.pendingBytes >= this.host.batchBytes) {
          const chunks = this.packer.take();
          await this.flush(chunks);
          this.packer.recycle(chunks); // written: LevelDB holds its own copy
        } else {
          await nextMacrotask();
        }
      };
      if (!isPackableRecords(records)) {
        await feedRecords(records, add, pause);
        return;
      }
      // Packed in place: one slice of about yieldEveryBytes per event-loop turn.
      while (records.packInto(this.packer, yieldEveryBytes) === 'more') await pause();
    });
  }

  async writeChunk(chunk: Uint8Array): Promise<void> {
    await this.run('writeChunk', 'chunks', async () => {
      const copy = Buffer.from(chunk); // the caller may reuse its buffer before the batch is written
      let payload: Buffer;
      try {
        payload = openChunk(copy, this.nextSeq);
        this.unpacker.skip(payload);
      } catch (err) {
        throw new SnapshotCorruptError(`received snapshot at index ${this.descriptor.index}: ${(err as Error).message}`, err);
      }
      this.received.addChunk(copy);
      this.nextSeq++;
      this.pending.push(copy);
      this.pendingBytes += copy.length;
      if (this.pendingBytes >= this.host.batchBytes) await this.flush(this.takePending());
    });
  }

  async finish(expected?: SnapshotTotals): Promise<SnapshotInfo> {
    let dropped: Retained[] = [];
    const info = await this.run('finish', null, async () => {
      let chunks: Buffer[];
      let totals: SnapshotTotals;
      if (this.mode === 'chunks') {
        try {
          this.unpacker.end();
        } catch (err) {
          throw new SnapshotCorruptError(`received snapshot at index ${this.descriptor.index}: ${(err as Error).message}`, err);
        }
        this.received.recordCount = this.unpacker.recordCount;
        chunks = this.takePending();
        totals = this.received.totals();
      } else {
        this.packer.finish();
        chunks = this.packer.take();
        totals = this.packer.totals.totals();
      }
      if (expected !== undefined) {
        const mismatch = totalsMismatch(expected, totals);
        if (mismatch !== null) throw new SnapshotCorruptError(`snapshot at index ${this.descriptor.index} does not add up: ${mismatch}; not published`);
      }
      const info: SnapshotInfo = { ...this.descriptor, ...totals };
      const plan = this.host.planPublish(this.snapshotId, info);
      const ops = this.chunkOps(chunks);
      ops.push({ type: 'put', key: metaKey(this.snapshotId), value: plan.meta }, { type: 'put', key: headKey, value: plan.head });
      await this.host.hooks.beforeBatch?.({ snapshotId: this.snapshotId, batch: this.batch, final: true });
      this.stopIfAborted();
      this.publishAttempted = true;
      this.state = 'publishing';
      try {
        await this.host.db.batch(ops, { sync: true });
      } catch (err) {
        throw wrapLevelError(err, `publishing snapshot ${this.snapshotId} (index ${info.index})`, 'unknown');
      }
      this.state = 'published';
      this.host.published(plan.retained);
      this.host.done(this);
      dropped = plan.dropped;
      await this.host.hooks.afterPublish?.(info);
      return info;
    });
    await this.host.deleteSnapshots(dropped);
    return info;
  }

  async abort(): Promise<void> {
    if (this.is('published') || this.is('aborted')) return;
    if (this.is('publishing')) {
      // Too late: the publishing batch is on its way, and its outcome is the snapshot's.
      await this.current.catch(() => undefined);
      return;
    }
    this.state = 'aborted';
    // The call under way stops at its next batch boundary; only then may another writer begin.
    await this.current.catch(() => undefined);
    this.host.done(this);
    if (this.publishAttempted) return; // the publishing batch may have landed: only a reopen can tell
    try {
      await this.host.db.clear(snapshotRange(this.snapshotId));
    } catch {
      // Closed or failing database: the next open removes what is left.
    }
  }

  /** Runs one call: checks the state and mode, and turns any failure into a failed writer. */
  private async run<T>(call: string, mode: 'records' | 'chunks' | null, work: () => Promise<T>): Promise<T> {
    if (this.state !== 'open') throw new SnapshotStateError(`${call}() on a snapshot writer that is ${this.state}`);
    if (this.busy) throw new SnapshotStateError(`${call}() while another call on the same snapshot writer is under way`);
    if (mode !== null) {
      if (this.mode !== null && this.mode !== mode) throw new SnapshotStateError(`${call}() on a snapshot writer fed with ${this.mode}`);
      this.mode = mode;
    }
    this.host.checkUsable();
    this.busy = true;
    const pending = work();
    this.current = pending;
    try {
      return await pending;
    } catch (err) {
      if (this.is('published')) throw err; // only the afterPublish hook can fail after the publish
      // A hook's own error (a simulated crash) goes back as it was thrown.
      const failure = err instanceof SnapshotError || levelCode(err) !== undefined ? wrapLevelError(err, `writing snapshot ${this.snapshotId}`, 'fail') : undefined;
      if (!this.is('aborted')) this.state = 'failed';
      this.host.done(this, failure);
      throw failure ?? err;
    } finally {
      this.busy = false;
    }
  }

  /** A method, not a comparison in place: TypeScript would narrow `state` to 'open' inside run(), but calls change it. */
  private is(state: WriterState): boolean {
    return this.state === state;
  }

  /** abort() was called while a call was under way: stop at the next batch boundary. */
  private stopIfAborted(): void {
    if (this.is('aborted')) throw new SnapshotStateError(`snapshot write at index ${this.descriptor.index} was aborted`);
  }

  private takePending(): Buffer[] {
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    return chunks;
  }

  private chunkOps(chunks: readonly Buffer[]): { type: 'put'; key: Buffer; value: Buffer }[] {
    return chunks.map((chunk) => ({ type: 'put' as const, key: chunkKey(this.snapshotId, chunk.readUInt32LE(4)), value: chunk }));
  }

  /** Writes staged chunks as one unsynced batch (they matter only once the synced publish lands). */
  private async flush(chunks: readonly Buffer[]): Promise<void> {
    await this.host.hooks.beforeBatch?.({ snapshotId: this.snapshotId, batch: this.batch, final: false });
    this.stopIfAborted();
    this.batch++;
    try {
      await this.host.db.batch(this.chunkOps(chunks), { sync: false });
    } catch (err) {
      throw wrapLevelError(err, `staging snapshot ${this.snapshotId}`, 'fail');
    }
  }
}

type LevelIterator = Iterator<Db, Buffer, Buffer>;

class StoredSnapshotReader implements SnapshotReader {
  readonly info: SnapshotInfo;
  private started = false;

  constructor(
    private readonly iterator: LevelIterator,
    private readonly target: Retained,
    private readonly what: string,
  ) {
    this.info = target.info;
  }

  records(): AsyncGenerator<Buffer, void, undefined> {
    return this.stream('records');
  }

  chunks(): AsyncGenerator<Buffer, void, undefined> {
    return this.stream('chunks');
  }

  async visitRecords(visit: RecordVisitor): Promise<void> {
    for await (const _ of this.stream(visit));
  }

  async close(): Promise<void> {
    await this.iterator.close();
  }

  /** Yields the records, or the chunks, or (given a visitor) each chunk once its records were visited. */
  private async *stream(mode: 'records' | 'chunks' | RecordVisitor): AsyncGenerator<Buffer, void, undefined> {
    if (this.started) throw new SnapshotStateError(`${this.what}: a reader can be read once`);
    this.started = true;
    const { id } = this.target;
    try {
      const first = await this.next();
      if (first === undefined || !first[0].equals(metaKey(id)) || !first[1].equals(this.target.meta)) {
        throw new SnapshotCorruptError(`${this.what}: its META is missing or changed`);
      }
      const unpacker = new RecordUnpacker(this.info.payloadBytes);
      const totals = new TotalsAccumulator();
      for (let entry = await this.next(); entry !== undefined; entry = await this.next()) {
        const [key, chunk] = entry;
        const seq = totals.chunkCount;
        let payload: Buffer;
        try {
          if (!key.equals(chunkKey(id, seq))) throw new SnapshotFormatError(`key ${key.toString('hex')} where chunk ${seq} was expected`);
          payload = openChunk(chunk, seq);
        } catch (err) {
          throw new SnapshotCorruptError(`${this.what}: ${(err as Error).message}`, err);
        }
        totals.addChunk(chunk);
        try {
          if (mode === 'chunks') unpacker.skip(payload);
          else if (mode === 'records') for (const record of unpacker.push(payload)) yield record;
          else unpacker.visit(payload, mode);
        } catch (err) {
          if (err instanceof SnapshotFormatError) throw new SnapshotCorruptError(`${this.what}: ${err.message}`, err);
          throw err;
        }
        if (mode !== 'records') yield chunk;
      }
      try {
        unpacker.end();
      } catch (err) {
        throw new SnapshotCorruptError(`${this.what}: ${(err as Error).message}`, err);
      }
      totals.recordCount = unpacker.recordCount;
      const mismatch = totalsMismatch(this.info, totals.totals());
      if (mismatch !== null) throw new SnapshotCorruptError(`${this.what}: ${mismatch}`);
    } finally {
      await this.iterator.close();
    }
  }

  private async next(): Promise<[Buffer, Buffer] | undefined> {
    try {
      const entry = await this.iterator.next();
      return entry === undefined ? undefined : [asBuffer(entry[0]), asBuffer(entry[1])];
    } catch (err) {
      throw wrapLevelError(err, `reading ${this.what}`, 'fail');
    }
  }
}
