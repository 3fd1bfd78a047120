import type { Reply } from '../resp/reply.js';
import { slotCount } from './hash_slot.js';
import { NO_EXPIRY, storedString, valueOfStored } from './keyspace.js';
import { SlotSet } from './slot_set.js';
import type { ImageKey, KeyRecord, KeyspaceImage, StoredValue } from './keyspace.js';
import { decodeReply, encodeReply } from '../resp/reply_codec.js';
import { SnapshotCorruptError } from '../storage/snapshot_errors.js';
import { FieldReader, FieldWriter, SnapshotFormatError, asBuffer, recordHeaderBytes } from '../storage/snapshot_format.js';
import type { ChunkPacker, PackableRecords, VisitableRecords } from '../storage/snapshot_format.js';

/**
 * The key-value state machine's image as snapshot records: what a group's snapshot holds besides
 * its descriptor. The store and backup files treat records as opaque bytes; this module alone
 * knows what is inside them.
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
 *   slots record   kind u8 = 4 | count u16 | (first u16, last u16) ×count
 *                  The hash slots the group serves (Keyspace.ownedSlots). At most one per image,
 *                  after the members record; an image without one serves every slot (it was
 *                  taken before groups owned slots).
 *
 * Taking an image (the caller's part: both calls at one instant, between two applies; the write
 * then runs across many event-loop turns while applies go on):
 *
 *   const keys = keyspace.beginSnapshot();            // O(1) copy-on-write image (keyspace_image.ts)
 *   const dedup = Array.from(stateMachine.dedup.records());  // records() is live: copy it now
 *   try { await store.write(descriptor, packedStateImage(keys, dedup)); }
 *   finally { keys.release(); }                       // stops tracking if the write broke off
 *
 * packedStateImage encodes each key straight into the chunk being filled (no record object, key
 * Buffer or record Buffer per key: at a million keys those allocations would be most of a
 * write's GC work); stateImageRecords yields the same records as Buffers, for tests and small images.
 *
 * Loading one (never into the live state: into fresh containers, swapped in only on success):
 *
 *   const fresh = new Keyspace(); const dedup: DedupRecord[] = [];
 *   await loadStateImage(reader, { keyspace: fresh, dedup: (r) => dedup.push(r) });
 *   // only now: keyspace.adopt(fresh), dedupTable.restore(dedup)
 *
 * loadStateImage visits the records of a chunk synchronously (one promise per 256 KiB chunk, not
 * per record) and inserts each key by its latin1 name, read straight from the chunk, with its
 * value in the keyspace's stored form (keyspace.ts, StoredValue), also read straight from the
 * chunk: a latin1 string, so one allocation per value and no Buffer object or wrapper; a large
 * value is copied into a Buffer of its own (a keyspace keeps it as long as the key lives: it must
 * not pin a 256 KiB chunk). packKey likewise writes the stored form into the chunk as it is.
 * decodeStateImage takes any record iterable and hands the sink KeyRecords.
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
  Slots: 4,
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

export function encodeSlotsRecord(slots: SlotSet): Buffer {
  const ranges = slots.ranges();
  const w = new FieldWriter().u8(ImageRecordKind.Slots).u16(ranges.length);
  for (const [first, last] of ranges) w.u16(first).u16(last);
  return w.toBuffer();
}

/** Writes a key record into the packer's current chunk, or adds it the slow way if it does not fit there. Returns its stream bytes. */
function packKey(packer: ChunkPacker, key: ImageKey): number {
  const { name, expireAt, value } = key;
  const hasExpiry = expireAt !== NO_EXPIRY;
  const length = 2 + (hasExpiry ? 8 : 0) + 4 + name.length + 1 + value.length;
  const at = packer.reserve(length);
  if (at < 0) {
    packer.add(encodeKeyRecord({ key: Buffer.from(name, 'latin1'), value: valueOfStored(value), expireAt: hasExpiry ? expireAt : null }));
    return recordHeaderBytes + length;
  }
  const buf = packer.chunkBuffer;
  let pos = at;
  buf[pos++] = ImageRecordKind.Key;
  buf[pos++] = hasExpiry ? hasExpiryFlag : 0;
  if (hasExpiry) pos = buf.writeDoubleLE(expireAt, pos);
  pos = buf.writeUInt32LE(name.length, pos);
  pos += buf.write(name, pos, 'latin1');
  buf[pos++] = ValueType.string;
  if (typeof value === 'string') buf.write(value, pos, 'latin1');
  else buf.set(value, pos);
  return recordHeaderBytes + length;
}

function isKeyspaceImage(keys: Iterable<KeyRecord>): keys is KeyspaceImage {
  return typeof (keys as Partial<KeyspaceImage>).nextKey === 'function';
}

/**
 * The records of an image as stateImageRecords yields them, packed straight into the store's
 * chunks (PackableRecords). With a KeyspaceImage, no object is allocated per key. One pass.
 */
export function packedStateImage(
  keys: KeyspaceImage | Iterable<KeyRecord>,
  dedup: Iterable<DedupRecord>,
  members?: MembersRecord,
  slots?: SlotSet,
): PackableRecords {
  let stage: 'members' | 'slots' | 'keys' | 'dedup' | 'done' = members !== undefined ? 'members' : slots !== undefined ? 'slots' : 'keys';
  const image = isKeyspaceImage(keys) ? keys : null;
  const keyRecords = image === null ? keys[Symbol.iterator]() : null;
  const dedupRecords = dedup[Symbol.iterator]();
  return {
    packInto(packer: ChunkPacker, budgetBytes: number): 'more' | 'done' {
      let packed = 0;
      while (packed < budgetBytes) {
        if (stage === 'keys') {
          if (image !== null) {
            // The hot loop: no allocation per key.
            for (let key = image.nextKey(); key !== undefined; key = image.nextKey()) {
              packed += packKey(packer, key);
              if (packed >= budgetBytes) return 'more';
            }
          } else {
            for (let next = keyRecords!.next(); !next.done; next = keyRecords!.next()) {
              const record = encodeKeyRecord(next.value);
              packer.add(record);
              packed += recordHeaderBytes + record.length;
              if (packed >= budgetBytes) return 'more';
            }
          }
          stage = 'dedup';
        } else if (stage === 'members') {
          const record = encodeMembersRecord(members!);
          packer.add(record);
          packed += recordHeaderBytes + record.length;
          stage = slots !== undefined ? 'slots' : 'keys';
        } else if (stage === 'slots') {
          const record = encodeSlotsRecord(slots!);
          packer.add(record);
          packed += recordHeaderBytes + record.length;
          stage = 'keys';
        } else if (stage === 'dedup') {
          const next = dedupRecords.next();
          if (next.done) stage = 'done';
          else {
            const record = encodeDedupRecord(next.value);
            packer.add(record);
            packed += recordHeaderBytes + record.length;
          }
        } else {
          return 'done';
        }
      }
      return stage === 'done' ? 'done' : 'more';
    },
  };
}

/**
 * The records of an image, encoded lazily in order: the members record (if given), every key,
 * then the dedup table.
 */
export function* stateImageRecords(keys: Iterable<KeyRecord>, dedup: Iterable<DedupRecord>, members?: MembersRecord, slots?: SlotSet): Generator<Buffer> {
  if (members) yield encodeMembersRecord(members);
  if (slots) yield encodeSlotsRecord(slots);
  for (const record of keys) yield encodeKeyRecord(record);
  for (const record of dedup) yield encodeDedupRecord(record);
}

export type ImageRecord =
  | { readonly kind: 'key'; readonly record: KeyRecord }
  | { readonly kind: 'dedup'; readonly record: DedupRecord }
  | { readonly kind: 'members'; readonly record: MembersRecord }
  | { readonly kind: 'slots'; readonly record: SlotSet };

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
    if (kind === ImageRecordKind.Slots) {
      const count = r.u16();
      const slots = SlotSet.empty();
      for (let i = 0; i < count; i++) {
        const first = r.u16();
        const last = r.u16();
        if (first > last || last >= slotCount) throw new SnapshotFormatError(`slot range ${first}-${last} is not within 0-${slotCount - 1}`);
        slots.addRange([first, last]);
      }
      r.expectEnd('slots record');
      return { kind: 'slots', record: slots };
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
  slots?(record: SlotSet): void;
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
    } else if (decoded.kind === 'members') {
      sink.members?.(decoded.record);
    } else {
      sink.slots?.(decoded.record);
    }
  }
  return { keys, dedup };
}

/** Where loadStateImage delivers records: fresh containers that the caller swaps in on success. */
export interface StateImageTarget {
  /** Takes every key by its latin1 name and stored value (Keyspace.setStoredByName); expireAt is NO_EXPIRY for none. */
  readonly keyspace: { setStoredByName(name: string, value: StoredValue, expireAt: number): void };
  dedup(record: DedupRecord): void;
  members?(record: MembersRecord): void;
  slots?(record: SlotSet): void;
}

/**
 * decodeStateImage for a chunked, verified stream (SnapshotReader, VerifiedBackup), without a
 * promise, record object or key Buffer per key (see the file comment). Resolves with the counts
 * only once the stream has ended and verified; if it rejects, what the target received must be
 * discarded.
 */
export async function loadStateImage(source: VisitableRecords, target: StateImageTarget): Promise<{ keys: number; dedup: number }> {
  let keys = 0;
  let dedup = 0;
  const { keyspace } = target;
  await source.visitRecords((bytes, start, end) => {
    if (bytes[start] === ImageRecordKind.Key) {
      loadKey(bytes, start, end, keyspace);
      keys++;
      return;
    }
    const decoded = decodeImageRecord(bytes.subarray(start, end));
    if (decoded.kind === 'dedup') {
      target.dedup(decoded.record);
      dedup++;
    } else if (decoded.kind === 'members') {
      target.members?.(decoded.record);
    } else if (decoded.kind === 'slots') {
      target.slots?.(decoded.record);
    } else {
      throw new SnapshotCorruptError('malformed state image record: a key record that does not say so');
    }
  });
  return { keys, dedup };
}

/** Decodes the key record at bytes[start, end) into `keyspace` (the layout of decodeImageRecord, with the same checks). */
function loadKey(bytes: Buffer, start: number, end: number, keyspace: StateImageTarget['keyspace']): void {
  let pos = start + 1;
  if (end - pos < 1 + 4) throw malformedKey('its header');
  const flags = bytes[pos++]!;
  let expireAt = NO_EXPIRY;
  if ((flags & hasExpiryFlag) !== 0) {
    if (end - pos < 8 + 4) throw malformedKey('its expiry');
    expireAt = bytes.readDoubleLE(pos);
    pos += 8;
  }
  const keyLength = bytes.readUInt32LE(pos);
  pos += 4;
  if (end - pos < keyLength + 1) throw malformedKey(`a key of ${keyLength} bytes`);
  const name = bytes.toString('latin1', pos, pos + keyLength);
  pos += keyLength;
  const valueType = bytes[pos++];
  if (valueType !== ValueType.string) throw new SnapshotCorruptError(`malformed state image record: unknown value type ${valueType}`);
  keyspace.setStoredByName(name, storedString(bytes, pos, end), expireAt);
}

function malformedKey(what: string): SnapshotCorruptError {
  return new SnapshotCorruptError(`malformed state image record: the key record ends inside ${what}`);
}
