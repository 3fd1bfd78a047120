import { QuorumError } from '../util/errors.js';

/**
 * A replicated write as stored in a log entry's payload (inside RaftGroup's envelope, which
 * carries the request id):
 *
 *   ┌───────┬───────────────┬────────┬──────────────────────────────────┐
 *   │ flags │ time (ms)     │ argc   │ argc × (u32 length, bytes)       │
 *   │ u8    │ f64 LE        │ u32 LE │ the prepared command, name first │
 *   └───────┴───────────────┴────────┴──────────────────────────────────┘
 *
 * `time` is the leader's clock when it proposed the entry: "now" for apply ('Deterministic apply' in docs/design.md).
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
/**
 * A payload that writes itself into the envelope's buffer, so that a proposal's bytes (a value of
 * up to 512 MB) are copied once, not once into the payload and again into the envelope.
 */
export interface PayloadWriter {
  readonly size: number;
  writeTo(buf: Buffer, offset: number): void;
}

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

const headerBytes = 1 + 8 + 4;

/** The bytes `args` take: argc u32, then a u32 length and the bytes of each. */
function argsSize(args: readonly Buffer[]): number {
  let size = 4;
  for (const a of args) size += 4 + a.length;
  return size;
}

function writeArgs(buf: Buffer, pos: number, args: readonly Buffer[]): number {
  pos = buf.writeUInt32LE(args.length, pos);
  for (const a of args) {
    pos = buf.writeUInt32LE(a.length, pos);
    pos += a.copy(buf, pos);
  }
  return pos;
}

/** Reads what writeArgs wrote; the arguments are views into `buf`. */
function readArgs(buf: Buffer, at: { pos: number }): Buffer[] {
  const need = (n: number): void => {
    if (at.pos + n > buf.length) throw new MalformedEntryError('write entry truncated');
  };
  need(4);
  const argc = buf.readUInt32LE(at.pos);
  at.pos += 4;
  const args: Buffer[] = [];
  for (let i = 0; i < argc; i++) {
    need(4);
    const len = buf.readUInt32LE(at.pos);
    at.pos += 4;
    need(len);
    args.push(buf.subarray(at.pos, at.pos + len));
    at.pos += len;
  }
  return args;
}

/** One write as an entry payload (its request id is the envelope's). */
export function writeEntryWriter(entry: WriteEntry): PayloadWriter {
  return {
    size: 1 + 8 + argsSize(entry.args),
    writeTo(buf: Buffer, offset: number): void {
      buf[offset] = entry.flags & ~WriteFlags.batch;
      buf.writeDoubleLE(entry.timeMs, offset + 1);
      writeArgs(buf, offset + 9, entry.args);
    },
  };
}

/** A batch as an entry payload. */
export function writeBatchWriter(batch: { readonly flags: number; readonly timeMs: number; readonly writes: readonly BatchedWrite[] }): PayloadWriter {
  const ids = batch.writes.map((w) => Buffer.from(w.requestId, 'utf8'));
  let size = headerBytes;
  batch.writes.forEach((w, i) => {
    if (ids[i]!.length > 255) throw new RangeError('request id longer than 255 bytes');
    size += 1 + ids[i]!.length + argsSize(w.args);
  });
  return {
    size,
    writeTo(buf: Buffer, offset: number): void {
      buf[offset] = batch.flags | WriteFlags.batch;
      buf.writeDoubleLE(batch.timeMs, offset + 1);
      let pos = buf.writeUInt32LE(batch.writes.length, offset + 9);
      batch.writes.forEach((w, i) => {
        buf[pos++] = ids[i]!.length;
        pos += ids[i]!.copy(buf, pos);
        pos = writeArgs(buf, pos, w.args);
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
  if (buf.length < headerBytes) throw new MalformedEntryError('write entry shorter than its header');
  const flags = buf[0]!;
  const timeMs = buf.readDoubleLE(1);
  const at = { pos: 9 };
  if ((flags & WriteFlags.batch) === 0) return { flags, timeMs, writes: [{ requestId: undefined, args: readArgs(buf, at) }] };
  const count = buf.readUInt32LE(9);
  at.pos = headerBytes;
  const writes: { requestId: string; args: Buffer[] }[] = [];
  for (let w = 0; w < count; w++) {
    if (at.pos + 1 > buf.length) throw new MalformedEntryError('write batch truncated');
    const idLength = buf[at.pos++]!;
    if (at.pos + idLength > buf.length) throw new MalformedEntryError('write batch truncated');
    const requestId = buf.toString('utf8', at.pos, at.pos + idLength);
    at.pos += idLength;
    writes.push({ requestId, args: readArgs(buf, at) });
  }
  if (at.pos !== buf.length) throw new MalformedEntryError('write batch has trailing bytes');
  return { flags, timeMs, writes };
}

export class MalformedEntryError extends QuorumError {
  constructor(message: string) {
    super('MALFORMED_ENTRY', message, 'fail');
    this.name = 'MalformedEntryError';
  }
}
