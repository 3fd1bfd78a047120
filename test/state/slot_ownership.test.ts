/**
 * A group's keyspace serves only its slots: an ownership entry sets them; a write for a key
 * outside them is refused with the wrong-group reply, changes nothing and is not remembered (so
 * its retry at the owning group applies there, once); a multi-key write is refused whole; and
 * the ownership travels with snapshots (an image without it serves every slot).
 */
import { describe, expect, it } from 'vitest';
import { ownSlotsArgs } from '../../src/commands/internal/own_slots.js';
import { commandCatalog } from '../../src/node/catalog.js';
import type { Reply } from '../../src/resp/reply.js';
import { wrongGroupSlot } from '../../src/state/command_keys.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { KvStateMachine } from '../../src/state/kv_state_machine.js';
import { SlotSet } from '../../src/state/slot_set.js';
import { WriteFlags, writeEntryWriter } from '../../src/state/write_entry.js';
import { ChunkPacker } from '../../src/storage/snapshot_format.js';
import { visitable } from '../storage/snapshot_support.js';

const b = (s: string): Buffer => Buffer.from(s);

function machine(): KvStateMachine {
  return new KvStateMachine({ newKeyspace: () => commandCatalog.newKeyspace(), resolveWrite: (name) => commandCatalog.resolveWrite(name) });
}

let index = 0;
function write(sm: KvStateMachine, args: Buffer[], requestId = `r${++index}`): Reply {
  const w = writeEntryWriter({ flags: WriteFlags.dedup, timeMs: 1_000, args });
  const buf = Buffer.alloc(w.size);
  w.writeTo(buf, 0);
  return sm.apply(++index, buf, requestId) as Reply;
}

// foo is in slot 12182, bar in 5061.
const low = SlotSet.of([[0, 8191]]);

describe('slot ownership', () => {
  it('serves every slot until the group is given its share', () => {
    const sm = machine();
    expect(sm.keyspace.ownsAllSlots).toBe(true);
    expect(write(sm, [b('set'), b('foo'), b('1')])).toEqual({ kind: 'simple', value: 'OK' });
  });

  it('refuses a write outside its slots, changes nothing, and does not remember it', () => {
    const sm = machine();
    expect(write(sm, ownSlotsArgs(low))).toEqual({ kind: 'simple', value: 'OK' });
    expect(sm.keyspace.ownedSlots.toString()).toBe('0-8191');
    const refused = write(sm, [b('set'), b('foo'), b('1')], 'retry-me');
    expect(wrongGroupSlot(refused)).toBe(keyHashSlot(b('foo')));
    expect(sm.keyspace.size).toBe(0);
    expect(sm.dedup.get('retry-me')).toBeUndefined();
    expect(write(sm, [b('set'), b('bar'), b('1')])).toEqual({ kind: 'simple', value: 'OK' });
    // The group is given foo's slot: the same request id is now applied, once.
    write(sm, ownSlotsArgs(SlotSet.all()));
    expect(write(sm, [b('incr'), b('foo')], 'retry-me')).toEqual({ kind: 'integer', value: 1 });
    expect(write(sm, [b('incr'), b('foo')], 'retry-me')).toEqual({ kind: 'integer', value: 1 });
  });

  it('refuses a multi-key write whole when one key is elsewhere', () => {
    const sm = machine();
    write(sm, ownSlotsArgs(low));
    const refused = write(sm, [b('mset'), b('bar'), b('1'), b('foo'), b('2')]);
    expect(wrongGroupSlot(refused)).toBe(keyHashSlot(b('foo')));
    expect(sm.keyspace.size).toBe(0);
    expect(write(sm, [b('del'), b('bar'), b('{bar}x')])).toEqual({ kind: 'integer', value: 0 });
  });

  it('keeps its slots through a snapshot, and an image without them serves every slot', async () => {
    const sm = machine();
    write(sm, ownSlotsArgs(SlotSet.of([[5000, 6000], [12000, 12999]])));
    write(sm, [b('set'), b('bar'), b('x')]);
    const image = sm.beginSnapshot();
    // Ownership changes after the image was begun: the image keeps what it was.
    write(sm, ownSlotsArgs(low));
    const packer = new ChunkPacker(1 << 16);
    while (image.records.packInto(packer, 1 << 20) === 'more');
    image.release();
    packer.finish();
    const restored = machine();
    (await restored.restore(visitable(packer.take())))();
    expect(restored.keyspace.ownedSlots.toString()).toBe('5000-6000,12000-12999');
    expect(restored.keyspace.get(b('bar'), 0)).toBeDefined();
    expect(wrongGroupSlot(write(restored, [b('set'), b('a'), b('1')]))).toBe(keyHashSlot(b('a')));
  });
});
