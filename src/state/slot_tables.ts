import { nameHashSlot, slotCount } from './hash_slot.js';
import type { ImageEntry, WalkedTable } from './keyspace_image.js';
import type { StoredValue } from './keyspace.js';
import { ScanTable } from './scan_table.js';
import { SlotCounts } from './slot_counts.js';

/**
 * One key. Every field holds a pointer or a Smi (V8's inline small integer): no field is a double,
 * because once any object of a shape stores a non-Smi number in a field, V8 gives every object of
 * that shape a 16 B box for it. So the expiry (an absolute ms time, ~1.7e12, never a Smi) is not
 * here: a key with a TTL has a slot in its table's `withTtl`/`ttlAt`, and a key without one costs
 * one Smi.
 */
export interface KeyEntry extends ImageEntry {
  value: StoredValue;
  /** Index in its SlotKeys' `withTtl` and `ttlAt`, or -1 when the key has no TTL. */
  ttlSlot: number;
}

/** An expiry that is none (the PTTL reply for a key without a TTL). */
const NO_EXPIRY = -1;

/**
 * Approximate cost, in bytes, of one key beyond its key and value bytes: the entry object (80:
 * 7 fields and 3 header words, 8 B each without pointer compression), the key's and the value's
 * string headers and padding (~16 + ~20), the table's bucket slot (8-16, with the fill).
 * Calibrated with `npm run bench:keyspace-memory` (see docs/performance.md); recalibrate when the
 * entry's shape changes. A value kept as a Buffer costs a little more, under 2% of it: not
 * counted. It is an estimate for INFO and `maxmemory`, not an accounting of V8's heap.
 */
const PER_KEY_OVERHEAD_BYTES = 126;
/** Extra cost of a key with a TTL: its places in `withTtl` and `ttlAt`. */
const PER_TTL_OVERHEAD_BYTES = 16;
/**
 * Cost of a slot's table of its own, beyond its keys: the object, its arrays' headers and their
 * slack (`npm run bench:keyspace-memory` measured 7 B more per key at 1,000,000 keys, over 16,384
 * tables, than with one table for the keyspace).
 */
export const PER_TABLE_OVERHEAD_BYTES = 400;

/**
 * The keys of one hash slot: its own table (it is one, rather than holding one: a lookup reaches
 * the slot's table through one object fewer) and its keys that have a TTL.
 */
export class SlotKeys extends ScanTable<KeyEntry> {
  /**
   * Keys with a TTL, as Redis's `expires` dict: an array for O(1) uniform sampling by the
   * leader's active-expiry cycle, with each entry's index in `ttlSlot` (swap-remove on delete).
   */
  readonly withTtl: KeyEntry[] = [];
  /**
   * The expiry (absolute ms) of `withTtl[i]`. A JS array of only numbers is stored unboxed
   * (V8's PACKED_DOUBLE_ELEMENTS: 8 B each), where a field or a record would box each one.
   */
  readonly ttlAt: number[] = [];
  /** Approximate bytes of this slot's table, keys, values and TTLs (see PER_KEY_OVERHEAD_BYTES). */
  memoryBytes = PER_TABLE_OVERHEAD_BYTES;

  constructor(readonly slot: number) {
    super();
  }

  /** Absolute ms, or NO_EXPIRY. */
  expiryOf(entry: KeyEntry): number {
    return entry.ttlSlot === -1 ? NO_EXPIRY : this.ttlAt[entry.ttlSlot]!;
  }
}

/**
 * The keyspace's keys, one table per hash slot (Redis 7.4's kvstore in cluster mode): a split
 * hands whole slots' tables to the new group, which is O(slots) whatever the number of keys, where
 * one table for the whole keyspace made it visit, hash and move every key inside the split's
 * apply. Only slots holding keys have a table; a table that empties is dropped.
 *
 * Cursors (SCAN, and the copy-on-write image's walk) go slot by slot, each slot's table with its
 * own reverse-binary cursor:
 *
 *   cursor = tableCursor × 16384 + slot
 *
 * so a cursor keeps SCAN's guarantee within each slot's table, and visits the slots in order:
 * a split gives away the slots from S on, so a walk that continues in the parent simply finds no
 * more tables there. A cursor stays below 2^41 (a table's cursor is below its bucket count).
 */
export class SlotTables implements WalkedTable<KeyEntry> {
  private readonly slots: (SlotKeys | undefined)[] = new Array<SlotKeys | undefined>(slotCount).fill(undefined);
  /** Keys per slot: the total, the k-th key's slot, the next slot with keys. */
  private readonly keys = new SlotCounts();
  /** Keys with a TTL per slot: uniform samples for active expiry. */
  private readonly ttlKeys = new SlotCounts();
  private memory = 0;
  /**
   * The last name whose slot was computed, and that slot: a write looks its key up and then sets
   * it (two lookups of one name), so the second skips the CRC16.
   */
  private lastName = '';
  private lastSlot = 0;

  get size(): number {
    return this.keys.total;
  }

  get countWithTtl(): number {
    return this.ttlKeys.total;
  }

  get memoryBytes(): number {
    return this.memory;
  }

  /** The table of `slot`, if it holds keys. */
  of(slot: number): SlotKeys | undefined {
    return this.slots[slot];
  }

  /** The hash slot of the key named `name` (latin1). */
  slotOf(name: string): number {
    if (name !== this.lastName) {
      this.lastSlot = nameHashSlot(name);
      this.lastName = name;
    }
    return this.lastSlot;
  }

  /** The table the key named `name` (latin1) belongs in, if it holds keys. */
  ofName(name: string): SlotKeys | undefined {
    return this.slots[this.slotOf(name)];
  }

  /** The table of `slot`, made if it holds no keys yet. */
  ensure(slot: number): SlotKeys {
    let keys = this.slots[slot];
    if (keys === undefined) {
      this.slots[slot] = keys = new SlotKeys(slot);
      this.memory += keys.memoryBytes;
    }
    return keys;
  }

  /** Links a new entry (its name not in the table) and accounts for it; then `setExpiry`. */
  add(keys: SlotKeys, entry: KeyEntry, hash: number): void {
    keys.add(entry, hash);
    this.keys.add(keys.slot, 1);
    this.addMemory(keys, PER_KEY_OVERHEAD_BYTES + entry.name.length + entry.value.length);
  }

  /** Unlinks an entry and its TTL; drops the slot's table once it is empty. */
  remove(keys: SlotKeys, entry: KeyEntry): void {
    this.setExpiry(keys, entry, NO_EXPIRY);
    keys.remove(entry);
    this.keys.add(keys.slot, -1);
    this.addMemory(keys, -(PER_KEY_OVERHEAD_BYTES + entry.name.length + entry.value.length));
    if (keys.size === 0 && this.slots[keys.slot] === keys) {
      this.slots[keys.slot] = undefined;
      this.memory -= keys.memoryBytes;
    }
  }

  /** Replaces an entry's value in place (the caller preserved it for an image first). */
  setValue(keys: SlotKeys, entry: KeyEntry, value: StoredValue): void {
    this.addMemory(keys, value.length - entry.value.length);
    entry.value = value;
  }

  /** Sets or clears (NO_EXPIRY) an entry's expiry. */
  setExpiry(keys: SlotKeys, entry: KeyEntry, expireAt: number): void {
    const index = entry.ttlSlot;
    if (expireAt === NO_EXPIRY) {
      if (index === -1) return;
      const last = keys.withTtl.pop()!;
      const lastAt = keys.ttlAt.pop()!;
      if (last !== entry) {
        keys.withTtl[index] = last;
        keys.ttlAt[index] = lastAt;
        last.ttlSlot = index;
      }
      entry.ttlSlot = -1;
      this.ttlKeys.add(keys.slot, -1);
      this.addMemory(keys, -PER_TTL_OVERHEAD_BYTES);
    } else if (index === -1) {
      entry.ttlSlot = keys.withTtl.length;
      keys.withTtl.push(entry);
      keys.ttlAt.push(expireAt);
      this.ttlKeys.add(keys.slot, 1);
      this.addMemory(keys, PER_TTL_OVERHEAD_BYTES);
    } else {
      keys.ttlAt[index] = expireAt;
    }
  }

  /** The expiry of an entry of these tables (absolute ms, or NO_EXPIRY): the image's way to it. */
  expiryOf(entry: KeyEntry): number {
    return entry.ttlSlot === -1 ? NO_EXPIRY : this.slots[nameHashSlot(entry.name)]!.ttlAt[entry.ttlSlot]!;
  }

  /** Takes a slot's table out (a split), with its keys' counts; undefined if it holds no keys. */
  take(slot: number): SlotKeys | undefined {
    const keys = this.slots[slot];
    if (keys === undefined) return undefined;
    this.slots[slot] = undefined;
    this.keys.add(slot, -keys.size);
    this.ttlKeys.add(slot, -keys.withTtl.length);
    this.memory -= keys.memoryBytes;
    return keys;
  }

  /** Puts a table taken from other tables in (a split's new group); its slot holds no keys here. */
  put(keys: SlotKeys): void {
    if (this.slots[keys.slot] !== undefined) throw new Error(`slot ${keys.slot} already holds keys`);
    this.slots[keys.slot] = keys;
    this.keys.add(keys.slot, keys.size);
    this.ttlKeys.add(keys.slot, keys.withTtl.length);
    this.memory += keys.memoryBytes;
  }

  /** A random entry: a slot drawn by its share of the keys, then a random entry of its table. */
  randomEntry(random: () => number): KeyEntry | undefined {
    if (this.size === 0) return undefined;
    const slot = this.keys.slotOf(Math.floor(random() * this.size));
    return this.slots[slot]!.randomEntry(random);
  }

  /** The k-th key with a TTL (0 <= k < countWithTtl), in slot order. */
  withTtlAt(k: number): KeyEntry {
    const slot = this.ttlKeys.slotOf(k);
    return this.slots[slot]!.withTtl[k - this.ttlKeys.before(slot)]!;
  }

  /** Every entry, slot by slot, each slot's table in SCAN's order. `visit` must not add or remove entries. */
  forEach(visit: (entry: KeyEntry, keys: SlotKeys) => void): void {
    for (let slot = this.keys.nextNonEmpty(0); slot >= 0; slot = this.keys.nextNonEmpty(slot + 1)) {
      const keys = this.slots[slot]!;
      keys.forEach((entry) => visit(entry, keys));
    }
  }

  /** Appends the names in the cursor's bucket to `out`; returns the next cursor (0: done). */
  scanBucket(cursor: number, out: string[]): number {
    const slot = cursor % slotCount;
    this.slots[slot]?.scanBucket((cursor - slot) / slotCount, out);
    return this.nextCursor(cursor);
  }

  /** The entries of the cursor's bucket into out[0..count); returns count (see ScanTable.copyBucket). */
  copyBucket(cursor: number, out: KeyEntry[]): number {
    const slot = cursor % slotCount;
    return this.slots[slot]?.copyBucket((cursor - slot) / slotCount, out) ?? 0;
  }

  /** The cursor after `cursor`'s bucket: the slot's next bucket, else the next slot holding keys; 0: done. */
  nextCursor(cursor: number): number {
    const slot = cursor % slotCount;
    const table = this.slots[slot];
    if (table !== undefined) {
      const next = table.nextCursor((cursor - slot) / slotCount);
      if (next !== 0) return next * slotCount + slot;
    }
    const following = this.keys.nextNonEmpty(slot + 1);
    return following < 0 ? 0 : following;
  }

  private addMemory(keys: SlotKeys, delta: number): void {
    keys.memoryBytes += delta;
    this.memory += delta;
  }
}
