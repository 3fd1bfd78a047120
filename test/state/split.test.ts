/**
 * A split as the state machine applies it: the slots from the split slot on, with every key in
 * them and its TTL, move to the new group; the parent keeps the rest; the new group gets a copy of
 * the dedup table and the members; a split that would leave a side without slots is refused and
 * changes nothing; two replicas applying the same entries end in the same state (the split is
 * deterministic); a retried split entry is answered from the dedup table, not applied twice.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ownSlotsArgs } from '../../src/commands/internal/own_slots.js';
import { splitArgs } from '../../src/commands/internal/split.js';
import { commandCatalog } from '../../src/node/catalog.js';
import type { Reply } from '../../src/resp/reply.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { KvStateMachine, type SplitOff } from '../../src/state/kv_state_machine.js';
import { NO_EXPIRY } from '../../src/state/keyspace.js';
import { SlotSet } from '../../src/state/slot_set.js';
import { WriteFlags, writeEntryWriter } from '../../src/state/write_entry.js';
import { propertySeed } from '../support/seed.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function machine(splits: SplitOff[]): KvStateMachine {
  return new KvStateMachine({
    newKeyspace: () => commandCatalog.newKeyspace(),
    resolveWrite: (name) => commandCatalog.resolveWrite(name),
    onSplit: (s) => splits.push(s),
  });
}

function apply(sm: KvStateMachine, index: number, args: Buffer[], requestId: string, timeMs = 1_000): Reply {
  const w = writeEntryWriter({ flags: WriteFlags.dedup, timeMs, args });
  const buf = Buffer.alloc(w.size);
  w.writeTo(buf, 0);
  return sm.apply(index, buf, requestId) as Reply;
}

/** Every live key of a keyspace with its value and expiry. */
function contents(sm: KvStateMachine | SplitOff): [string, string, number][] {
  const ks = sm.keyspace;
  return ks
    .liveKeyNames(0)
    .sort()
    .map((name) => [name, ks.getByName(name, 0)!.value.toString('latin1'), ks.expireAtOf(b(name), 0)]);
}

describe('split', () => {
  it('moves the slots from the split slot on, with their keys and TTLs, and keeps the rest', () => {
    const splits: SplitOff[] = [];
    const sm = machine(splits);
    let i = 0;
    apply(sm, ++i, ownSlotsArgs(SlotSet.of([[0, 5460]])), `o`);
    const keys: string[] = [];
    for (let k = 0; keys.length < 200; k++) {
      const key = `k${k}`;
      if (keyHashSlot(b(key)) > 5460) continue;
      keys.push(key);
      apply(sm, ++i, k % 3 === 0 ? [b('set'), b(key), b(`v${k}`), b('pxat'), b('90000')] : [b('set'), b(key), b(`v${k}`)], `w${k}`);
    }
    expect(apply(sm, ++i, splitArgs('g4', 2730), 'split-1')).toEqual({ kind: 'simple', value: 'OK' });
    expect(splits).toHaveLength(1);
    const child = splits[0]!;
    expect(child.childGroupId).toBe('g4');
    expect(child.index).toBe(i);
    expect(sm.keyspace.ownedSlots.toString()).toBe('0-2729');
    expect(child.keyspace.ownedSlots.toString()).toBe('2730-5460');
    const parentKeys = contents(sm);
    const childKeys = contents(child);
    expect(parentKeys.length + childKeys.length).toBe(200);
    for (const [name] of parentKeys) expect(keyHashSlot(b(name))).toBeLessThan(2730);
    for (const [name, value, expireAt] of childKeys) {
      expect(keyHashSlot(b(name))).toBeGreaterThanOrEqual(2730);
      const k = Number(name.slice(1));
      expect(value).toBe(`v${k}`);
      expect(expireAt).toBe(k % 3 === 0 ? 90000 : NO_EXPIRY);
    }
    // The dedup table travels whole: a write applied before the split, retried at the new group.
    expect(child.dedup.map((r) => r.id)).toContain(`w${keys[0]!.slice(1)}`);
    // A retried split entry gets its first reply and splits nothing more.
    expect(apply(sm, ++i, splitArgs('g4', 2730), 'split-1')).toEqual({ kind: 'simple', value: 'OK' });
    expect(splits).toHaveLength(1);
  });

  it('refuses a split that would leave a side without slots, and changes nothing', () => {
    const splits: SplitOff[] = [];
    const sm = machine(splits);
    apply(sm, 1, ownSlotsArgs(SlotSet.of([[100, 200]])), 'o');
    apply(sm, 2, [b('set'), b('x'), b('1')], 'w');
    for (const at of [100, 50, 201, 16383]) {
      const reply = apply(sm, 3, splitArgs('g9', at), `s${at}`);
      expect(reply).toMatchObject({ kind: 'error' });
    }
    expect(splits).toHaveLength(0);
    expect(sm.keyspace.ownedSlots.toString()).toBe('100-200');
  });

  it('is deterministic: two replicas applying the same entries split into the same states', () => {
    const key = fc.stringMatching(/^[a-z{}]{1,6}$/);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key, ttl: fc.boolean() }),
      fc.record({ kind: fc.constant('del' as const), key }),
      fc.record({ kind: fc.constant('split' as const), at: fc.integer({ min: 1, max: 16383 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const splitsA: SplitOff[] = [];
        const splitsB: SplitOff[] = [];
        const a = machine(splitsA);
        const r = machine(splitsB);
        ops.forEach((o, n) => {
          const args =
            o.kind === 'set'
              ? o.ttl
                ? [b('set'), b(o.key), b(String(n)), b('pxat'), b(String(5_000 + n))]
                : [b('set'), b(o.key), b(String(n))]
              : o.kind === 'del'
                ? [b('del'), b(o.key)]
                : splitArgs(`g${n + 10}`, o.at);
          expect(apply(a, n + 1, args, `id${n}`)).toEqual(apply(r, n + 1, args, `id${n}`));
        });
        expect(contents(a)).toEqual(contents(r));
        expect(a.keyspace.ownedSlots.toString()).toBe(r.keyspace.ownedSlots.toString());
        expect(splitsA.map((s) => [s.childGroupId, s.index, contents(s), s.keyspace.ownedSlots.toString()])).toEqual(
          splitsB.map((s) => [s.childGroupId, s.index, contents(s), s.keyspace.ownedSlots.toString()]),
        );
        // Every key is in exactly one of the groups, the one that owns its slot.
        const all = [a, ...splitsA];
        for (const owner of all) for (const [name] of contents(owner)) expect(owner.keyspace.ownedSlots.has(keyHashSlot(b(name)))).toBe(true);
      }),
      propertySeed('split determinism', 150),
    );
  });
});

describe('Keyspace.extractSlots hands over the slots\' tables', () => {
  const names = Array.from({ length: 2000 }, (_, i) => `k:${i}`);
  const moved = SlotSet.empty();
  moved.addRange([8192, 16383]);
  const inMoved = (n: string): boolean => moved.has(keyHashSlot(b(n)));

  it('while an image of the parent is being read: the split cancels it (reading on throws KEYSPACE_IMAGE_CANCELLED), and both sides\' next images yield exactly their keys', () => {
    const parent = commandCatalog.newKeyspace();
    names.forEach((n, i) => parent.setByName(n, { type: 'string', value: b(n) }, i % 3 === 0 ? 5_000_000 + i : NO_EXPIRY));
    // The parent's first image, under way: its stamps (generation 1) are on the moved entries,
    // which the new keyspace's first image must not take for its own.
    const during = parent.beginSnapshot();
    expect(during.nextKey()).toBeDefined();
    const child = parent.extractSlots(moved);
    expect(() => during.nextKey()).toThrow(expect.objectContaining({ code: 'KEYSPACE_IMAGE_CANCELLED' }));
    expect(child.size).toBe(names.filter(inMoved).length);
    expect(parent.size).toBe(names.length - child.size);
    const described = (records: Iterable<{ key: Buffer; expireAt: number | null }>): string[] =>
      [...records].map((r) => `${r.key.toString('latin1')}@${r.expireAt}`).sort();
    const expected = (keep: (n: string) => boolean): string[] =>
      names.flatMap((n, i) => (keep(n) ? [`${n}@${i % 3 === 0 ? 5_000_000 + i : null}`] : [])).sort();
    for (let round = 0; round < 2; round++) {
      expect(described(child.beginSnapshot())).toEqual(expected(inMoved));
      expect(described(parent.beginSnapshot())).toEqual(expected((n) => !inMoved(n)));
    }
  });

  it('hands over the slots\' tables as they are, whatever their number of keys (a split is O(slots))', () => {
    const parent = commandCatalog.newKeyspace();
    for (const n of names) parent.setByName(n, { type: 'string', value: b(n) });
    type Tables = { of(slot: number): object | undefined };
    const tablesOf = (ks: typeof parent): Tables => (ks as unknown as { tables: Tables }).tables;
    const slot = keyHashSlot(b(names.find(inMoved)!));
    const before = tablesOf(parent).of(slot);
    expect(before).toBeDefined();
    const child = parent.extractSlots(moved);
    expect(tablesOf(child).of(slot)).toBe(before);
    expect(tablesOf(parent).of(slot)).toBeUndefined();
  });

  it('sizes the new keyspace as adding its keys one by one would: the same SCAN cursors', () => {
    const parent = commandCatalog.newKeyspace();
    const oneByOne = commandCatalog.newKeyspace();
    for (const n of names) {
      parent.setByName(n, { type: 'string', value: b(n) });
      if (inMoved(n)) oneByOne.setByName(n, { type: 'string', value: b(n) });
    }
    const child = parent.extractSlots(moved);
    const walk = (ks: typeof child): number[] => {
      const cursors: number[] = [];
      let cursor = 0;
      do {
        cursor = ks.scan(cursor, 10).cursor;
        cursors.push(cursor);
      } while (cursor !== 0);
      return cursors;
    };
    expect(walk(child)).toEqual(walk(oneByOne));
  });
});
