import { CopyOnWriteImage, KeyspaceImageError, KeyspaceImageErrorCode, type ImageKey, type KeyspaceImage } from './keyspace_image.js';
import { keyHashSlot } from './hash_slot.js';
import { hashName } from './scan_table.js';
import { SlotSet } from './slot_set.js';
import { SlotTables, type KeyEntry as Entry, type SlotKeys } from './slot_tables.js';

export type { ImageKey, KeyspaceImage } from './keyspace_image.js';

/**
 * The keyspace of one group's state machine: Redis's `db->dict` and `db->expires`.
 *
 * Determinism ('Deterministic apply' and 'Leader-decided expiry' in docs/design.md): nothing here reads a clock or a random source.
 * Every lookup takes `nowMs`; a key whose expiry is `<= nowMs` is *logically* absent:
 *
 *   - read lookups (`get`, `has`, `ttlOf`, iteration) hide it and never delete it, so a
 *     follower serving a read changes nothing;
 *   - `lookupWrite` (the write path, `nowMs` = the applied entry's timestamp) removes it first,
 *     as Redis's lookupKeyWrite does; that is deterministic because every replica applies the
 *     same entry with the same timestamp;
 *   - otherwise only an applied DEL or a leader's expiry entry (`deleteIfExpired`) removes it.
 *
 * Keys are binary. They are held as latin1 strings (one char per byte, so the mapping is 1:1):
 * a string is one allocation with a 16 B header where a Buffer costs ~96 B of heap, and compares
 * by content; `Buffer`s are rebuilt only where a key is returned. The entries are indexed by one
 * hash table per hash slot (slot_tables.ts), which also gives SCAN its cursors, and lets a split
 * hand whole slots to a new group.
 *
 * Values are binary too, and most are stored the same way (see StoredValue): the `Value` objects
 * of the public API are built at the boundary, a Buffer per read.
 *
 * Ownership: a value `Buffer` handed to `set`/`overwrite` becomes the keyspace's and must not be
 * mutated afterwards (a small one is copied into a string at once; a large one is kept); the
 * keyspace never mutates a stored value either (APPEND and SETRANGE store a new one), and a
 * Buffer that `get` returns must not be mutated. That is what lets `snapshot()` and
 * `beginSnapshot()` share values instead of copying them. The keyspace never keeps a view into a
 * larger buffer (a log entry's payload, a gRPC batch, a snapshot chunk): what it keeps pins only
 * its own bytes.
 *
 * Snapshots (hashicorp/raft's FSM contract: "Snapshot returns quickly"): `beginSnapshot()` is
 * O(1) and returns a copy-on-write image read lazily while applies go on (keyspace_image.ts);
 * `snapshot()` is the synchronous full copy, for tests and small keyspaces. `adopt()` swaps in a
 * keyspace loaded from a received snapshot once it has verified.
 */

/** A string value. Later value types (list, hash, set, zset) join the `Value` union. */
export interface StringValue {
  readonly type: 'string';
  readonly value: Buffer;
}

export type Value = StringValue;

/**
 * A value as the keyspace holds it. A string value is a latin1 JS string (one char per byte, so
 * any bytes round-trip), not the `{ type, value: Buffer }` of the API: without V8's pointer
 * compression a Buffer object costs ~96 B of heap and the wrapper 40 B, while a string costs a
 * 16 B header, and is one allocation instead of three (two of them GC-traced) for a snapshot load.
 *
 * Values longer than MAX_STRING_STORED_BYTES stay Buffers (of their own, never a view): V8's
 * longest string (2^29 - 24 chars) is shorter than Redis's 512 MB bulk limit; every read of a
 * string value copies it into a new Buffer, which for a large value costs more than the
 * ~140 B it saves; and a large Buffer lives outside the JS heap and its old-space limit.
 * Later value types (list, hash, ...) will be other objects: `typeof` tells a string from them,
 * `Buffer.isBuffer` a large string.
 */
export type StoredValue = string | Buffer;

/**
 * The longest string value stored as a JS string (see StoredValue). Past ~16 KiB the ~140 B of
 * objects a Buffer costs are under 1% of the value, and the copy per read keeps growing.
 */
export const MAX_STRING_STORED_BYTES = 16 * 1024;

/**
 * The stored form of the string value in bytes[start, end): a latin1 string, or for a large value
 * a Buffer of its own (a copy, unless `bytes` is exactly that range of a buffer of its own).
 */
export function storedString(bytes: Buffer, start = 0, end = bytes.length): StoredValue {
  const length = end - start;
  if (length <= MAX_STRING_STORED_BYTES) return bytes.toString('latin1', start, end);
  if (start === 0 && end === bytes.length && bytes.byteOffset === 0 && bytes.buffer.byteLength === length) return bytes;
  const own = Buffer.allocUnsafeSlow(length);
  bytes.copy(own, 0, start, end);
  return own;
}

/** The API's form of a stored value: a new Buffer for a string, the stored one for a Buffer. */
export function valueOfStored(stored: StoredValue): Value {
  return { type: 'string', value: typeof stored === 'string' ? Buffer.from(stored, 'latin1') : stored };
}

/** The name TYPE prints for a value; `none` for a missing key. */
export type ValueTypeName = Value['type'];

/** One key as snapshots carry it; `expireAt` is an absolute Unix time in ms, or null. */
export interface KeyRecord {
  readonly key: Buffer;
  readonly value: Value;
  readonly expireAt: number | null;
}

/** `expireAtOf` results besides a timestamp (the same numbers PTTL replies with). */
export const KEY_MISSING = -2;
export const NO_EXPIRY = -1;

/** How many random keys `randomKey` tries before it falls back to a linear search. */
const RANDOM_KEY_TRIES = 100;

export class Keyspace {
  /** Every entry, in its hash slot's table: lookups, SCAN cursors, random keys, the image's walk, splits. */
  private tables = new SlotTables();
  /**
   * The image that tracks writes, or null (the only cost of snapshots on the write path: every
   * in-place write and removal checks this field). See keyspace_image.ts.
   */
  private image: CopyOnWriteImage<Entry> | null = null;
  /** The generation of the last image begun; entries' stamps never exceed it. */
  private imageGeneration = 0;
  /**
   * The hash slots whose keys this keyspace serves: its group's share of the cluster. Every slot
   * until the group is given its share (a group of its own, or a snapshot taken before groups
   * owned slots). A command whose keys are not all owned is refused before it runs
   * (KvStateMachine, the gateway's reads), so a group never applies a write for a slot that is
   * not its own. Replicated state: changed only by applied entries, carried by snapshots.
   */
  private owned: SlotSet = SlotSet.all();

  /** Number of keys, including expired keys not yet deleted (as Redis's DBSIZE). */
  get size(): number {
    return this.tables.size;
  }

  get ownedSlots(): SlotSet {
    return this.owned;
  }

  /** Replaces the owned slots (an applied ownership entry, or a snapshot's record). */
  setOwnedSlots(slots: SlotSet): void {
    this.owned = slots.copy();
  }

  /** Whether every slot is this keyspace's (one group holds the whole cluster's keys). */
  get ownsAllSlots(): boolean {
    return this.owned.size === 16384;
  }

  /** The first of `keys` whose slot this keyspace does not own, or -1 when it owns them all. */
  firstUnownedSlot(keys: Iterable<Buffer>): number {
    if (this.ownsAllSlots) return -1;
    for (const key of keys) {
      const slot = keyHashSlot(key);
      if (!this.owned.has(slot)) return slot;
    }
    return -1;
  }

  /** Number of keys that have a TTL, including expired keys not yet deleted. */
  get countWithTtl(): number {
    return this.tables.countWithTtl;
  }

  /** Approximate bytes held by keys, values and TTLs (see PER_KEY_OVERHEAD_BYTES). */
  get usedMemoryBytes(): number {
    return this.tables.memoryBytes;
  }

  /**
   * Reads that found a live key, and reads that did not (INFO keyspace_hits/misses). Local
   * statistics of this replica's reads, not replicated state: never in a snapshot.
   */
  readHits = 0;
  readMisses = 0;

  /** The live value of `key` at `nowMs`, or undefined. Never deletes. Counts a hit or a miss. */
  get(key: Buffer, nowMs: number): Value | undefined {
    const name = key.toString('latin1');
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined || expired(keys!, entry, nowMs)) {
      this.readMisses++;
      return undefined;
    }
    this.readHits++;
    return valueOfStored(entry.value);
  }

  has(key: Buffer, nowMs: number): boolean {
    return this.get(key, nowMs) !== undefined;
  }

  /**
   * The write path's lookup (`nowMs` must be the applied entry's timestamp): the live value, or
   * undefined after removing the key if it had expired.
   */
  lookupWrite(key: Buffer, nowMs: number): Value | undefined {
    const name = key.toString('latin1');
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined) return undefined;
    if (expired(keys!, entry, nowMs)) {
      this.remove(keys!, entry);
      return undefined;
    }
    return valueOfStored(entry.value);
  }

  /**
   * The expiry of a live key: an absolute ms timestamp, NO_EXPIRY, or KEY_MISSING when the key
   * does not exist or has expired at `nowMs`.
   */
  expireAtOf(key: Buffer, nowMs: number): number {
    const name = key.toString('latin1');
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined || expired(keys!, entry, nowMs)) return KEY_MISSING;
    return keys!.expiryOf(entry);
  }

  /**
   * Sets `key` to `value` with the given expiry (absolute ms, or NO_EXPIRY to clear it), replacing
   * whatever was there, as Redis's setKey. `value` becomes the keyspace's.
   */
  set(key: Buffer, value: Value, expireAt: number = NO_EXPIRY): void {
    this.setStoredByName(key.toString('latin1'), storedString(value.value), expireAt);
  }

  /** `set` of the key named `name` (latin1), without a key Buffer. */
  setByName(name: string, value: Value, expireAt: number = NO_EXPIRY): void {
    this.setStoredByName(name, storedString(value.value), expireAt);
  }

  /**
   * `setByName` of a value already in its stored form (see StoredValue and `storedString`): what
   * a snapshot load calls, so that a loaded value is one string and nothing else.
   */
  setStoredByName(name: string, value: StoredValue, expireAt: number = NO_EXPIRY): void {
    const hash = hashName(name);
    const keys = this.tables.ensure(this.tables.slotOf(name));
    const entry = keys.find(name, hash);
    if (entry === undefined) {
      this.insert(keys, name, hash, value, expireAt);
      return;
    }
    if (this.image !== null) this.image.preserve(entry);
    this.tables.setValue(keys, entry, value);
    this.tables.setExpiry(keys, entry, expireAt);
  }

  /**
   * Replaces the value and keeps the TTL (Redis's dbOverwrite: INCR, APPEND, SET KEEPTTL); inserts
   * without a TTL when the key is missing. Call after `lookupWrite` at the same time, so that an
   * expired key's TTL is not kept.
   */
  overwrite(key: Buffer, value: Value): void {
    const name = key.toString('latin1');
    const stored = storedString(value.value);
    const hash = hashName(name);
    const keys = this.tables.ensure(this.tables.slotOf(name));
    const entry = keys.find(name, hash);
    if (entry === undefined) {
      this.insert(keys, name, hash, stored, NO_EXPIRY);
      return;
    }
    if (this.image !== null) this.image.preserve(entry);
    this.tables.setValue(keys, entry, stored);
  }

  /** Sets the expiry of an existing key (absolute ms, or NO_EXPIRY); false if there is no key. */
  setExpireAt(key: Buffer, expireAt: number): boolean {
    const name = key.toString('latin1');
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined) return false;
    if (this.image !== null) this.image.preserve(entry);
    this.tables.setExpiry(keys!, entry, expireAt);
    return true;
  }

  /**
   * Removes the key. True only if it was live at `nowMs`: an expired key is removed too but
   * counts as absent, as in Redis where DEL finds it already expired.
   */
  delete(key: Buffer, nowMs: number): boolean {
    const name = key.toString('latin1');
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined) return false;
    const live = !expired(keys!, entry, nowMs);
    this.remove(keys!, entry);
    return live;
  }

  /** The leader's active expiry, applied: removes the key only if it has expired at `nowMs`. */
  deleteIfExpired(key: Buffer, nowMs: number): boolean {
    const name = key.toString('latin1');
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined || !expired(keys!, entry, nowMs)) return false;
    this.remove(keys!, entry);
    return true;
  }

  /**
   * Moves a live key's value and TTL to `to`, replacing whatever `to` held. The caller has checked
   * that `from` is live and differs from `to`.
   */
  rename(from: Buffer, to: Buffer): void {
    const fromName = from.toString('latin1');
    const keys = this.tables.ofName(fromName);
    const entry = keys?.find(fromName);
    if (entry === undefined) throw new Error('rename of a missing key');
    const value = entry.value;
    const expireAt = keys!.expiryOf(entry);
    this.remove(keys!, entry);
    this.setStoredByName(to.toString('latin1'), value, expireAt);
  }

  /**
   * Removes every key (FLUSHALL / FLUSHDB, and the first step of `restore`). O(1) for a tracking
   * image: it keeps the old structures and is detached (see keyspace_image.ts).
   */
  clear(): void {
    this.detachImage();
    this.tables = new SlotTables();
  }

  /**
   * Replaces this keyspace's whole state with `other`'s by swapping structures (O(1)): a node
   * decodes a received snapshot into a fresh Keyspace and adopts it only once it has verified.
   * `other` is left empty and must not be used afterwards. Read statistics (readHits, readMisses)
   * are this replica's and stay.
   *
   * An image begun on this keyspace is detached, not invalidated: it keeps the pre-adopt
   * structures, which nothing writes any more, and still yields the state it was begun on (so a
   * snapshot being written when a newer one is installed completes correctly, or can be
   * released); the old state stays in memory until it is iterated or released. A new image may
   * be begun at once. `other` must not have an image (its entries would be written untracked).
   */
  adopt(other: Keyspace): void {
    if (other === this) return;
    if (other.image !== null) {
      throw new KeyspaceImageError(KeyspaceImageErrorCode.InvalidState, 'cannot adopt a keyspace that has an active snapshot image');
    }
    this.detachImage();
    this.tables = other.tables;
    this.owned = other.owned;
    // Adopted entries carry stamps of `other`'s images: the next image here must be above them.
    this.imageGeneration = Math.max(this.imageGeneration, other.imageGeneration);
    other.tables = new SlotTables();
  }

  /**
   * Begins a point-in-time image of every key (expired ones included: they are state until a
   * replicated delete removes them), to be iterated lazily while writes go on. O(1); memory grows
   * only with the keys written before the iteration reaches them. One image at a time: release
   * it (or iterate it to the end) before the next. Must be called between two applies.
   */
  beginSnapshot(): KeyspaceImage {
    if (this.image !== null) {
      throw new KeyspaceImageError(KeyspaceImageErrorCode.Active, 'a snapshot image of this keyspace is already active; release it first');
    }
    // The tables as they are: clear() and adopt() replace them, so a detached image keeps walking,
    // and reading expiries from, the ones it was begun on.
    const image = new CopyOnWriteImage<Entry>(++this.imageGeneration, this.tables, recordOf, (released) => {
      if (this.image === released) this.image = null;
    });
    this.image = image;
    return image;
  }

  /**
   * One SCAN step, as Redis's scanGenericCommand over its dict: visits buckets from `cursor`
   * until it has collected `count` keys (expired ones included; the caller filters) or visited
   * `count * 10` buckets, and returns the next cursor (0 when the iteration is complete).
   *
   * Guarantee (the same as Redis's): a key present for the whole iteration, from cursor 0 until
   * a call returns 0, is returned at least once, whatever is inserted or deleted meanwhile and
   * even if the table grows or shrinks; a key may be returned more than once only if the table
   * shrank during the iteration. The cursor goes slot by slot (slot_tables.ts), and depends only
   * on key bytes and table sizes, so a cursor from one replica stays valid on another (after a
   * leader change).
   */
  scan(cursor: number, count: number): { cursor: number; keys: string[] } {
    const keys: string[] = [];
    let next = cursor;
    let budget = count * 10;
    do {
      next = this.tables.scanBucket(next, keys);
    } while (next !== 0 && budget-- > 0 && keys.length < count);
    return { cursor: next, keys };
  }

  /** The names (latin1) of all keys live at `nowMs`, in no particular order. */
  liveKeyNames(nowMs: number): string[] {
    const names: string[] = [];
    this.tables.forEach((entry, keys) => {
      if (!expired(keys, entry, nowMs)) names.push(entry.name);
    });
    return names;
  }

  /**
   * The keys of one hash slot live at `nowMs`: how many, and the first `limit` of them found
   * (CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT): a walk of that slot's table.
   */
  keysInSlot(slot: number, nowMs: number, limit: number): { count: number; keys: Buffer[] } {
    let count = 0;
    const keys: Buffer[] = [];
    const table = this.tables.of(slot);
    table?.forEach((entry) => {
      if (expired(table, entry, nowMs)) return;
      count++;
      if (keys.length < limit) keys.push(Buffer.from(entry.name, 'latin1'));
    });
    return { count, keys };
  }

  /** Whether the key named `name` (latin1) is live at `nowMs`; for filtering SCAN results. */
  isLiveName(name: string, nowMs: number): boolean {
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    return entry !== undefined && !expired(keys!, entry, nowMs);
  }

  /** The value of the key named `name` (latin1) if live at `nowMs`. */
  getByName(name: string, nowMs: number): Value | undefined {
    const keys = this.tables.ofName(name);
    const entry = keys?.find(name);
    if (entry === undefined || expired(keys!, entry, nowMs)) return undefined;
    return valueOfStored(entry.value);
  }

  /**
   * A random key live at `nowMs`, or null when there is none. Not uniform (Redis's is not
   * either): a random bucket, then a random key in it. After RANDOM_KEY_TRIES expired picks it
   * searches linearly, so that a keyspace of mostly expired keys still answers correctly.
   */
  randomKey(nowMs: number, random: () => number): Buffer | null {
    if (this.tables.size === 0) return null;
    for (let attempt = 0; attempt < RANDOM_KEY_TRIES; attempt++) {
      const entry = this.tables.randomEntry(random);
      if (entry === undefined) break;
      if (!expired(this.tables.ofName(entry.name)!, entry, nowMs)) return Buffer.from(entry.name, 'latin1');
    }
    const live = this.liveKeyNames(nowMs);
    if (live.length === 0) return null;
    return Buffer.from(live[Math.floor(random() * live.length)]!, 'latin1');
  }

  /**
   * Up to `count` distinct keys drawn uniformly from the keys that have a TTL (expired or not):
   * the leader's active-expiry cycle checks them and proposes deletes for the expired ones.
   * `random` returns floats in [0, 1).
   */
  sampleKeysWithTtl(count: number, random: () => number): Buffer[] {
    const total = this.tables.countWithTtl;
    const keys: Buffer[] = [];
    if (count >= total) {
      for (let k = 0; k < total; k++) keys.push(Buffer.from(this.tables.withTtlAt(k).name, 'latin1'));
      return keys;
    }
    const picked = new Set<number>();
    while (picked.size < count) picked.add(Math.floor(random() * total));
    for (const k of picked) keys.push(Buffer.from(this.tables.withTtlAt(k).name, 'latin1'));
    return keys;
  }

  /**
   * A split: hands every key whose hash slot is in `slots` (expired ones included: they are state
   * until a replicated delete removes them), with its value and expiry, to a new keyspace that
   * owns exactly `slots`; this one stops owning them. The slots' tables move as they are, so it is
   * O(slots) whatever the number of keys, and the same on every replica (it runs inside the apply
   * of one entry). A snapshot image being read is cancelled (keyspace_image.ts, Cancelling).
   */
  extractSlots(slots: SlotSet): Keyspace {
    const out = new Keyspace();
    out.owned = slots.copy();
    // The entries carry stamps of this keyspace's images: the new keyspace's images must be above them.
    out.imageGeneration = this.imageGeneration;
    if (this.image !== null) {
      const image = this.image;
      this.image = null;
      image.cancel('the group gave slots to a new group while the image was read');
    }
    for (const [first, last] of slots.ranges()) {
      for (let slot = first; slot <= last; slot++) {
        const keys = this.tables.take(slot);
        if (keys !== undefined) out.tables.put(keys);
      }
    }
    const kept = this.owned.copy();
    for (const range of slots.ranges()) kept.removeRange(range);
    this.owned = kept;
    return out;
  }

  /**
   * A point-in-time copy of every key (expired ones included), made synchronously: values are
   * shared, but it allocates a record per key and blocks the event loop for the whole copy. For tests and
   * small keyspaces; a node takes `beginSnapshot()`. Works whether or not an image is active.
   */
  snapshot(): KeyRecord[] {
    const records: KeyRecord[] = [];
    this.tables.forEach((entry, keys) => records.push(recordOf({ name: entry.name, value: entry.value, expireAt: keys.expiryOf(entry) })));
    return records;
  }

  /** Discards all state, then loads `records` (as a snapshot produced them). */
  restore(records: Iterable<KeyRecord>): void {
    this.clear();
    for (const record of records) {
      this.set(record.key, record.value, record.expireAt ?? NO_EXPIRY);
    }
  }

  /** `hash` is hashName(name), already computed by the lookup that found no entry. */
  private insert(keys: SlotKeys, name: string, hash: number, value: StoredValue, expireAt: number): void {
    // Born stamped while an image tracks: its walk must not yield a key it did not start with.
    const imageStamp = this.image === null ? 0 : this.image.generation;
    const entry: Entry = { name, hash, prev: undefined, next: undefined, value, ttlSlot: -1, imageStamp };
    this.tables.add(keys, entry, hash);
    this.tables.setExpiry(keys, entry, expireAt);
  }

  private remove(keys: SlotKeys, entry: Entry): void {
    if (this.image !== null) this.image.preserve(entry);
    this.tables.remove(keys, entry);
  }

  /** The tracking image keeps the structures it walks; the keyspace stops writing them. */
  private detachImage(): void {
    if (this.image === null) return;
    this.image.detach();
    this.image = null;
  }
}

/** Whether the key has expired at `nowMs` (logically absent: see the class comment). */
function expired(keys: SlotKeys, entry: Entry, nowMs: number): boolean {
  return entry.ttlSlot !== -1 && keys.ttlAt[entry.ttlSlot]! <= nowMs;
}

function recordOf(key: ImageKey): KeyRecord {
  return {
    key: Buffer.from(key.name, 'latin1'),
    value: valueOfStored(key.value),
    expireAt: key.expireAt === NO_EXPIRY ? null : key.expireAt,
  };
}
