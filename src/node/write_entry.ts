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
 *
 * A batch (flag `batch`): several writes in one entry, applied in order, each with its own
 * request id (for the dedup table; the envelope's id is the batch's, for its waiter):
 *
 *   ┌───────┬───────────┬─────────┬──────────────────────────────────────────────────────┐
 *   │ flags │ time (ms) │ count   │ count × (id len u8, id utf-8, argc u32, argc × arg)  │
 *   │ u8    │ f64 LE    │ u32 LE  │                                                      │
 *   └───────┴───────────┴─────────┴──────────────────────────────────────────────────────┘
 *
 * Why batches: a connection's pipelined run of writes (or a follower's forwarded writes of one
 * turn) becomes one entry instead of one per command, so the per-entry costs (Raft entry, log
 * record and checksum, protobuf entry per follower, envelope, waiter, deadline timer) are paid
 * once per run. Applying the run's writes back to back is one of the orders Redis's pipelining
 * allows (other clients' commands may or may not fall in between).
 */
export const WriteFlags = { dedup: 1, batch: 2 } as const;

/** One write of a batch: its own request id and the prepared command. */
export interface BatchedWrite {
  readonly requestId: string;
  readonly args: readonly Buffer[];
}

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

/** A batch as a writer into RaftGroup's envelope. */
export function writeBatchWriter(batch: { readonly flags: number; readonly timeMs: number; readonly writes: readonly BatchedWrite[] }): {
  readonly size: number;
  writeTo(buf: Buffer, offset: number): void;
} {
  const ids = batch.writes.map((w) => Buffer.from(w.requestId, 'utf8'));
  let size = 1 + 8 + 4;
  batch.writes.forEach((w, i) => {
    if (ids[i]!.length > 255) throw new RangeError('request id longer than 255 bytes');
    size += 1 + ids[i]!.length + 4;
    for (const a of w.args) size += 4 + a.length;
  });
  return {
    size,
    writeTo(buf: Buffer, offset: number): void {
      buf[offset] = batch.flags | WriteFlags.batch;
      buf.writeDoubleLE(batch.timeMs, offset + 1);
      buf.writeUInt32LE(batch.writes.length, offset + 9);
      let pos = offset + 13;
      batch.writes.forEach((w, i) => {
        const id = ids[i]!;
        buf[pos++] = id.length;
        pos += id.copy(buf, pos);
        buf.writeUInt32LE(w.args.length, pos);
        pos += 4;
        for (const a of w.args) {
          buf.writeUInt32LE(a.length, pos);
          pos += 4;
          pos += a.copy(buf, pos);
        }
      });
    },
  };
}

/** A decoded payload: one write (its request id is the envelope's) or a batch. */
export interface DecodedWrites {
  readonly flags: number;
  readonly timeMs: number;
  /** `requestId` is undefined for a single write (the envelope's id applies). */
  readonly writes: readonly { readonly requestId: string | undefined; readonly args: readonly Buffer[] }[];
}

export function decodeWrites(data: Uint8Array): DecodedWrites {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 13) throw new MalformedEntryError('write entry shorter than its header');
  const flags = buf[0]!;
  if ((flags & WriteFlags.batch) === 0) {
    const entry = decodeWriteEntry(data);
    return { flags, timeMs: entry.timeMs, writes: [{ requestId: undefined, args: entry.args }] };
  }
  const timeMs = buf.readDoubleLE(1);
  const count = buf.readUInt32LE(9);
  let pos = 13;
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new MalformedEntryError('write batch truncated');
  };
  const writes: { requestId: string; args: Buffer[] }[] = [];
  for (let w = 0; w < count; w++) {
    need(1);
    const idLength = buf[pos++]!;
    need(idLength + 4);
    const requestId = buf.toString('utf8', pos, pos + idLength);
    pos += idLength;
    const argc = buf.readUInt32LE(pos);
    pos += 4;
    const args: Buffer[] = [];
    for (let i = 0; i < argc; i++) {
      need(4);
      const len = buf.readUInt32LE(pos);
      pos += 4;
      need(len);
      args.push(buf.subarray(pos, pos + len));
      pos += len;
    }
    writes.push({ requestId, args });
  }
  if (pos !== buf.length) throw new MalformedEntryError('write batch has trailing bytes');
  return { flags, timeMs, writes };
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
