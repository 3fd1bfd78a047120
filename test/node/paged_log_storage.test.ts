/**
 * PagedLogStorage against a plain MemoryStorage given the same calls: whatever was paged out,
 * every read the Raft core can make (entries with a byte limit, term, bounds, entryBytes) answers
 * the same, payloads read back from the "durable log" (a map of what was appended) come back
 * byte for byte, and the resident count is exact and within the budget after pageOut.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PagedLogStorage } from '../../src/node/paged_log_storage.js';
import { MemoryStorage } from '../../src/raft/memory_storage.js';
import { EntryType, entrySize } from '../../src/raft/types.js';
import type { Entry } from '../../src/raft/types.js';
import { propertyParameters } from '../storage/support.js';

type Op =
  | { kind: 'append'; back: number; count: number; term: number; sizes: number[] }
  | { kind: 'compact'; back: number }
  | { kind: 'snapshot'; ahead: number }
  | { kind: 'pageOut'; back: number }
  | { kind: 'read'; lo: number; span: number; maxBytes: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), count: fc.integer({ min: 1, max: 6 }), term: fc.nat(3), sizes: fc.array(fc.nat(40), { minLength: 6, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), ahead: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pageOut' as const), back: fc.nat(6) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), lo: fc.nat(30), span: fc.nat(12), maxBytes: fc.nat(200) }) },
);

function payload(index: number, term: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (index * 31 + term * 7 + i) & 0xff);
}

const view = (es: readonly Entry[]) => es.map((e) => ({ index: e.index, term: e.term, data: Buffer.from(e.data).toString('hex') }));

describe('PagedLogStorage', () => {
  it('answers every read as a MemoryStorage holding every payload would', () => {
    const { seed, numRuns } = propertyParameters('PagedLogStorage vs MemoryStorage', 300);
    fc.assert(
      fc.property(fc.nat(120), fc.array(opArb, { maxLength: 60 }), (budget, ops) => {
        const disk = new Map<number, Entry>();
        const paged = new PagedLogStorage({ readEntry: (i) => disk.get(i)! }, budget);
        const model = new MemoryStorage();
        let term = 1;
        for (const op of ops) {
          const first = model.firstIndex();
          const last = model.lastIndex();
          if (op.kind === 'append') {
            // Never rewrite what may be paged out: only entries above the applied mark are replaced,
            // as Raft never replaces committed entries (the test keeps "applied" at pagedOutBelow).
            const start = Math.max(first, paged.pagedOutBelow, last + 1 - op.back);
            term += op.term;
            const entries: Entry[] = [];
            for (let k = 0; k < op.count; k++) {
              const index = start + k;
              entries.push({ index, term, type: EntryType.Normal, data: payload(index, term, op.sizes[k]!) });
            }
            for (const e of entries) disk.set(e.index, e);
            paged.append(entries);
            model.append(entries);
          } else if (op.kind === 'compact') {
            const at = Math.max(first - 1, last - op.back);
            paged.compact(at);
            model.compact(at);
          } else if (op.kind === 'snapshot') {
            const index = last + op.ahead;
            const snap = { metadata: { index, term, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) };
            paged.applySnapshot(snap);
            model.applySnapshot(snap);
          } else if (op.kind === 'pageOut') {
            const applied = last - op.back;
            paged.pageOut(applied);
            expect(paged.residentPayloadBytes <= budget || paged.pagedOutBelow > Math.min(applied, last)).toBe(true);
          } else {
            const lo = first + (op.lo % Math.max(1, last - first + 1));
            const hi = Math.min(last + 1, lo + 1 + op.span);
            if (lo <= last) expect(view(paged.entries(lo, hi, op.maxBytes))).toEqual(view(model.entries(lo, hi, op.maxBytes)));
          }
          expect([paged.firstIndex(), paged.lastIndex()]).toEqual([model.firstIndex(), model.lastIndex()]);
          let resident = 0;
          for (let i = model.firstIndex(); i <= model.lastIndex(); i++) {
            expect(paged.term(i)).toBe(model.term(i));
            const bytes = entrySize(model.entries(i, i + 1, Infinity)[0]!);
            expect(paged.entryBytes(i)).toBe(bytes);
            if (i >= paged.pagedOutBelow) resident += bytes - entrySize({ index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array(0) });
          }
          expect(paged.term(model.firstIndex() - 1)).toBe(model.term(model.firstIndex() - 1));
          expect(paged.residentPayloadBytes).toBe(resident);
        }
        // Everything reads back in full at the end, paged out or not.
        if (model.lastIndex() >= model.firstIndex()) {
          expect(view(paged.entries(model.firstIndex(), model.lastIndex() + 1, Infinity))).toEqual(
            view(model.entries(model.firstIndex(), model.lastIndex() + 1, Infinity)),
          );
        }
      }),
      { seed, numRuns },
    );
  });

  it('reads a paged-out entry from the durable log and counts it', () => {
    const disk = new Map<number, Entry>();
    const paged = new PagedLogStorage({ readEntry: (i) => disk.get(i)! }, 10);
    const entries = [1, 2, 3].map((index) => ({ index, term: 1, type: EntryType.Normal, data: payload(index, 1, 8) }));
    for (const e of entries) disk.set(e.index, e);
    paged.append(entries);
    paged.pageOut(3);
    expect(paged.pagedOutBelow).toBe(3); // 8 bytes stay resident: entry 3
    expect(paged.residentPayloadBytes).toBe(8);
    expect(view(paged.entries(1, 4, Infinity))).toEqual(view(entries));
    expect(paged.pageIns).toBe(2);
  });
});
