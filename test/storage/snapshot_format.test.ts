/**
 * The bytes of snapshot_format.ts and snapshot_image.ts: records framed into fixed-size chunks
 * and back (fed whole, and at split points fast-check picks), chunk checks, and the state image
 * codec for keys with and without TTLs and for the dedup table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SnapshotCorruptError } from '../../src/storage/snapshot_errors.js';
import {
  ChunkPacker,
  FieldReader,
  FieldWriter,
  RecordUnpacker,
  SnapshotFormatError,
  TotalsAccumulator,
  chunkHeaderBytes,
  openChunk,
  readDescriptor,
  writeDescriptor,
} from '../../src/storage/snapshot_format.js';
import { Keyspace, NO_EXPIRY } from '../../src/state/keyspace.js';
import {
  decodeImageRecord,
  encodeDedupRecord,
  encodeKeyRecord,
  encodeMembersRecord,
  loadStateImage,
  packedStateImage,
  stateImageRecords,
} from '../../src/state/snapshot_image.js';
import type { DedupRecord, MembersRecord } from '../../src/state/snapshot_image.js';
import { buildState, canonical, dedupRecordArb, descriptor, keyRecordArb, loadFresh, visitable } from './snapshot_support.js';
import { DedupTable } from '../../src/state/dedup_table.js';
import { propertyParameters } from './support.js';

const recordsArb = fc.array(fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 700 })), { maxLength: 60 });

function pack(records: readonly Uint8Array[], chunkBytes: number): { chunks: Buffer[]; packer: ChunkPacker } {
  const packer = new ChunkPacker(chunkBytes);
  const chunks: Buffer[] = [];
  for (const r of records) {
    packer.add(r);
    chunks.push(...packer.take());
  }
  packer.finish();
  chunks.push(...packer.take());
  return { chunks, packer };
}

function unpack(chunks: readonly Buffer[]): Buffer[] {
  const unpacker = new RecordUnpacker();
  const out: Buffer[] = [];
  chunks.forEach((chunk, seq) => {
    for (const r of unpacker.push(openChunk(chunk, seq))) out.push(Buffer.from(r));
  });
  unpacker.end();
  return out;
}

describe('chunks', () => {
  it('visit() delivers what push() returns, at any split points', () => {
    fc.assert(
      fc.property(recordsArb, fc.array(fc.nat(), { maxLength: 20 }), (records, cutSeeds) => {
        const stream = Buffer.concat(pack(records, 1 << 20).chunks.map((c) => c.subarray(chunkHeaderBytes)));
        const cuts = [...new Set(cutSeeds.map((s) => (stream.length === 0 ? 0 : s % stream.length)))].sort((a, b) => a - b);
        const unpacker = new RecordUnpacker();
        const out: Buffer[] = [];
        let from = 0;
        for (const cut of [...cuts, stream.length]) {
          unpacker.visit(stream.subarray(from, cut), (bytes, start, end) => out.push(Buffer.from(bytes.subarray(start, end))));
          from = cut;
        }
        unpacker.end();
        expect(out).toEqual(records.map((r) => Buffer.from(r)));
        expect(unpacker.recordCount).toBe(records.length);
      }),
      propertyParameters('snapshot unpacker visit split points', 200),
    );
  });

  it('reserve() frames a record as add() does, or refuses and changes nothing; recycled chunks give the same stream', () => {
    fc.assert(
      fc.property(recordsArb, fc.integer({ min: 1, max: 600 }), (records, chunkBytes) => {
        const packer = new ChunkPacker(chunkBytes);
        const chunks: Buffer[] = [];
        const takeAndRecycle = (): void => {
          const taken = packer.take();
          chunks.push(...taken.map((c) => Buffer.from(c))); // copies: the originals are refilled
          packer.recycle(taken);
        };
        for (const r of records) {
          const at = packer.reserve(r.length);
          if (at >= 0) packer.chunkBuffer.set(r, at);
          else packer.add(r);
          takeAndRecycle();
        }
        packer.finish();
        takeAndRecycle();
        const expected = pack(records, chunkBytes);
        expect(chunks).toEqual(expected.chunks);
        expect(packer.totals.totals()).toEqual(expected.packer.totals.totals());
      }),
      propertyParameters('snapshot packer reserve and recycle', 300),
    );
  });

  it('records framed into chunks come back the same, whatever the chunk size; every chunk but the last is full', () => {
    fc.assert(
      fc.property(recordsArb, fc.integer({ min: 1, max: 600 }), (records, chunkBytes) => {
        const { chunks, packer } = pack(records, chunkBytes);
        expect(unpack(chunks)).toEqual(records.map((r) => Buffer.from(r)));
        chunks.forEach((chunk, i) => {
          expect(chunk.length - chunkHeaderBytes).toBeGreaterThan(0);
          if (i < chunks.length - 1) expect(chunk.length).toBe(chunkHeaderBytes + chunkBytes);
        });
        const streamBytes = records.reduce((n, r) => n + 4 + r.length, 0);
        expect(packer.totals.totals()).toMatchObject({ chunkCount: chunks.length, recordCount: records.length, payloadBytes: streamBytes });
      }),
      propertyParameters('snapshot chunks round trip', 300),
    );
  });

  it('the unpacker gives the same records when payloads arrive split at any points', () => {
    fc.assert(
      fc.property(recordsArb, fc.array(fc.nat(), { maxLength: 20 }), (records, cutSeeds) => {
        const { chunks } = pack(records, 1 << 20);
        const stream = Buffer.concat(chunks.map((c) => c.subarray(chunkHeaderBytes)));
        const cuts = [...new Set(cutSeeds.map((s) => (stream.length === 0 ? 0 : s % stream.length)))].sort((a, b) => a - b);
        const unpacker = new RecordUnpacker();
        const out: Buffer[] = [];
        let from = 0;
        for (const cut of [...cuts, stream.length]) {
          for (const r of unpacker.push(stream.subarray(from, cut))) out.push(Buffer.from(r));
          from = cut;
        }
        unpacker.end();
        expect(out).toEqual(records.map((r) => Buffer.from(r)));
      }),
      propertyParameters('snapshot unpacker split points', 200),
    );
  });

  it('byte by byte too', () => {
    const records = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(9, 7)];
    const stream = Buffer.concat(pack(records, 1 << 20).chunks.map((c) => c.subarray(chunkHeaderBytes)));
    const unpacker = new RecordUnpacker();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) for (const r of unpacker.push(stream.subarray(i, i + 1))) out.push(Buffer.from(r));
    unpacker.end();
    expect(out).toEqual(records);
  });

  it('a stream that stops inside a record is refused at the end', () => {
    const stream = Buffer.concat(pack([Buffer.from('abcdef')], 100).chunks.map((c) => c.subarray(chunkHeaderBytes)));
    for (let cut = 1; cut < stream.length; cut++) {
      const unpacker = new RecordUnpacker();
      expect([...unpacker.push(stream.subarray(0, cut))]).toEqual([]);
      expect(() => unpacker.end()).toThrow(SnapshotFormatError);
    }
  });

  it('skip() counts what push() would return; a declared length beyond the bound is refused, not allocated', () => {
    const records = [Buffer.from('a'), Buffer.alloc(300, 1), Buffer.alloc(0)];
    const { chunks } = pack(records, 64);
    const counter = new RecordUnpacker();
    chunks.forEach((chunk, seq) => counter.skip(openChunk(chunk, seq)));
    counter.end();
    expect(counter.recordCount).toBe(3);

    const bogus = Buffer.alloc(8);
    bogus.writeUInt32LE(0xfffffff0, 0);
    expect(() => [...new RecordUnpacker(1000).push(bogus)]).toThrow(/declares 4294967280 bytes, more than the 1000/);
    // Unbounded, a bogus length only waits for bytes that never come: nothing is allocated up front.
    const unbounded = new RecordUnpacker();
    expect([...unbounded.push(bogus)]).toEqual([]);
    expect(() => unbounded.end()).toThrow(/ends 4 bytes into a record of 4294967280/);
  });

  it('openChunk refuses any flipped byte, a wrong sequence number, and an empty chunk', () => {
    const [chunk] = pack([Buffer.from('some record bytes')], 64).chunks;
    expect(openChunk(chunk!, 0).length).toBe(4 + 17);
    expect(() => openChunk(chunk!, 1)).toThrow(/chunk 0 arrived where chunk 1 was expected/);
    for (let i = 0; i < chunk!.length; i++) {
      const bad = Buffer.from(chunk!);
      bad[i]! ^= 0x10;
      expect(() => openChunk(bad, 0)).toThrow(SnapshotFormatError);
    }
    expect(() => openChunk(chunk!.subarray(0, chunkHeaderBytes), 0)).toThrow(/no payload/);
  });

  it('the stream checksum depends on chunk order', () => {
    const { chunks } = pack([Buffer.alloc(100, 1), Buffer.alloc(100, 2)], 50);
    const forward = new TotalsAccumulator();
    const backward = new TotalsAccumulator();
    for (const c of chunks) forward.addChunk(c);
    for (const c of [...chunks].reverse()) backward.addChunk(c);
    expect(forward.checksum).not.toBe(backward.checksum);
  });

  it('descriptors round-trip, with and without createdAtMs', () => {
    for (const d of [descriptor(7, 3), { groupId: 'g', index: 2 ** 48 - 1, term: 0, confState: { voters: [], learners: [] } }]) {
      const r = new FieldReader(writeDescriptor(new FieldWriter(), d).toBuffer());
      expect(readDescriptor(r)).toEqual(d);
      r.expectEnd('descriptor');
    }
    expect(() => writeDescriptor(new FieldWriter(), { ...descriptor(1), index: 2 ** 48 })).toThrow(RangeError);
  });
});

describe('state image records', () => {
  it('key records round-trip exactly: binary keys and values, TTL or none', () => {
    fc.assert(
      fc.property(keyRecordArb, (record) => {
        const decoded = decodeImageRecord(encodeKeyRecord(record));
        expect(decoded).toEqual({ kind: 'key', record });
      }),
      propertyParameters('snapshot image key records', 300),
    );
  });

  it('dedup records round-trip exactly', () => {
    fc.assert(
      fc.property(dedupRecordArb, (record) => {
        expect(decodeImageRecord(encodeDedupRecord(record))).toEqual({ kind: 'dedup', record });
      }),
      propertyParameters('snapshot image dedup records', 300),
    );
  });

  it('members records round-trip exactly, and a truncated one is corrupt', () => {
    const idArb = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(idArb, fc.string()), { selector: ([id]) => id, maxLength: 7 }), fc.array(idArb, { maxLength: 9 }), (pairs, ever) => {
        const record = { addresses: new Map(pairs), everMembers: ever };
        const bytes = encodeMembersRecord(record);
        expect(decodeImageRecord(bytes)).toEqual({ kind: 'members', record });
        expect(() => decodeImageRecord(bytes.subarray(0, bytes.length - 1))).toThrow(SnapshotCorruptError);
      }),
      propertyParameters('snapshot image members records', 200),
    );
  });

  it('decoded keys and values are copies, not views of the record', () => {
    const bytes = encodeKeyRecord({ key: Buffer.from('k'), value: { type: 'string', value: Buffer.from('v') }, expireAt: 5 });
    const decoded = decodeImageRecord(bytes);
    bytes.fill(0);
    expect(decoded).toEqual({ kind: 'key', record: { key: Buffer.from('k'), value: { type: 'string', value: Buffer.from('v') }, expireAt: 5 } });
  });

  it('a record that does not parse is a SnapshotCorruptError', () => {
    const good = encodeKeyRecord({ key: Buffer.from('key'), value: { type: 'string', value: Buffer.from('v') }, expireAt: null });
    expect(() => decodeImageRecord(Buffer.from([9]))).toThrow(/unknown record kind 9/);
    expect(() => decodeImageRecord(Buffer.alloc(0))).toThrow(SnapshotCorruptError);
    expect(() => decodeImageRecord(good.subarray(0, 8))).toThrow(SnapshotCorruptError);
    const badType = Buffer.from(good);
    badType[2 + 4 + 3] = 7;
    expect(() => decodeImageRecord(badType)).toThrow(/unknown value type 7/);
    const dedup = encodeDedupRecord({ id: 'r1', timeMs: 1, reply: { kind: 'simple', value: 'OK' } });
    expect(() => decodeImageRecord(dedup.subarray(0, dedup.length - 1))).toThrow(SnapshotCorruptError);
  });
});

describe('packed writes and visited loads of the state image', () => {
  const membersArb: fc.Arbitrary<MembersRecord | undefined> = fc.option(
    fc.record({ addresses: fc.constant(new Map([['n1', '127.0.0.1:1'], ['n2', '127.0.0.1:2']])), everMembers: fc.constant(['n1', 'n2', 'n0']) }),
    { nil: undefined },
  );

  it('packedStateImage packs the very chunks stateImageRecords gives, from a keyspace image or from records, whatever the slice budget', () => {
    fc.assert(
      fc.property(
        fc.array(keyRecordArb, { maxLength: 40 }),
        fc.array(dedupRecordArb, { maxLength: 5 }),
        membersArb,
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 1, max: 2000 }),
        (keys, dedup, members, chunkBytes, budget) => {
          const state = buildState(keys, dedup);
          const dedupRecords = Array.from(state.dedup.records());
          // Map order is the image's walk order while nothing writes the keyspace.
          const expected = pack([...stateImageRecords(state.keyspace.snapshot(), dedupRecords, members)], chunkBytes);
          for (const source of [state.keyspace.beginSnapshot(), state.keyspace.snapshot()]) {
            const packer = new ChunkPacker(chunkBytes);
            const records = packedStateImage(source, dedupRecords, members);
            let slices = 0;
            while (records.packInto(packer, budget) === 'more') slices++;
            packer.finish();
            expect(packer.take()).toEqual(expected.chunks);
            expect(packer.totals.totals()).toEqual(expected.packer.totals.totals());
            expect(slices).toBeLessThanOrEqual(expected.packer.totals.payloadBytes / budget + 1);
          }
        },
      ),
      propertyParameters('snapshot packed state image', 200),
    );
  });

  it('loadStateImage builds what decodeStateImage builds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(keyRecordArb, { maxLength: 40 }), fc.array(dedupRecordArb, { maxLength: 5 }), membersArb, fc.integer({ min: 1, max: 300 }), async (keys, dedup, members, chunkBytes) => {
        const state = buildState(keys, dedup);
        const { chunks } = pack([...stateImageRecords(state.keyspace.snapshot(), Array.from(state.dedup.records()), members)], chunkBytes);
        const keyspace = new Keyspace();
        const loadedDedup: DedupRecord[] = [];
        let loadedMembers: MembersRecord | undefined;
        const counts = await loadStateImage(visitable(chunks), {
          keyspace,
          dedup: (r) => loadedDedup.push(r),
          members: (r) => {
            loadedMembers = r;
          },
        });
        const table = new DedupTable();
        table.restore(loadedDedup);
        expect(canonical({ keyspace, dedup: table })).toEqual(canonical(await loadFresh(stateImageRecords(state.keyspace.snapshot(), Array.from(state.dedup.records())))));
        expect(counts).toEqual({ keys: state.keyspace.size, dedup: loadedDedup.length });
        expect(loadedMembers).toEqual(members);
      }),
      propertyParameters('snapshot visited load', 150),
    );
  });

  it('loaded values are copies, not views of the chunk', async () => {
    const { chunks } = pack([encodeKeyRecord({ key: Buffer.from('k'), value: { type: 'string', value: Buffer.from('value') }, expireAt: 5 })], 1000);
    const keyspace = new Keyspace();
    const source = visitable(chunks);
    await loadStateImage(source, { keyspace, dedup: () => undefined });
    for (const chunk of chunks) chunk.fill(0);
    expect(keyspace.get(Buffer.from('k'), 0)).toEqual({ type: 'string', value: Buffer.from('value') });
    expect(keyspace.expireAtOf(Buffer.from('k'), 0)).toBe(5);
  });

  it('a key record that does not parse is a SnapshotCorruptError, at every truncation', async () => {
    const good = encodeKeyRecord({ key: Buffer.from('key'), value: { type: 'string', value: Buffer.from('v') }, expireAt: 7 });
    const load = (record: Buffer): Promise<unknown> => loadStateImage(visitable(pack([record], 1000).chunks), { keyspace: new Keyspace(), dedup: () => undefined });
    // Cut before the value type byte: every shorter record is malformed (a shorter value is not).
    for (let length = 1; length <= 2 + 8 + 4 + 3; length++) await expect(load(good.subarray(0, length))).rejects.toThrow(SnapshotCorruptError);
    const badType = Buffer.from(good);
    badType[2 + 8 + 4 + 3] = 7;
    await expect(load(badType)).rejects.toThrow(/unknown value type 7/);
    await expect(load(Buffer.from([9]))).rejects.toThrow(/unknown record kind 9/);
    expect(NO_EXPIRY).toBe(-1); // the image's "no expiry" (ImageKey.expireAt) is the keyspace's
  });
});
