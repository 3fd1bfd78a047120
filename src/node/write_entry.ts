/**
 * A replicated write as stored in a log entry's payload (inside RaftGroup's envelope, which
 * carries the request id):
 *
 *   ┌───────┬───────────────┬────────┬──────────────────────────────────┐
 *   │ flags │ time (ms)     │ argc   │ argc × (u32 length, bytes)       │
 *   │ u8    │ f64 LE        │ u32 LE │ the prepared command, name first │
 *   └───────┴───────────────┴────────┴──────────────────────────────────┘
 *
 * `time` is the leader's clock when it proposed the entry: "now" for apply (design invariant 3).
 * Flag `dedup`: the request may be retried (it came through a follower), so its reply is
 * remembered in the replicated dedup table and a retry gets it instead of applying again.
 */
export const WriteFlags = { dedup: 1 } as const;

export interface WriteEntry {
  readonly flags: number;
  readonly timeMs: number;
  readonly args: readonly Buffer[];
}

/** The entry as a writer into a larger buffer (RaftGroup's envelope): its bytes copied once. */
export function writeEntryWriter(entry: WriteEntry): { readonly size: number; writeTo(buf: Buffer, offset: number): void } {
  let size = 1 + 8 + 4;
  for (const a of entry.args) size += 4 + a.length;
  return {
    size,
    writeTo(buf: Buffer, offset: number): void {
      buf[offset] = entry.flags;
      buf.writeDoubleLE(entry.timeMs, offset + 1);
      buf.writeUInt32LE(entry.args.length, offset + 9);
      let pos = offset + 13;
      for (const a of entry.args) {
        buf.writeUInt32LE(a.length, pos);
        pos += 4;
        a.copy(buf, pos);
        pos += a.length;
      }
    },
  };
}

export class MalformedEntryError extends Error {
  readonly code = 'MALFORMED_ENTRY';
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEntryError';
  }
}

export function decodeWriteEntry(data: Uint8Array): WriteEntry {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 13) throw new MalformedEntryError('write entry shorter than its header');
  const flags = buf[0];
  const timeMs = buf.readDoubleLE(1);
  const argc = buf.readUInt32LE(9);
  const args: Buffer[] = new Array(argc);
  let pos = 13;
  for (let i = 0; i < argc; i++) {
    if (pos + 4 > buf.length) throw new MalformedEntryError('write entry truncated');
    const len = buf.readUInt32LE(pos);
    pos += 4;
    if (pos + len > buf.length) throw new MalformedEntryError('write entry truncated');
    args[i] = buf.subarray(pos, pos + len);
    pos += len;
  }
  return { flags, timeMs, args };
}
