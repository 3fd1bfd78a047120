import { describe, expect, test } from 'vitest';
import { lookupAppliedCommand } from '../../src/commands/command_table.js';
import type { Reply } from '../../src/resp/reply.js';
import { Keyspace, MAX_STRING_STORED_BYTES, NO_EXPIRY, type KeyRecord } from '../../src/state/keyspace.js';
import { ChunkPacker } from '../../src/storage/snapshot_format.js';
import { encodeKeyRecord, loadStateImage, packedStateImage, stateImageRecords } from '../../src/state/snapshot_image.js';
import { canonical, loadFresh, visitable } from '../storage/snapshot_support.js';

/**
 * The keyspace stores a string value as a latin1 JS string, or as a Buffer past
 * MAX_STRING_STORED_BYTES (keyspace.ts, StoredValue). These check that no byte value is lost on
 * either side of that line: through set/get, a snapshot written from an image and loaded back,
 * and the commands that work on part of a string.
 */

const NOW = 1_700_000_000_000;
/** Every byte value once, in an order that is neither ascending nor ASCII-first. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 167 + 13) & 0xff));
/** `length` bytes cycling through every byte value. */
const cycling = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (255 - i) & 0xff));
const key = (name: string): Buffer => Buffer.from(name, 'latin1');

const VALUES: readonly [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['all bytes', ALL_BYTES],
  ['utf-8 lookalike', Buffer.from([0xc3, 0x28, 0xe2, 0x82, 0xa1, 0xf0, 0x9f, 0x92, 0xa9, 0xed, 0xa0, 0x80, 0x00])],
  ['at the limit', cycling(MAX_STRING_STORED_BYTES)],
  ['over the limit', cycling(MAX_STRING_STORED_BYTES + 1)],
  ['large', cycling(3 * MAX_STRING_STORED_BYTES + 7)],
];

function filled(): Keyspace {
  const ks = new Keyspace();
  VALUES.forEach(([name, value], i) => ks.set(key(name), { type: 'string', value: Buffer.from(value) }, i % 2 === 0 ? NO_EXPIRY : NOW + i));
  return ks;
}

function expectValues(ks: Keyspace): void {
  expect(ks.size).toBe(VALUES.length);
  VALUES.forEach(([name, value], i) => {
    expect(ks.get(key(name), NOW), name).toEqual({ type: 'string', value });
    expect(ks.expireAtOf(key(name), NOW), name).toBe(i % 2 === 0 ? NO_EXPIRY : NOW + i);
  });
}

describe('binary string values in the keyspace', () => {
  test('every byte value round-trips through set, get, getByName, lookupWrite and snapshot, on both sides of the limit', () => {
    const ks = filled();
    expectValues(ks);
    for (const [name, value] of VALUES) {
      expect(ks.getByName(name, NOW)).toEqual({ type: 'string', value });
      expect(ks.lookupWrite(key(name), NOW)).toEqual({ type: 'string', value });
    }
    const records = new Map(ks.snapshot().map((r: KeyRecord) => [r.key.toString('latin1'), r.value.value]));
    for (const [name, value] of VALUES) expect(records.get(name)).toEqual(value);
    // usedMemoryBytes counts a value's bytes, whichever form it is stored in.
    const empty = new Keyspace();
    empty.set(key('x'), { type: 'string', value: Buffer.alloc(0) });
    const base = empty.usedMemoryBytes;
    for (const [, value] of VALUES) {
      const one = new Keyspace();
      one.set(key('x'), { type: 'string', value });
      expect(one.usedMemoryBytes - base).toBe(value.length);
    }
  });

  test('a stored value shares nothing with the buffer it was set from, even a view into a larger one', () => {
    for (const [name, value] of VALUES) {
      const backing = Buffer.concat([Buffer.from('head'), value, Buffer.from('tail')]);
      const ks = new Keyspace();
      ks.set(key(name), { type: 'string', value: backing.subarray(4, 4 + value.length) });
      backing.fill(0x55);
      expect(ks.get(key(name), NOW), name).toEqual({ type: 'string', value });
      const stored = ks.get(key(name), NOW)!.value;
      // A kept Buffer is one of its own: it pins no larger buffer.
      expect(stored.buffer.byteLength === stored.length || stored.length <= MAX_STRING_STORED_BYTES, name).toBe(true);
    }
  });

  test('rename and overwrite keep the bytes', () => {
    const ks = filled();
    ks.rename(key('all bytes'), key('moved'));
    expect(ks.get(key('moved'), NOW)).toEqual({ type: 'string', value: ALL_BYTES });
    ks.overwrite(key('moved'), { type: 'string', value: cycling(MAX_STRING_STORED_BYTES + 1) });
    expect(ks.get(key('moved'), NOW)).toEqual({ type: 'string', value: cycling(MAX_STRING_STORED_BYTES + 1) });
  });
});

describe('binary string values through a snapshot', () => {
  /** Small chunks: the large values' records span several of them. */
  const chunkBytes = 4096;

  test('an image packed from the keyspace has the bytes of encodeKeyRecord, and loads back equal', async () => {
    const ks = filled();
    const packer = new ChunkPacker(chunkBytes);
    const records = packedStateImage(ks.beginSnapshot(), []);
    while (records.packInto(packer, 10_000) === 'more');
    packer.finish();
    const chunks = packer.take();

    // The byte format is the one encodeKeyRecord writes (the format older snapshots have).
    const reference = new ChunkPacker(chunkBytes);
    for (const record of stateImageRecords(ks.snapshot(), [])) reference.add(record);
    reference.finish();
    expect(chunks).toEqual(reference.take());

    const loaded = new Keyspace();
    expect(await loadStateImage(visitable(chunks), { keyspace: loaded, dedup: () => undefined })).toEqual({ keys: VALUES.length, dedup: 0 });
    for (const chunk of chunks) chunk.fill(0); // loaded values are copies, not views of a chunk
    expectValues(loaded);
    expect(loaded.usedMemoryBytes).toBe(ks.usedMemoryBytes);
  });

  test('records written by encodeKeyRecord load through both decoders', async () => {
    const records = VALUES.map(([name, value]) => encodeKeyRecord({ key: key(name), value: { type: 'string', value }, expireAt: null }));
    const packer = new ChunkPacker(chunkBytes);
    for (const record of records) packer.add(record);
    packer.finish();
    const loaded = new Keyspace();
    await loadStateImage(visitable(packer.take()), { keyspace: loaded, dedup: () => undefined });
    const decoded = await loadFresh(records);
    for (const [name, value] of VALUES) {
      expect(loaded.get(key(name), NOW)).toEqual({ type: 'string', value });
      expect(decoded.keyspace.get(key(name), NOW)).toEqual({ type: 'string', value });
    }
    expect(canonical({ keyspace: loaded, dedup: decoded.dedup })).toEqual(canonical(decoded));
  });
});

describe('binary string values through APPEND, SETRANGE and GETRANGE', () => {
  function run(ks: Keyspace, ...words: (string | Buffer)[]): Reply {
    const args = words.map((w) => (typeof w === 'string' ? Buffer.from(w, 'latin1') : w));
    const spec = lookupAppliedCommand(args[0]!);
    if (spec?.kind === 'write') {
      const prepared = spec.prepare(args, NOW);
      if (!Array.isArray(prepared)) return prepared as Reply;
      return spec.apply(ks, prepared as readonly Buffer[], NOW);
    }
    if (spec?.kind === 'read') return spec.read(ks, args, NOW, Math.random);
    throw new Error(`unknown command ${words[0]}`);
  }
  const bulk = (value: Buffer): Reply => ({ kind: 'bulk', value });

  test('APPEND across the limit, SETRANGE with binary patches, GETRANGE slices: the same bytes as a Buffer model', () => {
    const ks = new Keyspace();
    let model = Buffer.alloc(0);
    const check = (): void => {
      expect(run(ks, 'GET', 'k')).toEqual(bulk(model));
      expect(run(ks, 'STRLEN', 'k')).toEqual({ kind: 'integer', value: model.length });
    };

    // Grow by ALL_BYTES until past the limit: the stored form switches from string to Buffer.
    while (model.length <= MAX_STRING_STORED_BYTES + 256) {
      model = Buffer.concat([model, ALL_BYTES]);
      expect(run(ks, 'APPEND', 'k', ALL_BYTES)).toEqual({ kind: 'integer', value: model.length });
    }
    check();

    for (const offset of [0, 1, 255, MAX_STRING_STORED_BYTES - 3, model.length - 10, model.length + 5]) {
      const patch = cycling(40);
      const next = Buffer.alloc(Math.max(model.length, offset + patch.length));
      model.copy(next);
      patch.copy(next, offset);
      model = next;
      expect(run(ks, 'SETRANGE', 'k', String(offset), patch)).toEqual({ kind: 'integer', value: model.length });
      check();
    }

    for (const [start, end] of [[0, 255], [3, 3], [-256, -1], [MAX_STRING_STORED_BYTES - 5, MAX_STRING_STORED_BYTES + 5], [0, -1]] as const) {
      const s = start < 0 ? model.length + start : start;
      const e = end < 0 ? model.length + end : end;
      expect(run(ks, 'GETRANGE', 'k', String(start), String(end))).toEqual(bulk(model.subarray(s, e + 1)));
    }

    // A small key: SETRANGE into a string-stored value, and APPEND of every byte value to it.
    expect(run(ks, 'SET', 's', ALL_BYTES)).toEqual({ kind: 'simple', value: 'OK' });
    expect(run(ks, 'SETRANGE', 's', '128', Buffer.from([0x00, 0xff, 0x80]))).toEqual({ kind: 'integer', value: 256 });
    expect(run(ks, 'APPEND', 's', ALL_BYTES)).toEqual({ kind: 'integer', value: 512 });
    const small = Buffer.concat([ALL_BYTES, ALL_BYTES]);
    small.set([0x00, 0xff, 0x80], 128);
    expect(run(ks, 'GET', 's')).toEqual(bulk(small));
    expect(run(ks, 'GETRANGE', 's', '126', '132')).toEqual(bulk(small.subarray(126, 133)));
  });
});
