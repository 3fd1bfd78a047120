/**
 * The index of one hash slot's keys (the keyspace keeps one per slot: slot_tables.ts): a
 * power-of-two table of buckets, each a doubly linked chain threaded through the entries
 * themselves (no per-bucket arrays), as Redis's dict. Lookups walk one chain (comparing the stored
 * hash before the name); SCAN, RANDOMKEY and the copy-on-write image's walk (keyspace_image.ts) go
 * through the buckets. It is the only index: a JS Map beside it would be a second lookup
 * structure over the same entries.
 *
 * The cursor is Redis's reverse-binary cursor (dictScan): the bucket index is incremented in
 * its *reversed* bits, so when the table doubles, bucket `b` splits into `b` and `b | size`,
 * both still ahead of the cursor, and when it halves, the buckets already visited fold into
 * ones whose reversed index is still behind it:
 *
 *     size 8, bucket bits b2 b1 b0, visited in the order of the reversed value b0 b1 b2:
 *       000 → 100 → 010 → 110 → 001 → 101 → 011 → 111 → (wraps to 0: done)
 *
 * So every entry present for a whole iteration is returned at least once, across any number of
 * resizes; after a shrink some may come twice. The table is resized all at once (not
 * incrementally as Redis does): a doubling of 1M keys costs a few tens of milliseconds once,
 * amortized O(1) per insert.
 *
 * The hash is fixed (not seeded), so cursors mean the same on every replica. A client that knows
 * the function can build keys that share a chain (Redis avoids that with a random seed per
 * process, which also makes its cursors meaningless on another server). Here a chain that grows
 * past LONG_CHAIN entries gets a JS Map of its own (V8 seeds its string hash per process) for
 * lookups: the chain keeps its order for SCAN, and lookups and inserts stay O(1) whatever keys a
 * client builds. Ordinary data never gets there (with at most one key per bucket on average, a
 * million keys' longest chain is ~10), so it costs nothing otherwise. Unlinking is O(1) as well:
 * that is why chains are doubly linked although Redis's are not; dropping `prev` would save
 * 8 B per key but make every removal walk its chain.
 */
export interface ScanEntry {
  /** The key, latin1 (one char per byte). */
  readonly name: string;
  /** hashName(name): below 2^30, so V8 keeps it a Smi in the entry (see hashName). */
  hash: number;
  prev: ScanEntry | undefined;
  next: ScanEntry | undefined;
}

const INITIAL_SIZE = 4;
/** A chain longer than this is indexed by a Map (see the file comment); below half of it, no more. */
const LONG_CHAIN = 32;
/** The bits of a hash kept (see hashName). */
const HASH_MASK = 0x3fffffff;
/** Shrink when fewer than 1 in MIN_FILL_DIVISOR buckets' worth of keys remain (Redis: 10%). */
const MIN_FILL_DIVISOR = 10;

/**
 * No `clear()`: the keyspace empties itself by replacing its table, so that a detached
 * copy-on-write image can keep walking the old one (keyspace_image.ts).
 */
export class ScanTable<T extends ScanEntry> {
  private buckets: (ScanEntry | undefined)[] = new Array<ScanEntry | undefined>(INITIAL_SIZE).fill(undefined);
  private mask = INITIAL_SIZE - 1;
  private count = 0;
  /** Lookup maps of the buckets whose chains are long (by bucket index), or null: none is. */
  private longChains: Map<number, Map<string, T>> | null = null;

  /** Entries in the table. */
  get size(): number {
    return this.count;
  }

  /** Buckets whose chain is long enough to be indexed by a Map (for tests and INFO). */
  get indexedChains(): number {
    return this.longChains?.size ?? 0;
  }

  /** The entry named `name`, if any. `hash` must be hashName(name) (a caller that inserts next passes it on to `add`). */
  find(name: string, hash: number = hashName(name)): T | undefined {
    const index = hash & this.mask;
    const indexed = this.longChains?.get(index);
    if (indexed !== undefined) return indexed.get(name);
    for (let entry = this.buckets[index]; entry !== undefined; entry = entry.next) {
      if (entry.hash === hash && entry.name === name) return entry as T;
    }
    return undefined;
  }

  /** Links an entry whose name is not in the table. `hash` must be hashName(entry.name). */
  add(entry: T, hash: number = hashName(entry.name)): void {
    entry.hash = hash;
    if (this.count >= this.buckets.length) this.resize(this.buckets.length * 2);
    this.link(entry);
    this.count++;
    const index = hash & this.mask;
    const indexed = this.longChains?.get(index);
    if (indexed !== undefined) indexed.set(entry.name, entry);
    else if (this.chainLongerThan(index, LONG_CHAIN)) this.indexChain(index);
  }

  remove(entry: T): void {
    const index = entry.hash & this.mask;
    const indexed = this.longChains?.get(index);
    if (indexed !== undefined) {
      indexed.delete(entry.name);
      if (indexed.size < LONG_CHAIN / 2) this.longChains!.delete(index);
    }
    if (entry.prev === undefined) this.buckets[index] = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next !== undefined) entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    this.count--;
    const size = this.buckets.length;
    if (size > INITIAL_SIZE && this.count * MIN_FILL_DIVISOR < size) this.resize(smallestSizeFor(this.count));
  }

  /** Appends the names in the cursor's bucket to `out`; returns the next cursor (0: done). */
  scanBucket(cursor: number, out: string[]): number {
    for (let entry = this.buckets[cursor & this.mask]; entry !== undefined; entry = entry.next) out.push(entry.name);
    return this.nextCursor(cursor);
  }

  /**
   * The entries of the cursor's bucket, written to out[0..count) (the rest of `out` is left as it
   * was, so one buffer serves a whole walk without reallocating); returns count. With
   * `nextCursor(cursor)` called before any write, a step of `scanBucket` for entries: the same
   * buckets, the same cursors, so the same guarantee across resizes between steps (the
   * copy-on-write image's walk).
   */
  copyBucket(cursor: number, out: T[]): number {
    let count = 0;
    for (let entry = this.buckets[cursor & this.mask]; entry !== undefined; entry = entry.next) out[count++] = entry as T;
    return count;
  }

  /**
   * Every entry, in SCAN's order (buckets by reversed cursor, each chain head first): the order of
   * a full scan, and of a copy-on-write image's walk while nothing writes, so that `snapshot()`
   * and an image list a quiet keyspace alike. `visit` must not add or remove entries.
   */
  forEach(visit: (entry: T) => void): void {
    const buckets = this.buckets;
    let cursor = 0;
    do {
      for (let entry = buckets[cursor & this.mask]; entry !== undefined; entry = entry.next) visit(entry as T);
      cursor = this.nextCursor(cursor);
    } while (cursor !== 0);
  }

  /** A random entry (a random non-empty bucket, then a random entry of its chain). */
  randomEntry(random: () => number): T | undefined {
    if (this.count === 0) return undefined;
    let head: ScanEntry | undefined;
    do {
      head = this.buckets[Math.floor(random() * this.buckets.length)];
    } while (head === undefined);
    let length = 0;
    for (let entry: ScanEntry | undefined = head; entry !== undefined; entry = entry.next) length++;
    let pick = Math.floor(random() * length);
    while (pick-- > 0) head = head!.next;
    return head as T;
  }

  /** The cursor after `cursor`'s bucket at the current size (its reversed bits plus one); 0: done. */
  nextCursor(cursor: number): number {
    let next = (cursor | ~this.mask) >>> 0;
    next = reverseBits32(next);
    next = (next + 1) >>> 0;
    return reverseBits32(next);
  }

  private link(entry: ScanEntry): void {
    const index = entry.hash & this.mask;
    const head = this.buckets[index];
    entry.prev = undefined;
    entry.next = head;
    if (head !== undefined) head.prev = entry;
    this.buckets[index] = entry;
  }

  private resize(size: number): void {
    const old = this.buckets;
    this.buckets = new Array<ScanEntry | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (let bucket of old) {
      while (bucket !== undefined) {
        const next: ScanEntry | undefined = bucket.next;
        this.link(bucket);
        bucket = next;
      }
    }
    // Bucket indexes changed: index afresh the chains that are long at the new size. Doubling
    // only splits chains, so a table that had no long chain still has none; halving merges
    // pairs of them, so it looks.
    if (size > old.length && this.longChains === null) return;
    this.longChains = null;
    for (let index = 0; index < size; index++) if (this.chainLongerThan(index, LONG_CHAIN)) this.indexChain(index);
  }

  private chainLongerThan(index: number, limit: number): boolean {
    let length = 0;
    for (let entry = this.buckets[index]; entry !== undefined; entry = entry.next) if (++length > limit) return true;
    return false;
  }

  private indexChain(index: number): void {
    const indexed = new Map<string, T>();
    for (let entry = this.buckets[index]; entry !== undefined; entry = entry.next) indexed.set(entry.name, entry as T);
    (this.longChains ??= new Map()).set(index, indexed);
  }
}

function smallestSizeFor(count: number): number {
  let size = INITIAL_SIZE;
  while (size < count) size *= 2;
  return size;
}

/**
 * FNV-1a over the latin1 chars (the key bytes), then murmur3's finalizer to mix the low bits; the
 * top two bits dropped. A full uint32 would not be a Smi (V8's small integers are 31 bits with
 * pointer compression, 32 signed without), so V8 would store every entry's `hash` as a 16 B boxed
 * number. The bucket index only ever uses `hash & mask`, and a mask never reaches 2^30 (the bucket
 * array is a V8 FixedArray, under 2^27 slots), so cursors are the same as with the full 32 bits.
 */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & HASH_MASK;
}

function reverseBits32(value: number): number {
  let v = value >>> 0;
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return ((v >>> 16) | (v << 16)) >>> 0;
}
