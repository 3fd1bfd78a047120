/**
 * Write entries: single writes and batches round-trip; a batch applies its writes in order, each
 * deduplicated by its own request id (a batch retried, whole or in part, inside another batch
 * or alone, applies each write once); damaged payloads give the same error reply everywhere.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandCatalog } from '../../src/node/catalog.js';
import { KvStateMachine } from '../../src/state/kv_state_machine.js';
import { WriteFlags, decodeWrites, writeBatchWriter, writeEntryWriter } from '../../src/state/write_entry.js';
import type { Reply } from '../../src/resp/reply.js';
import { propertyParameters } from '../storage/support.js';

const b = (s: string): Buffer => Buffer.from(s);

function bytes(writer: { size: number; writeTo(buf: Buffer, offset: number): void }): Buffer {
  const buf = Buffer.alloc(writer.size + 3);
  writer.writeTo(buf, 3);
  return buf.subarray(3);
}

function machine(): KvStateMachine {
  return new KvStateMachine({ newKeyspace: () => commandCatalog.newKeyspace(), resolveWrite: (name) => commandCatalog.resolveWrite(name) });
}

describe('write entries', () => {
  it('batches round-trip: ids, arguments (binary, empty) and time', () => {
    const argArb = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
    const writeArb = fc.record({ requestId: fc.stringMatching(/^[a-z0-9.]{1,40}$/), args: fc.array(argArb, { minLength: 1, maxLength: 5 }) });
    fc.assert(
      fc.property(fc.array(writeArb, { minLength: 1, maxLength: 8 }), fc.double({ noNaN: true }), (writes, timeMs) => {
        const decoded = decodeWrites(bytes(writeBatchWriter({ flags: WriteFlags.dedup, timeMs, writes })));
        expect(decoded.flags).toBe(WriteFlags.dedup | WriteFlags.batch);
        expect(decoded.timeMs).toBe(timeMs);
        expect(decoded.writes.map((w) => ({ requestId: w.requestId, args: w.args.map((a) => Buffer.from(a)) }))).toEqual(writes);
      }),
      propertyParameters('write batches', 200),
    );
  });

  it('a batch applies in order, each write deduplicated by its own id', () => {
    const sm = machine();
    const batch = (ids: string[]): Reply[] =>
      sm.apply(1, bytes(writeBatchWriter({ flags: WriteFlags.dedup, timeMs: 1_000, writes: ids.map((id) => ({ requestId: id, args: [b('incr'), b('n')] })) })), 'batch') as Reply[];
    expect(batch(['a', 'b', 'c'])).toEqual([1, 2, 3].map((value) => ({ kind: 'integer', value })));
    // A retry of b and c inside a new batch with a new write d: b and c answered from the table.
    expect(batch(['b', 'c', 'd'])).toEqual([2, 3, 4].map((value) => ({ kind: 'integer', value })));
    // And alone, as a single entry whose envelope id is the write's.
    const single = sm.apply(2, bytes(writeEntryWriter({ flags: WriteFlags.dedup, timeMs: 1_000, args: [b('incr'), b('n')] })), 'c');
    expect(single).toEqual({ kind: 'integer', value: 3 });
    expect(sm.appliedWrites).toBe(4);
  });

  it('a damaged batch is one error reply, the same on every replica, and changes nothing', () => {
    const good = bytes(writeBatchWriter({ flags: WriteFlags.dedup, timeMs: 5, writes: [{ requestId: 'x', args: [b('set'), b('k'), b('v')] }] }));
    for (const damaged of [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])])]) {
      const sm = machine();
      const reply = sm.apply(1, damaged, 'e');
      expect(reply).toMatchObject({ kind: 'error' });
      expect((reply as { message: string }).message).toMatch(/^ERR internal: undecodable log entry/);
      expect(sm.keyspace.size).toBe(0);
    }
  });
});
