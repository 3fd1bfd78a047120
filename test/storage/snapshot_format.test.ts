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
import { decodeImageRecord, encodeDedupRecord, encodeKeyRecord, encodeMembersRecord } from '../../src/storage/snapshot_image.js';
import { dedupRecordArb, descriptor, keyRecordArb } from './snapshot_support.js';
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
