import { closeSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from './fs_sync.js';

/**
 * What the two segmented logs (a group's FileLog and the node's NodeLog) share about their files:
 * how a segment is named, and the read descriptors kept open on segments so that an entry read
 * back from disk costs one pread, not an open and a close.
 */
export const segmentNamePattern = /^(\d{16})\.log$/;

export function segmentName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.log`;
}

/** Read-only descriptors on a directory's segments, opened on first use, closed when a segment goes. */
export class SegmentReaders {
  private readonly fds = new Map<number, number>();

  constructor(private readonly dir: string) {}

  /** The descriptor to read segment `seq` with. Synchronous: reads of the log are (Storage.entries). */
  fdFor(seq: number): number {
    let fd = this.fds.get(seq);
    if (fd === undefined) {
      fd = openSync(join(this.dir, segmentName(seq)), 'r');
      this.fds.set(seq, fd);
    }
    return fd;
  }

  close(seq: number): void {
    const fd = this.fds.get(seq);
    if (fd === undefined) return;
    this.fds.delete(seq);
    try {
      closeSync(fd);
    } catch {
      // already unusable; nothing is lost by not closing it twice
    }
  }

  closeAll(): void {
    for (const seq of [...this.fds.keys()]) this.close(seq);
  }
}

/** Writes all of `buf` at `position` (a write may take less than asked). */
export async function writeFully(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < buf.length) {
    const { bytesWritten } = await handle.write(buf, written, buf.length - written, position + written);
    written += bytesWritten;
  }
}

/**
 * Creates the segment file at `path` holding `buf` (its header first), durable with its name in
 * `dir` before it is used; `datasync` is the log's own (its tests count or fail it). A segment
 * that cannot be made durable is closed, never handed out.
 */
export async function createSegmentFile(path: string, dir: string, buf: Buffer, datasync: (handle: FileHandle) => Promise<void>): Promise<FileHandle> {
  const handle = await open(path, 'wx');
  try {
    await writeFully(handle, buf, 0);
    await datasync(handle);
    await fsyncDirectory(dir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return handle;
}

/** Cuts the segment file at `path` to `offset` bytes, durably (a torn tail found on load). */
export async function truncateSegmentFile(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
