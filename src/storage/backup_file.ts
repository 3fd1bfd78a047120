import { fsyncDirectory } from './fs_sync.js';
import { open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import {
  BackupCorruptError,
  BackupTruncatedError,
  SnapshotError,
  SnapshotErrorCode,
  SnapshotGroupMismatchError,
} from './snapshot_errors.js';
import {
  ChunkPacker,
  FieldReader,
  FieldWriter,
  RecordUnpacker,
  SnapshotFormatError,
  TotalsAccumulator,
  checkChunkBytes,
  chunkHeaderBytes,
  defaultChunkBytes,
  descriptorOf,
  feedRecords,
  maxChunkBytes,
  openChunk,
  readDescriptor,
  readTotals,
  totalsMismatch,
  writeDescriptor,
  writeTotals,
  yieldEveryBytes,
} from './snapshot_format.js';
import type { SnapshotDescriptor, SnapshotInfo, SnapshotTotals } from './snapshot_format.js';
import type { SnapshotStore, SnapshotWriter } from './snapshot_store.js';

/**
 * Backup files: one group's snapshot in a single self-describing, checksummed file.
 *
 * API
 *
 *   await writeBackup(path, descriptor, records)   // streams to path.tmp, fsync, rename, fsync dir
 *   await verifyBackup(path)                       // one full pass: BackupSummary, or it throws
 *   const backup = await readBackup(path)          // verifies the whole file FIRST, then:
 *   for await (const record of backup.records())   //   a second pass, checked again as it goes
 *   await restoreBackupToStore(path, store)        // seeds a SnapshotStore; publishes only after
 *                                                  //   the trailer verified
 *   await writeBackupFromChunks(path, info, chunkBytes, chunks)  // a store's chunks as they are
 *                                                  //   (admin backup), checked against info
 *
 * A damaged file is refused with BackupTruncatedError (it ends before its trailer) or
 * BackupCorruptError (anything else: a checksum, a length, a count, bytes after the trailer), each
 * naming the file, the byte offset and what is wrong. Nothing is handed out as usable before the
 * whole file has been checked: readBackup verifies before it returns, and restoreBackupToStore
 * streams into a snapshot writer whose publish is the last step (its staged chunks are dropped on
 * any error, or by the store's next open after a crash).
 *
 * Layout (integers little-endian):
 *
 *   header   magic "QKVBAKUP" | version u16 (1) | chunkBytes u32 | descriptorLength u32
 *            | descriptor (snapshot_format.ts) | headerCrc u32 (crc32 of the header bytes before it)
 *   chunk    tag u8 'C' | length u32 | chunk (snapshot_format.ts: crc32 | seq | payload)   × chunkCount
 *   trailer  tag u8 'T' | totals (chunkCount u32 | recordCount u48 | payloadBytes u48 | checksum u32)
 *            | fileCrc u32 (crc32 of every byte of the file before it)
 *   end of file
 *
 * Every byte is under at least one crc32 (a header, chunk or file checksum), so one flipped byte
 * is always caught, and the trailer's totals catch chunks that are missing, repeated or reordered.
 * Chunks are those of the store (same format and checks), at most chunkBytes + 8 bytes each.
 */

export const backupMagic = Buffer.from('QKVBAKUP', 'latin1');
export const backupVersion = 1;
const chunkTag = 0x43; // 'C'
const trailerTag = 0x54; // 'T'
const maxDescriptorBytes = 1024 * 1024;
const totalsBytes = 20;
const fixedHeaderBytes = 18;
const readBlockBytes = 1024 * 1024;

export interface BackupSummary {
  readonly path: string;
  readonly info: SnapshotInfo;
  readonly chunkBytes: number;
  readonly fileBytes: number;
  /** The trailer's crc32 of the whole file: two backups with the same one hold the same bytes. */
  readonly fileChecksum: number;
}

/** A backup that has been verified end to end. `records()` reads it again, checking as it goes. */
export interface VerifiedBackup extends BackupSummary {
  records(): AsyncGenerator<Buffer, void, undefined>;
}

// -------------------------------------------------------------------------------------------------
// Writing

/**
 * Writes a backup of `records` (iterated once, as they come) to `path`: streamed to `path.tmp`,
 * fsynced, renamed over `path`, and the directory fsynced. On failure the temporary file is
 * removed and `path` is untouched.
 */
export async function writeBackup(
  path: string,
  descriptor: SnapshotDescriptor,
  records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { chunkBytes?: number } = {},
): Promise<BackupSummary> {
  const chunkBytes = options.chunkBytes ?? defaultChunkBytes;
  return writeBackupFile(path, descriptor, chunkBytes, async (writeChunks) => {
    const packer = new ChunkPacker(chunkBytes);
    let sinceYield = 0;
    const add = (record: Uint8Array): boolean => {
      packer.add(record);
      sinceYield += record.length + 4;
      return sinceYield >= yieldEveryBytes || packer.pendingBytes > 0;
    };
    const pause = async (): Promise<void> => {
      sinceYield = 0;
      if (packer.pendingBytes > 0) await writeChunks(packer.take());
      else await nextMacrotask();
    };
    await feedRecords(records, add, pause);
    packer.finish();
    await writeChunks(packer.take());
    return packer.totals.totals();
  });
}

/**
 * The file around the chunks, shared by both writers: header and its crc32, the chunk frames
 * `body` writes, the trailer with the totals `body` returns, the file checksum. Streamed to
 * `path.tmp`, fsynced, renamed over `path`, directory fsynced; on any failure the temporary file
 * is removed and `path` is untouched.
 */
async function writeBackupFile(
  path: string,
  descriptor: SnapshotDescriptor,
  chunkBytes: number,
  body: (writeChunks: (chunks: readonly Buffer[]) => Promise<void>) => Promise<SnapshotTotals>,
): Promise<BackupSummary> {
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  const out = new CheckedOutput(file);
  let closed = false;
  try {
    await out.write(backupHeader(descriptor, chunkBytes));
    await out.write([u32(out.crc)]);
    const totals = await body(async (chunks) => {
      const frames: Buffer[] = [];
      for (const chunk of chunks) frames.push(Buffer.from([chunkTag]), u32(chunk.length), chunk);
      if (frames.length > 0) await out.write(frames);
    });
    await out.write([Buffer.from([trailerTag]), writeTotals(new FieldWriter(), totals).toBuffer()]);
    const fileChecksum = out.crc;
    await out.write([u32(fileChecksum)]);
    await file.sync();
    closed = true;
    await file.close();
    await rename(tmp, path);
    await fsyncDirectory(dirname(path));
    return { path, info: { ...descriptorOf(descriptor), ...totals }, chunkBytes, fileBytes: out.offset, fileChecksum };
  } catch (err) {
    if (!closed) await file.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(value >>> 0);
  return b;
}

/** Appends to a file, keeping the crc32 of everything written so far. */
class CheckedOutput {
  crc = 0;
  offset = 0;

  constructor(private readonly file: FileHandle) {}

  async write(buffers: Buffer[]): Promise<void> {
    let total = 0;
    for (const b of buffers) {
      this.crc = crc32(b, this.crc);
      total += b.length;
    }
    const written = (await this.file.writev(buffers, this.offset)).bytesWritten;
    if (written < total) {
      // A short vectored write (rare on regular files): write the rest until it is all there.
      const rest = Buffer.concat(buffers).subarray(written);
      for (let done = 0; done < rest.length; ) {
        done += (await this.file.write(rest, done, rest.length - done, this.offset + written + done)).bytesWritten;
      }
    }
    this.offset += total;
  }
}


// -------------------------------------------------------------------------------------------------
// Reading

type BackupEvent =
  | { readonly kind: 'header'; readonly descriptor: SnapshotDescriptor; readonly chunkBytes: number }
  /** `records`: those the chunk completes, when the parse was asked for them (otherwise only counted). */
  | { readonly kind: 'chunk'; readonly chunk: Buffer; readonly records: Buffer[] }
  | { readonly kind: 'end'; readonly summary: BackupSummary };

/**
 * Reads a backup front to back, keeping the crc32 of everything read; a short read is a
 * truncation. The backup is `size` bytes of the file from byte `base` on (0 and the whole file for
 * a backup file; a part of a cluster backup elsewhere): offsets here are the backup's, offsets in
 * errors the file's.
 */
class CheckedInput {
  crc = 0;
  offset = 0;
  private block = Buffer.alloc(0);
  private blockPos = 0;

  constructor(
    private readonly file: FileHandle,
    readonly path: string,
    readonly size: number,
    readonly base = 0,
  ) {}

  /** The file offset of the backup's byte `offset`. */
  at(offset: number): number {
    return this.base + offset;
  }

  get atEnd(): boolean {
    return this.offset === this.size;
  }

  /** Exactly `n` bytes, in a buffer of their own (so views into it stay valid). */
  async read(n: number, what: string): Promise<Buffer> {
    if (this.offset + n > this.size) {
      throw new BackupTruncatedError({
        path: this.path,
        offset: this.at(this.size),
        reason: `the ${this.base === 0 ? 'file' : 'part'} ends ${this.offset + n - this.size} bytes short of the end of ${what} (which started at byte ${this.at(this.offset)})`,
      });
    }
    const out = Buffer.allocUnsafe(n);
    let filled = this.block.copy(out, 0, this.blockPos, Math.min(this.block.length, this.blockPos + n));
    this.blockPos += filled;
    while (filled < n) {
      const position = this.offset + filled;
      if (n - filled >= readBlockBytes) {
        filled += await this.readAt(out, filled, n - filled, position);
        continue;
      }
      this.block = Buffer.allocUnsafe(Math.min(readBlockBytes, this.size - position));
      await this.readAt(this.block, 0, this.block.length, position);
      this.blockPos = this.block.copy(out, filled, 0, n - filled);
      filled += this.blockPos;
    }
    this.crc = crc32(out, this.crc);
    this.offset += n;
    return out;
  }

  private async readAt(target: Buffer, at: number, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.file.read(target, at + done, length - done, this.base + position + done);
      if (bytesRead === 0) {
        throw new BackupTruncatedError({ path: this.path, offset: this.at(position + done), reason: 'the file shrank while it was being read' });
      }
      done += bytesRead;
    }
    return done;
  }

  corrupt(offset: number, reason: string, cause?: unknown): BackupCorruptError {
    return new BackupCorruptError({ path: this.path, offset: this.at(offset), reason }, cause);
  }
}

/**
 * Parses and checks a backup front to back. Events come only after the bytes they carry have
 * passed their checks; `end` comes only after the whole file has (file checksum, totals, nothing
 * after the trailer). Any failure is a BackupCorruptError or BackupTruncatedError.
 */
async function* parseBackup(source: BackupSource, options: { records: boolean }): AsyncGenerator<BackupEvent, void, undefined> {
  const { path } = source;
  const file = await open(path, 'r');
  try {
    const input = source.part === undefined ? new CheckedInput(file, path, (await file.stat()).size) : new CheckedInput(file, path, source.part.length, source.part.start);
    const fixed = await input.read(fixedHeaderBytes, 'the header');
    if (!fixed.subarray(0, 8).equals(backupMagic)) {
      throw input.corrupt(0, `not a quorumkv backup (starts with ${JSON.stringify(fixed.subarray(0, 8).toString('latin1'))}, not "QKVBAKUP")`);
    }
    const version = fixed.readUInt16LE(8);
    const chunkBytes = fixed.readUInt32LE(10);
    const descriptorLength = fixed.readUInt32LE(14);
    if (version !== backupVersion) throw input.corrupt(8, `unsupported backup version ${version} (this build reads ${backupVersion})`);
    if (chunkBytes < 1 || chunkBytes > maxChunkBytes) throw input.corrupt(10, `chunk size ${chunkBytes} is out of range`);
    if (descriptorLength > maxDescriptorBytes) throw input.corrupt(14, `descriptor length ${descriptorLength} is out of range`);
    const described = await input.read(descriptorLength, 'the header');
    const headerCrc = input.crc;
    if ((await input.read(4, 'the header')).readUInt32LE(0) !== headerCrc) throw input.corrupt(0, 'the header fails its checksum');
    let descriptor: SnapshotDescriptor;
    try {
      const r = new FieldReader(described);
      descriptor = readDescriptor(r);
      r.expectEnd('the descriptor');
    } catch (err) {
      throw input.corrupt(fixedHeaderBytes, `the header does not parse: ${(err as Error).message}`, err);
    }
    yield { kind: 'header', descriptor, chunkBytes };

    const totals = new TotalsAccumulator();
    const unpacker = new RecordUnpacker(input.size);
    let shortChunkAt = -1;
    for (;;) {
      const frameAt = input.offset;
      if (input.atEnd) throw new BackupTruncatedError({ path, offset: input.at(frameAt), reason: `the ${input.base === 0 ? 'file' : 'part'} ends after ${totals.chunkCount} chunks, before its trailer` });
      const tag = (await input.read(1, 'a frame tag'))[0];
      if (tag === chunkTag) {
        const seq = totals.chunkCount;
        const length = (await input.read(4, `chunk frame ${seq}`)).readUInt32LE(0);
        if (length <= chunkHeaderBytes || length > chunkHeaderBytes + chunkBytes) {
          throw input.corrupt(frameAt + 1, `chunk frame ${seq} has length ${length}, outside (${chunkHeaderBytes}, ${chunkHeaderBytes + chunkBytes}]`);
        }
        if (shortChunkAt >= 0) throw input.corrupt(frameAt, `chunk ${seq} follows chunk ${seq - 1}, which is shorter than the chunk size`);
        const chunk = await input.read(length, `chunk frame ${seq}`);
        let payload: Buffer;
        try {
          payload = openChunk(chunk, seq);
        } catch (err) {
          throw input.corrupt(frameAt + 5, (err as Error).message, err);
        }
        if (payload.length < chunkBytes) shortChunkAt = frameAt;
        totals.addChunk(chunk);
        let records: Buffer[] = [];
        try {
          if (options.records) records = [...unpacker.push(payload)];
          else unpacker.skip(payload);
        } catch (err) {
          throw input.corrupt(frameAt + 5, (err as Error).message, err);
        }
        yield { kind: 'chunk', chunk, records };
      } else if (tag === trailerTag) {
        const declared = readTotals(new FieldReader(await input.read(totalsBytes, 'the trailer')));
        const fileCrc = input.crc;
        const storedCrc = (await input.read(4, 'the trailer')).readUInt32LE(0);
        if (storedCrc !== fileCrc) throw input.corrupt(input.offset - 4, 'the file checksum does not match its contents');
        if (!input.atEnd) throw input.corrupt(input.offset, `${input.size - input.offset} bytes follow the trailer`);
        try {
          unpacker.end();
        } catch (err) {
          throw input.corrupt(frameAt, (err as Error).message, err);
        }
        totals.recordCount = unpacker.recordCount;
        const mismatch = totalsMismatch(declared, totals.totals());
        if (mismatch !== null) throw input.corrupt(frameAt, `the trailer does not match the chunks: ${mismatch}`);
        yield { kind: 'end', summary: { path, info: { ...descriptor, ...declared }, chunkBytes, fileBytes: input.size, fileChecksum: storedCrc } };
        return;
      } else {
        throw input.corrupt(frameAt, `unknown frame tag 0x${(tag ?? 0).toString(16).padStart(2, '0')} after ${totals.chunkCount} chunks`);
      }
    }
  } finally {
    await file.close();
  }
}

/**
 * Where a backup is: a whole file, or a part of one (a group's part of a cluster backup,
 * cluster_backup_file.ts: `length` bytes from byte `start`).
 */
export interface BackupSource {
  readonly path: string;
  readonly part?: { readonly start: number; readonly length: number };
}

/** Checks a whole backup file; resolves with what it holds, or throws saying what is wrong. */
export async function verifyBackup(path: string): Promise<BackupSummary> {
  return verifyBackupSource({ path });
}

/** Checks a backup (a file or a part of one) end to end; resolves with what it holds, or throws saying what is wrong. */
export async function verifyBackupSource(source: BackupSource): Promise<BackupSummary> {
  for await (const event of parseBackup(source, { records: false })) {
    if (event.kind === 'end') return event.summary;
  }
  throw new BackupCorruptError({ path: source.path, offset: 0, reason: 'the parser stopped without a verdict' }); // unreachable
}

/**
 * Verifies the whole backup, then returns it for reading. `records()` reads it again and
 * checks it again; if it changed since it was verified, the iteration throws before it ends.
 */
export async function readBackup(path: string): Promise<VerifiedBackup> {
  return readBackupSource({ path });
}

/** readBackup of a file or of a part of one. */
export async function readBackupSource(source: BackupSource): Promise<VerifiedBackup> {
  const { path } = source;
  const summary = await verifyBackupSource(source);
  async function* records(): AsyncGenerator<Buffer, void, undefined> {
    for await (const event of parseBackup(source, { records: true })) {
      if (event.kind === 'chunk') yield* event.records;
      else if (event.kind === 'end' && (event.summary.fileChecksum !== summary.fileChecksum || event.summary.fileBytes !== summary.fileBytes)) {
        throw new BackupCorruptError({ path, offset: 0, reason: 'the file changed after it was verified' });
      }
    }
  }
  return { ...summary, records };
}

/**
 * Seeds `store` from a backup (`quorumkv restore`): the backup's chunks go into a snapshot writer
 * as they are read and checked; the snapshot is published only once the trailer has verified. A
 * damaged file leaves the store as it was. The backup must be of the store's group.
 */
export async function restoreBackupToStore(backupPath: string, store: SnapshotStore): Promise<SnapshotInfo> {
  let writer: SnapshotWriter | null = null;
  try {
    for await (const event of parseBackup({ path: backupPath }, { records: false })) {
      if (event.kind === 'header') {
        if (event.descriptor.groupId !== store.groupId) {
          throw new SnapshotGroupMismatchError(store.groupId, event.descriptor.groupId, `backup file ${backupPath}`);
        }
        writer = store.begin(event.descriptor);
      } else if (event.kind === 'chunk') {
        await writer!.writeChunk(event.chunk);
      } else {
        return await writer!.finish(event.summary.info);
      }
    }
    throw new BackupCorruptError({ path: backupPath, offset: 0, reason: 'the parser stopped without a verdict' }); // unreachable
  } catch (err) {
    await writer?.abort();
    if (err instanceof SnapshotFormatError) throw new BackupCorruptError({ path: backupPath, offset: 0, reason: err.message }, err);
    throw err;
  }
}

// -------------------------------------------------------------------------------------------------
// Writing from chunks that are already packed (`quorumkv admin backup`)

/**
 * A chunk stream that does not add up to the snapshot it was announced as: a chunk that fails its
 * checksum or sequence number, a wrong size, chunks beyond the announced count, or a stream that
 * ended early (code BACKUP_TRUNCATED; everything else BACKUP_CORRUPT). Nothing was kept.
 */
export class BackupStreamError extends SnapshotError {
  override readonly name = 'BackupStreamError';

  constructor(
    readonly path: string,
    readonly truncated: boolean,
    reason: string,
    cause?: unknown,
  ) {
    super(
      truncated ? SnapshotErrorCode.BackupTruncated : SnapshotErrorCode.BackupCorrupt,
      `backup stream for ${path} ${truncated ? 'ended early' : 'is corrupt'}: ${reason}; nothing written`,
      cause === undefined ? {} : { cause },
    );
  }
}

/**
 * Writes a backup file from a snapshot's chunks as the store (or an InstallSnapshot stream) hands
 * them out, with the same bytes writeBackup would have written for the same records and
 * chunkBytes. `info` is what the chunks were announced as; every chunk is checked as it arrives
 * (checksum, sequence, size, record framing) and the totals are compared with `info` before the
 * trailer is written. Streamed to `path.tmp`, fsynced, renamed over `path`, directory fsynced; on
 * any failure (a BackupStreamError, the iterable throwing, an I/O error) the temporary file is
 * removed and `path` is untouched. Holds one chunk at a time.
 */
export async function writeBackupFromChunks(
  path: string,
  info: SnapshotInfo,
  chunkBytes: number,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<BackupSummary> {
  const refuse = (reason: string, cause?: unknown): BackupStreamError => new BackupStreamError(path, false, reason, cause);
  try {
    checkChunkBytes(chunkBytes);
  } catch (err) {
    throw refuse((err as Error).message, err);
  }
  return writeBackupFile(path, info, chunkBytes, async (writeChunks) => {
    const totals = new TotalsAccumulator();
    const unpacker = new RecordUnpacker(info.payloadBytes);
    let shortChunkSeq = -1;
    const check = async (bytes: Uint8Array): Promise<void> => {
      const seq = totals.chunkCount;
      if (seq >= info.chunkCount) throw refuse(`chunk ${seq} arrived after the ${info.chunkCount} announced`);
      if (shortChunkSeq >= 0) throw refuse(`chunk ${seq} follows chunk ${shortChunkSeq}, which is shorter than the chunk size`);
      const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let payload: Buffer;
      try {
        payload = openChunk(chunk, seq);
        if (payload.length > chunkBytes) throw new SnapshotFormatError(`chunk ${seq} holds ${payload.length} payload bytes, more than the chunk size ${chunkBytes}`);
        unpacker.skip(payload);
      } catch (err) {
        throw refuse((err as Error).message, err);
      }
      if (payload.length < chunkBytes) shortChunkSeq = seq;
      totals.addChunk(chunk);
      await writeChunks([chunk]);
    };
    if (Symbol.asyncIterator in chunks) {
      for await (const chunk of chunks) await check(chunk);
    } else {
      for (const chunk of chunks) await check(chunk);
    }
    if (totals.chunkCount < info.chunkCount) {
      throw new BackupStreamError(path, true, `${totals.chunkCount} of the ${info.chunkCount} announced chunks arrived`);
    }
    try {
      unpacker.end();
    } catch (err) {
      throw refuse((err as Error).message, err);
    }
    totals.recordCount = unpacker.recordCount;
    const mismatch = totalsMismatch(info, totals.totals());
    if (mismatch !== null) throw refuse(`the chunks do not match the announced snapshot: ${mismatch}`);
    return totals.totals();
  });
}

/** The header's bytes before its crc32: magic, version, chunkBytes, descriptor (see the layout above). */
function backupHeader(descriptor: SnapshotDescriptor, chunkBytes: number): Buffer[] {
  const described = writeDescriptor(new FieldWriter(), descriptorOf(descriptor)).toBuffer();
  const fixed = Buffer.allocUnsafe(fixedHeaderBytes);
  backupMagic.copy(fixed, 0);
  fixed.writeUInt16LE(backupVersion, 8);
  fixed.writeUInt32LE(chunkBytes, 10);
  fixed.writeUInt32LE(described.length, 14);
  return [fixed, described];
}
