import { slotCount } from './hash_slot.js';

/** An inclusive range of hash slots, [first, last]. */
export type SlotRange = readonly [first: number, last: number];

/**
 * A set of hash slots (0..16383): which slots a group owns. One bit per slot (2 KiB), so a
 * membership test is a shift and a mask; ranges are the form it is written, logged and shown in.
 */
export class SlotSet {
  private readonly bits: Uint8Array;
  private count: number;

  private constructor(bits: Uint8Array, count: number) {
    this.bits = bits;
    this.count = count;
  }

  static empty(): SlotSet {
    return new SlotSet(new Uint8Array(slotCount / 8), 0);
  }

  static all(): SlotSet {
    return new SlotSet(new Uint8Array(slotCount / 8).fill(0xff), slotCount);
  }

  /** Throws RangeError for a range outside 0..16383 or with first > last. */
  static of(ranges: readonly SlotRange[]): SlotSet {
    const set = SlotSet.empty();
    for (const r of ranges) set.addRange(r);
    return set;
  }

  get size(): number {
    return this.count;
  }

  has(slot: number): boolean {
    return (this.bits[slot >> 3]! & (1 << (slot & 7))) !== 0;
  }

  addRange([first, last]: SlotRange): void {
    checkRange(first, last);
    for (let s = first; s <= last; s++) {
      if (!this.has(s)) {
        this.bits[s >> 3]! |= 1 << (s & 7);
        this.count++;
      }
    }
  }

  removeRange([first, last]: SlotRange): void {
    checkRange(first, last);
    for (let s = first; s <= last; s++) {
      if (this.has(s)) {
        this.bits[s >> 3]! &= ~(1 << (s & 7));
        this.count--;
      }
    }
  }

  /** The set as ascending, non-adjacent inclusive ranges. */
  ranges(): SlotRange[] {
    const out: SlotRange[] = [];
    let start = -1;
    for (let s = 0; s <= slotCount; s++) {
      const inSet = s < slotCount && this.has(s);
      if (inSet && start < 0) start = s;
      else if (!inSet && start >= 0) {
        out.push([start, s - 1]);
        start = -1;
      }
    }
    return out;
  }

  copy(): SlotSet {
    return new SlotSet(this.bits.slice(), this.count);
  }

  equals(other: SlotSet): boolean {
    if (other.count !== this.count) return false;
    for (let i = 0; i < this.bits.length; i++) if (this.bits[i] !== other.bits[i]) return false;
    return true;
  }

  /** `0-5460,10923-16383`, as CLUSTER NODES and the admin API write ranges. */
  toString(): string {
    return formatSlotRanges(this.ranges());
  }
}

export function formatSlotRanges(ranges: readonly SlotRange[]): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',');
}

/** Parses `0-5460,10923,12000-16383`; throws RangeError with a one-line reason. */
export function parseSlotRanges(text: string): SlotRange[] {
  if (text === '') return [];
  return text.split(',').map((part) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) throw new RangeError(`'${part}' is not a slot or a slot range`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    checkRange(first, last);
    return [first, last] as const;
  });
}

function checkRange(first: number, last: number): void {
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last >= slotCount || first > last) {
    throw new RangeError(`slot range ${first}-${last} is not within 0-${slotCount - 1}`);
  }
}

/**
 * The slots 0..16383 divided into `parts` contiguous ranges as `redis-cli --cluster create`
 * divides them among masters (3 parts: 0-5460, 5461-10922, 10923-16383), so that a newcomer sees
 * the ranges Redis Cluster would give.
 */
export function divideSlots(parts: number): SlotRange[] {
  if (!Number.isInteger(parts) || parts < 1 || parts > slotCount) throw new RangeError(`cannot divide the slots into ${parts} parts`);
  const out: SlotRange[] = [];
  const perPart = slotCount / parts;
  let first = 0;
  let cursor = 0;
  for (let i = 0; i < parts; i++) {
    let last = Math.round(cursor + perPart - 1);
    if (last > slotCount - 1 || i === parts - 1) last = slotCount - 1;
    out.push([first, last]);
    first = last + 1;
    cursor += perPart;
  }
  return out;
}
