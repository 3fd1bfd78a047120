import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';

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
