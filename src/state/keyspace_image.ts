import { QuorumError } from '../util/errors.js';
import type { KeyRecord, StoredValue } from './keyspace.js';
import type { ScanEntry } from './scan_table.js';

/**
 * A point-in-time image of a keyspace that is read lazily while the keyspace keeps changing:
 * what `Keyspace.beginSnapshot()` returns. Yields every key of the keyspace as it was when the
 * image was begun (expired-but-not-deleted keys and TTLs included), each exactly once, in no
 * particular order, however many event-loop turns the caller takes and whatever is applied
 * meanwhile. One pass: it can be iterated once.
 */
export interface KeyspaceImage extends Iterable<KeyRecord> {
  /**
   * The next key of the same single pass, without allocating a record: the snapshot writer's way
   * through a large image (iterating KeyRecords allocates a record and a key Buffer per key).
   * The result is valid only until the keyspace is next written or `nextKey` is next called:
   * encode it at once. undefined once every key was returned (the image is then released).
   * Use either this or the iterator, not both.
   */
  nextKey(): ImageKey | undefined;
  /** Keys in the image (known up front: the keyspace's size when it was begun). */
  readonly size: number;
  /**
   * Keys whose start value the image had to copy because they were written before the iteration
   * reached them (Redis's `current_cow_size`, in keys): the memory it holds beyond the keyspace's.
   */
  readonly copiedKeys: number;
  /**
   * Stops tracking and drops what the image holds. Idempotent; called automatically when the
   * iteration finishes or is broken off (`return()`). Iterating a released image throws.
   */
  release(): void;
}

/** Whether `err` (or an error it was caused by) says that a keyspace image was cancelled by a split. */
export function isImageCancelled(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof KeyspaceImageError && e.code === KeyspaceImageErrorCode.Cancelled) return true;
  return false;
}

/**
 * Copy-on-write without copying the keyspace (the scheme of Redis's fork, by hand): the image
 * walks the live tables and, for the few keys written before the walk reached them, remembers
 * their value as it was (a pre-image). Every keyspace entry carries `imageStamp`; an entry whose
 * stamp is the image's generation is one the walk must not yield:
 *
 *   entry of the image's start state, not stamped ── walk reaches it ──► yielded, stamped
 *        │
 *        └── first write (in-place set/overwrite/expiry change, or removal) ──► pre-image
 *            recorded, entry stamped; the pre-image is yielded after the walk
 *   entry inserted while the image tracks ──► stamped at birth (a new key, or a key recreated
 *            after a delete: its start value is a pre-image already, or was yielded already)
 *
 * The walk is SCAN's: slot after slot, each slot's table bucket after bucket in reverse-binary
 * cursor order (SlotTables, ScanTable), one bucket's chain copied into a small buffer at a time
 * and yielded from it one entry per `nextKey`, while applies go on between calls and may grow or
 * shrink a table, drop an emptied one or make a new one. Why each key of the start state is
 * yielded exactly once:
 *
 *   - at least once: an entry never written is never removed either (a removal is a write), so it
 *     is in its slot's table for the whole walk (which therefore is never dropped), and the
 *     reverse-binary cursor visits every such entry at least once however the table is resized
 *     between steps (Redis's dictScan guarantee). It is yielded from that bucket's buffer unless
 *     stamped, i.e. unless already yielded. An entry written before the walk reached it is yielded
 *     as its pre-image instead. A split that hands slots' tables to a new group while the image
 *     tracks records a pre-image of each of their entries not yet yielded first (it is a removal
 *     of those keys from this keyspace).
 *   - at most once: yielding stamps, and so does recording a pre-image; a stamped entry is never
 *     yielded by the walk and never gets a second pre-image. That covers the buckets a shrink
 *     folds back in front of the cursor (dictScan may then visit an entry twice), entries moved by
 *     a resize, and entries removed after their bucket was buffered (stamped by that removal).
 *   - nothing else: an entry inserted during the walk is stamped at birth, so a bucket that holds
 *     it when the cursor gets there skips it.
 *
 * Memory: one record per key written before the walk reached it, and one bucket's chain (the
 * buffer), not a copy of the keyspace.
 *
 * Detaching: `clear()` and `adopt()` replace the keyspace's tables instead of emptying them. The
 * image keeps walking the old ones, which nothing writes any more, so it needs no more tracking:
 * the keyspace drops it (`detach`) and the image stays a correct image of the state it was begun
 * on until it is iterated or released.
 *
 *   tracking ──clear()/adopt()──► detached ──┐
 *      │                                     ├── iteration ends / release() ──► released
 *      ├─────────────────────────────────────┘
 *      └──split (extractSlots)──► cancelled: the next `nextKey` throws KEYSPACE_IMAGE_CANCELLED
 *
 * Cancelling: a split hands whole slots' tables to a new keyspace, which then writes their entries
 * without telling this image. Keeping the image correct would take a pre-image of every moved key
 * it has not yielded yet, inside the split's apply: the O(keys) work per-slot tables exist to
 * avoid. So a split cancels the image instead, in O(1); the snapshot it was for is taken again.
 */

/**
 * One key of an image: a walked entry's fields as they are (in one object the image refills, so
 * the walk allocates nothing per key), or a pre-image.
 */
export interface ImageKey {
  /** The key, latin1 (one char per byte). */
  readonly name: string;
  /** As the keyspace stores it (a latin1 string, or a Buffer for a large value): encode it as is. */
  readonly value: StoredValue;
  /** Absolute Unix ms, or -1 (NO_EXPIRY) for none. */
  readonly expireAt: number;
}

/** What the image needs of a keyspace entry (its expiry comes from the tables: `expiryOf`). */
export interface ImageEntry extends ScanEntry {
  /** As the keyspace stores it; never mutated in place (keyspace.ts, ownership). */
  readonly value: StoredValue;
  /** The generation of the image that must not yield this entry from its walk (0: none). */
  imageStamp: number;
}

export const KeyspaceImageErrorCode = {
  /** beginSnapshot() while another image is still tracking the same keyspace. */
  Active: 'KEYSPACE_IMAGE_ACTIVE',
  /** An image iterated twice, or after it was released; `adopt` of a keyspace with an image. */
  InvalidState: 'KEYSPACE_IMAGE_INVALID_STATE',
  /** The keyspace gave slots to a new group while the image was read: take a new one. */
  Cancelled: 'KEYSPACE_IMAGE_CANCELLED',
} as const;
export type KeyspaceImageErrorCode = (typeof KeyspaceImageErrorCode)[keyof typeof KeyspaceImageErrorCode];

/** A misuse of a keyspace image: a programming error of the caller, nothing was changed. */
export class KeyspaceImageError extends QuorumError {
  override readonly name = 'KeyspaceImageError';
  declare readonly code: KeyspaceImageErrorCode;

  constructor(code: KeyspaceImageErrorCode, message: string) {
    super(code, message, 'fail');
  }
}

/**
 * What the image walks: the keyspace's tables with SCAN's cursor (slot_tables.ts), and the expiry
 * of an entry found there.
 */
export interface WalkedTable<E extends ImageEntry> {
  readonly size: number;
  /** The entries of the cursor's bucket into out[0..count); returns count. */
  copyBucket(cursor: number, out: E[]): number;
  /** The cursor after `cursor`'s bucket; 0 once the walk is complete. */
  nextCursor(cursor: number): number;
  /** An entry's expiry (absolute ms, or -1), as of these tables. */
  expiryOf(entry: E): number;
}

/**
 * The image as the keyspace drives it: `preserve(entry)` before the first write to an entry,
 * `generation` as the stamp of entries inserted while it tracks, `detach()` when the keyspace
 * stops writing the walked table.
 */
export class CopyOnWriteImage<E extends ImageEntry> implements KeyspaceImage {
  readonly size: number;
  private walked: WalkedTable<E> | null;
  private preImages: ImageKey[] = [];
  private copied = 0;
  private released = false;
  /** The single pass: `started` by the first call; `finished` once every key was returned. */
  private started = false;
  private walking = true;
  /** The walk's next bucket, a SCAN cursor. */
  private cursor = 0;
  /** The cursor came back to 0: `bucket` is the walk's last. */
  private lastBucket = false;
  /**
   * The last bucket's chain as it was when the walk stepped to it: bucket[bucketIndex..bucketLength)
   * still to consider. Slots past bucketLength may hold entries of earlier buckets until the walk ends.
   */
  private bucket: E[] = [];
  private bucketIndex = 0;
  private bucketLength = 0;
  /** What `nextKey` returns for a walked entry, refilled each time (valid until the next call). */
  private readonly current: { name: string; value: StoredValue; expireAt: number } = { name: '', value: '', expireAt: -1 };
  private preImageIndex = 0;
  private finished = false;
  /** Why the image was cancelled (see Cancelling), or null. */
  private cancelledBecause: string | null = null;

  /**
   * @param generation  above every stamp any entry of `walked` carries
   * @param walked      the keyspace's live tables; entries are never stamped with `generation` yet
   * @param recordOf    a key as a record, for the iterator
   * @param stopTracking called once, on release, if the keyspace still tracks this image
   */
  constructor(
    readonly generation: number,
    walked: WalkedTable<E>,
    private readonly recordOf: (key: ImageKey) => KeyRecord,
    private stopTracking: ((image: CopyOnWriteImage<E>) => void) | null,
  ) {
    this.size = walked.size;
    this.walked = walked;
  }

  /**
   * Before every write to `entry` (in place or a removal) while this image tracks the keyspace,
   * which is never after release: releasing stops the tracking.
   */
  preserve(entry: E): void {
    if (entry.imageStamp === this.generation) return;
    entry.imageStamp = this.generation;
    // Values are never mutated in place (keyspace.ts, ownership): sharing the value is a copy.
    this.preImages.push({ name: entry.name, value: entry.value, expireAt: this.walked!.expiryOf(entry) });
    this.copied++;
  }

  get copiedKeys(): number {
    return this.copied;
  }

  /** The keyspace no longer writes the walked table (it was replaced by clear/adopt). */
  detach(): void {
    this.stopTracking = null;
  }

  /** The keyspace gave away slots: stops tracking; reading on throws KEYSPACE_IMAGE_CANCELLED. */
  cancel(reason: string): void {
    if (this.released) return;
    this.cancelledBecause = reason;
    this.release();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.walked = null;
    this.bucket = [];
    this.preImages = [];
    const stop = this.stopTracking;
    this.stopTracking = null;
    stop?.(this);
  }

  nextKey(): ImageKey | undefined {
    if (this.finished) return undefined;
    if (!this.started) this.startPass();
    this.checkNotReleased();
    if (this.walking) {
      const entry = this.nextWalked();
      if (entry !== undefined) {
        const current = this.current;
        current.name = entry.name;
        current.value = entry.value;
        current.expireAt = this.walked!.expiryOf(entry);
        return current;
      }
      this.walking = false;
      this.bucket = [];
    }
    // Every entry of the walked table is stamped now, so no pre-image is added any more.
    if (this.preImageIndex < this.preImages.length) return this.preImages[this.preImageIndex++]!;
    this.finished = true;
    this.release();
    return undefined;
  }

  [Symbol.iterator](): Iterator<KeyRecord> {
    this.startPass();
    // A plain iterator rather than a generator: `return()` must release even before the first
    // `next()` (a generator not yet started skips its `finally`).
    const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
    return {
      next: (): IteratorResult<KeyRecord> => {
        const key = this.nextKey();
        return key === undefined ? done : { done: false, value: this.recordOf(key) };
      },
      return: (): IteratorResult<KeyRecord> => {
        this.finished = true;
        this.release();
        return done;
      },
    };
  }

  private startPass(): void {
    if (this.cancelledBecause !== null) this.checkNotReleased();
    if (this.released) throw new KeyspaceImageError(KeyspaceImageErrorCode.InvalidState, 'keyspace image iterated after it was released');
    if (this.started) throw new KeyspaceImageError(KeyspaceImageErrorCode.InvalidState, 'a keyspace image can be iterated only once');
    this.started = true;
  }

  /** The next entry of the walk not stamped yet, stamping it; undefined once the cursor is back at 0. */
  private nextWalked(): E | undefined {
    const generation = this.generation;
    const table = this.walked!;
    const bucket = this.bucket;
    for (;;) {
      while (this.bucketIndex < this.bucketLength) {
        const entry = bucket[this.bucketIndex++]!;
        if (entry.imageStamp === generation) continue;
        entry.imageStamp = generation;
        return entry;
      }
      if (this.lastBucket) return undefined;
      // One step, with no write between reading the bucket and computing the next cursor.
      this.bucketLength = table.copyBucket(this.cursor, bucket);
      this.bucketIndex = 0;
      this.cursor = table.nextCursor(this.cursor);
      this.lastBucket = this.cursor === 0;
    }
  }

  private checkNotReleased(): void {
    if (this.cancelledBecause !== null) throw new KeyspaceImageError(KeyspaceImageErrorCode.Cancelled, `keyspace image cancelled: ${this.cancelledBecause}`);
    if (this.released) throw new KeyspaceImageError(KeyspaceImageErrorCode.InvalidState, 'keyspace image released during its iteration');
  }
}
