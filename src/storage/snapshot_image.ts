import type { Reply } from '../resp/reply.js';
import type { KeyRecord } from '../state/keyspace.js';
import { decodeReply, encodeReply } from '../transport/reply_codec.js';
import { SnapshotCorruptError } from './snapshot_errors.js';
import { FieldReader, FieldWriter, SnapshotFormatError, asBuffer } from './snapshot_format.js';

/**
 * The key-value state machine's image as snapshot records: what a group's snapshot holds besides
 * its descriptor. The store and backup files treat records as opaque bytes; this module alone
 * knows what is inside them. (It sits in src/storage because it was built with the store; it
 * depends on the state machine's types and on the reply codec, and can move next to
 * KvStateMachine when the node wires it in.)
 *
 *   key record     kind u8 = 1 | flags u8 | [expireAt f64] | keyLength u32 | key | valueType u8 | value
 *                  flags bit 0: has an expiry (absolute Unix ms; f64 holds any JS number exactly)
 *                  valueType 0: string (the rest of the record is its bytes)
 *   dedup record   kind u8 = 2 | timeMs f64 | requestId str16 | reply (reply_codec.ts, the rest)
 *   members record kind u8 = 3 | addresses: count u16, (nodeId str16, grpcAddress str16) ×count
 *                  | everMembers list16
 *                  The group's address book and every node id it ever had (ids are never reused):
 *                  what the descriptor's voter and learner lists do not say. At most one per
 *                  image, first; `quorumkv restore` rewrites it for the new cluster.
 *
 * Taking an image (the caller's part: both calls at one instant, between two applies; the write
 * then runs across many event-loop turns while applies go on):
 *
 *   const keys = keyspace.beginSnapshot();            // O(1) copy-on-write image (keyspace_image.ts)
 *   const dedup = Array.from(stateMachine.dedup.records());  // records() is live: copy it now
 *   try { await store.write(descriptor, stateImageRecords(keys, dedup)); }
 *   finally { keys.release(); }                       // stops tracking if the write broke off
 *
 * Loading one (never into the live state: into fresh containers, swapped in only on success):
 *
 *   const fresh = new Keyspace(); const dedup: DedupRecord[] = [];
 *   await decodeStateImage(reader.records(), { key: (r) => fresh.set(r.key, r.value, r.expireAt ?? NO_EXPIRY), dedup: (r) => dedup.push(r) });
 *   // only now: keyspace.adopt(fresh), dedupTable.restore(dedup)
 */

/** One remembered reply of the dedup table, as DedupTable.records() yields it. */
export interface DedupRecord {
  readonly id: string;
  readonly timeMs: number;
  readonly reply: Reply;
}

/** The address book and id history of a group, as of the snapshot's index. */
export interface MembersRecord {
  /** Node id → gRPC address of every current member. */
  readonly addresses: ReadonlyMap<string, string>;
  /** Every node id ever added to the group (ids are never reused). */
  readonly everMembers: readonly string[];
}

export const ImageRecordKind = {
  Key: 1,
  Dedup: 2,
  Members: 3,
} as const;

const ValueType = {
  string: 0,
} as const;

const hasExpiryFlag = 1;

export function encodeKeyRecord(record: KeyRecord): Buffer {
  const { key, value, expireAt } = record;
  const expirySize = expireAt === null ? 0 : 8;
  const buf = Buffer.allocUnsafe(2 + expirySize + 4 + key.length + 1 + value.value.length);
  buf[0] = ImageRecordKind.Key;
  buf[1] = expireAt === null ? 0 : hasExpiryFlag;
  let pos = 2;
  if (expireAt !== null) pos = buf.writeDoubleLE(expireAt, pos);
  pos = buf.writeUInt32LE(key.length, pos);
  pos += key.copy(buf, pos);
  buf[pos++] = ValueType[value.type];
  value.value.copy(buf, pos);
  return buf;
}

export function encodeDedupRecord(record: DedupRecord): Buffer {
  const id = Buffer.from(record.id, 'utf8');
  if (id.length > 0xffff) throw new RangeError(`request id of ${id.length} bytes does not fit a u16 length`);
  const head = Buffer.allocUnsafe(1 + 8 + 2);
  head[0] = ImageRecordKind.Dedup;
  head.writeDoubleLE(record.timeMs, 1);
  head.writeUInt16LE(id.length, 9);
  return Buffer.concat([head, id, encodeReply(record.reply)]);
}

export function encodeMembersRecord(record: MembersRecord): Buffer {
  const w = new FieldWriter().u8(ImageRecordKind.Members).u16(record.addresses.size);
  for (const [id, address] of record.addresses) w.str16(id).str16(address);
  return w.list16(record.everMembers).toBuffer();
}

/**
 * The records of an image, encoded lazily in order: the members record (if given), every key,
 * then the dedup table.
 */
export function* stateImageRecords(keys: Iterable<KeyRecord>, dedup: Iterable<DedupRecord>, members?: MembersRecord): Generator<Buffer> {
  if (members) yield encodeMembersRecord(members);
  for (const record of keys) yield encodeKeyRecord(record);
  for (const record of dedup) yield encodeDedupRecord(record);
}

export type ImageRecord =
  | { readonly kind: 'key'; readonly record: KeyRecord }
  | { readonly kind: 'dedup'; readonly record: DedupRecord }
  | { readonly kind: 'members'; readonly record: MembersRecord };

/**
 * Decodes one record. Keys and values are copied out, so the result does not pin the chunk the
 * record came from (a Keyspace keeps value buffers for as long as the key lives).
 * A record that does not parse is a SnapshotCorruptError.
 */
export function decodeImageRecord(bytes: Uint8Array): ImageRecord {
  const buf = asBuffer(bytes);
  try {
    const r = new FieldReader(buf);
    const kind = r.u8();
    if (kind === ImageRecordKind.Key) {
      const flags = r.u8();
      const expireAt = (flags & hasExpiryFlag) !== 0 ? r.f64() : null;
      const keyLength = r.u32();
      const rest = r.rest();
      if (rest.length < keyLength + 1) throw new SnapshotFormatError(`key of ${keyLength} bytes overruns its record`);
      const key = Buffer.from(rest.subarray(0, keyLength));
      const valueType = rest[keyLength];
      if (valueType !== ValueType.string) throw new SnapshotFormatError(`unknown value type ${valueType}`);
      const value = Buffer.from(rest.subarray(keyLength + 1));
      return { kind: 'key', record: { key, value: { type: 'string', value }, expireAt } };
    }
    if (kind === ImageRecordKind.Dedup) {
      const timeMs = r.f64();
      const id = r.str16();
      const reply = decodeReply(r.rest());
      return { kind: 'dedup', record: { id, timeMs, reply } };
    }
    if (kind === ImageRecordKind.Members) {
      const count = r.u16();
      const addresses = new Map<string, string>();
      for (let i = 0; i < count; i++) {
        const id = r.str16();
        addresses.set(id, r.str16());
      }
      const everMembers = r.list16();
      r.expectEnd('members record');
      return { kind: 'members', record: { addresses, everMembers } };
    }
    throw new SnapshotFormatError(`unknown record kind ${kind}`);
  } catch (err) {
    if (err instanceof SnapshotCorruptError) throw err;
    throw new SnapshotCorruptError(`malformed state image record: ${(err as Error).message}`, err);
  }
}

/** Where decodeStateImage delivers records: fresh containers that the caller swaps in on success. */
export interface StateImageSink {
  key(record: KeyRecord): void;
  dedup(record: DedupRecord): void;
  members?(record: MembersRecord): void;
}

/**
 * Feeds every record of a verified stream (SnapshotReader.records(), VerifiedBackup.records())
 * to `sink`, and resolves with the counts only once the stream has ended and verified. If it
 * rejects (a corrupt snapshot, a malformed record), what the sink received must be discarded.
 */
export async function decodeStateImage(
  records: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: StateImageSink,
): Promise<{ keys: number; dedup: number }> {
  let keys = 0;
  let dedup = 0;
  for await (const bytes of records) {
    const decoded = decodeImageRecord(bytes);
    if (decoded.kind === 'key') {
      sink.key(decoded.record);
      keys++;
    } else if (decoded.kind === 'dedup') {
      sink.dedup(decoded.record);
      dedup++;
    } else {
      sink.members?.(decoded.record);
    }
  }
  return { keys, dedup };
}
