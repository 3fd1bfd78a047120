/**
 * DedupTable: pruning by entry time, restore, and image(): a point-in-time view taken in O(1)
 * that stays what it was while remembers and pruning (and the array's compaction) go on; runs of
 * gateway-shaped ids (`<prefix>.<base 36>`) answer like a record per id, and a table restored
 * from a snapshot stays identical to the one it was taken of through later remembers and pruning.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupTable } from '../../src/state/dedup_table.js';
import { ok } from '../../src/resp/reply.js';
import type { Reply } from '../../src/resp/reply.js';
import { propertyParameters } from '../storage/support.js';

const reply = (n: number): Reply => ({ kind: 'integer', value: BigInt(n) });

describe('DedupTable', () => {
  it('forgets replies older than the retention window, by entry time', () => {
    const t = new DedupTable(1_000);
    t.remember('a', reply(1), 0);
    t.remember('b', reply(2), 500);
    expect(t.get('a')).toEqual(reply(1));
    t.remember('c', reply(3), 1_200);
    expect(t.get('a')).toBeUndefined();
    expect(t.get('b')).toEqual(reply(2));
    expect([...t.records()].map((r) => r.id)).toEqual(['b', 'c']);
  });

  it('image() is the table as it was when taken, whatever is remembered and pruned afterwards', () => {
    // Steps: remember with a time advance (a large advance prunes most of the table, and enough
    // of it compacts the array), or take an image and later check it.
    const stepArb = fc.oneof(
      { weight: 20, arbitrary: fc.record({ kind: fc.constant('remember' as const), advance: fc.oneof(fc.nat(5), fc.nat(3_000)) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'image' as const }) },
    );
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 6_000, maxLength: 12_000 }), (steps) => {
        const t = new DedupTable(1_000);
        let now = 0;
        let n = 0;
        const images: { image: Iterable<{ id: string; timeMs: number; reply: Reply }>; expected: string[] }[] = [];
        for (const step of steps) {
          if (step.kind === 'remember') {
            now += step.advance;
            t.remember(`r${n}`, reply(n), now);
            n++;
          } else {
            images.push({ image: t.image(), expected: [...t.records()].map((r) => `${r.id}@${r.timeMs}`) });
          }
        }
        for (const { image, expected } of images) expect([...image].map((r) => `${r.id}@${r.timeMs}`)).toEqual(expected);
      }),
      propertyParameters('dedup table images', 30),
    );
  });

  it('answers every id remembered within the window with its newest reply, and never an unknown one', () => {
    // Gateway-shaped ids from a few prefixes, mostly consecutive (runs), sometimes jumping back or
    // repeating; times mostly advancing, sometimes going back (a new leader's clock).
    const stepArb = fc.record({
      prefix: fc.constantFrom('n1.Ab9.', 'n2.x.', 'odd'),
      jump: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: -30, max: 30 }) }),
      advance: fc.oneof({ weight: 6, arbitrary: fc.nat(20) }, { weight: 1, arbitrary: fc.integer({ min: -50, max: 700 }) }),
      distinct: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 400 }), (steps) => {
        const t = new DedupTable(1_000);
        const latest = new Map<string, { time: number; reply: Reply }>();
        const next = new Map<string, number>();
        let now = 10_000;
        let maxNow = now;
        let n = 0;
        for (const step of steps) {
          now += step.advance;
          const seq = Math.max(0, (next.get(step.prefix) ?? 0) + step.jump - 1);
          next.set(step.prefix, seq + 1);
          const id = step.prefix === 'odd' ? `odd-${seq % 7}` : step.prefix + seq.toString(36);
          const r = step.distinct ? reply(n++) : ok;
          t.remember(id, r, now);
          latest.set(id, { time: now, reply: r });
          maxNow = Math.max(maxNow, now);
        }
        // Every call prunes by its own time: a write at least as new as the newest call's window is kept.
        for (const [id, { time, reply: r }] of latest) if (time >= maxNow - 1_000) expect(t.get(id)).toBe(r);
        expect(t.get('n1.Ab9.zzzzz')).toBeUndefined();
        expect(t.get('never')).toBeUndefined();
        expect([...t.records()].length).toBe(t.size);
      }),
      propertyParameters('dedup table runs', 200),
    );
  });

  it('a table restored from an image stays identical to the original through later remembers and pruning', () => {
    const stepArb = fc.record({
      prefix: fc.constantFrom('n1.Ab9.', 'n3.q.', 'whole'),
      jump: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 5 }) }),
      advance: fc.oneof({ weight: 6, arbitrary: fc.nat(40) }, { weight: 1, arbitrary: fc.integer({ min: -100, max: 1_500 }) }),
      distinct: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 300 }), fc.array(stepArb, { maxLength: 300 }), (before, after) => {
        const a = new DedupTable(1_000);
        let now = 0;
        let n = 0;
        const seqs = new Map<string, number>();
        const play = (table: DedupTable[], steps: typeof before, start: number) => {
          let time = start;
          for (const step of steps) {
            time += step.advance;
            const seq = Math.max(0, (seqs.get(step.prefix) ?? 0) + step.jump - 1);
            seqs.set(step.prefix, seq + 1);
            const id = step.prefix === 'whole' ? `w${seq % 5}` : step.prefix + seq.toString(36);
            const r = step.distinct ? reply(n++) : ok;
            for (const tb of table) tb.remember(id, r, time);
          }
          return time;
        };
        now = play([a], before, now);
        const b = new DedupTable(1_000);
        b.restore(a.image());
        const view = (t: DedupTable) => [...t.records()].map((r) => `${r.id}@${r.timeMs}=${JSON.stringify(r.reply, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        expect(view(b)).toEqual(view(a));
        play([a, b], after, now);
        expect(view(b)).toEqual(view(a));
        expect(b.size).toBe(a.size);
      }),
      propertyParameters('dedup table restore determinism', 200),
    );
  });

  it('keeps a run of writes that share one reply in one object, not one per write', () => {
    const t = new DedupTable(60_000);
    for (let i = 0; i < 10_000; i++) t.remember(`n1.Zz.${i.toString(36)}`, ok, 1_000 + Math.floor(i / 100));
    expect(t.size).toBe(10_000);
    expect(t.get(`n1.Zz.${(4_321).toString(36)}`)).toBe(ok);
    expect(t.get(`n1.Zz.${(10_000).toString(36)}`)).toBeUndefined();
    // One run: its records come back with the run's first time, then its last.
    const times = new Set([...t.records()].map((r) => r.timeMs));
    expect([...times].sort()).toEqual([1_000, 1_099]);
  });

  it('restores exactly what records() gave, without pruning', () => {
    const t = new DedupTable(1_000);
    for (let i = 0; i < 10; i++) t.remember(`r${i}`, reply(i), i * 100);
    const copy = new DedupTable(1_000);
    copy.restore(t.image());
    expect([...copy.records()]).toEqual([...t.records()]);
    expect(copy.get('r9')).toEqual(reply(9));
  });
});
