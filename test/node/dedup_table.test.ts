/**
 * DedupTable: pruning by entry time, restore, and image(): a point-in-time view taken in O(1)
 * that stays what it was while remembers and pruning (and the array's compaction) go on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupTable } from '../../src/node/dedup_table.js';
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

  it('restores exactly what records() gave, without pruning', () => {
    const t = new DedupTable(1_000);
    for (let i = 0; i < 10; i++) t.remember(`r${i}`, reply(i), i * 100);
    const copy = new DedupTable(1_000);
    copy.restore(t.image());
    expect([...copy.records()]).toEqual([...t.records()]);
    expect(copy.get('r9')).toEqual(reply(9));
  });
});
