/**
 * Inflights (src/raft/inflights.ts): the window of unacknowledged MsgApps to one follower, bounded
 * in count and bytes. In the manner of etcd-io/raft's tracker/inflights_test.go, plus a property
 * test against an array model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Inflights } from '../../src/raft/inflights.js';
import { propertySeed } from '../support/seed.js';

/** What the tests compare: the window's count, bytes and whether it is full. */
function state(f: Inflights): { count: number; bytes: number; full: boolean } {
  return { count: f.count, bytes: f.totalBytes, full: f.full() };
}

function filled(maxCount: number, maxBytes: number, lastIndexes: readonly number[], bytes = 100): Inflights {
  const f = new Inflights(maxCount, maxBytes);
  for (const i of lastIndexes) f.add(i, bytes);
  return f;
}

describe('Inflights: adding', () => {
  it('fills up by count', () => {
    const f = new Inflights(3, 0);
    expect(state(f)).toEqual({ count: 0, bytes: 0, full: false });
    f.add(1, 10);
    f.add(2, 10);
    expect(state(f)).toEqual({ count: 2, bytes: 20, full: false });
    f.add(3, 10);
    expect(state(f)).toEqual({ count: 3, bytes: 30, full: true });
  });

  // [maxBytes, sizes added, full after each]
  const byBytes: Array<[number, number[], boolean[]]> = [
    [100, [40, 40, 20], [false, false, true]],
    [100, [99, 1], [false, true]],
    [100, [150], [true]], // one message over the limit still goes out, then the window is full
    [100, [0, 0, 0], [false, false, false]], // empty messages never fill it by bytes
    [0, [1_000_000, 1_000_000], [false, false]], // 0: no byte limit
  ];
  it.each(byBytes)('fills up by bytes (limit %i, sizes %j)', (maxBytes, sizes, wantFull) => {
    const f = new Inflights(10, maxBytes);
    const got = sizes.map((size, i) => {
      f.add(i + 1, size);
      return f.full();
    });
    expect(got).toEqual(wantFull);
  });
});

describe('Inflights: freeing', () => {
  // Ten messages with last indexes 1..10, 100 bytes each; [freeLE(index), want count].
  const cases: Array<[number, number]> = [
    [0, 10], // below the first: nothing
    [1, 9],
    [4, 6],
    [9, 1],
    [10, 0],
    [100, 0], // beyond the last: everything
  ];
  it.each(cases)('freeLE(%i) leaves %i', (index, wantCount) => {
    const f = filled(10, 0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    f.freeLE(index);
    expect(state(f)).toEqual({ count: wantCount, bytes: wantCount * 100, full: wantCount === 10 });
  });

  it('frees by the last index each message carried, not by position', () => {
    // Messages that carried several entries each: 5, 10, 15.
    const f = filled(10, 0, [5, 10, 15]);
    f.freeLE(9);
    expect(f.count).toBe(2);
    f.freeLE(14);
    expect(f.count).toBe(1);
    f.freeLE(15);
    expect(f.count).toBe(0);
  });

  it('a stale acknowledgement after a newer one frees nothing more', () => {
    const f = filled(10, 0, [1, 2, 3, 4]);
    f.freeLE(3);
    f.freeLE(1);
    expect(f.count).toBe(1);
  });

  it('freeFirstOne frees exactly the oldest, and nothing when empty', () => {
    const f = filled(3, 0, [4, 8, 12]);
    expect(f.full()).toBe(true);
    f.freeFirstOne();
    expect(state(f)).toEqual({ count: 2, bytes: 200, full: false });
    f.freeLE(8);
    expect(f.count).toBe(1);
    f.freeFirstOne();
    f.freeFirstOne();
    expect(state(f)).toEqual({ count: 0, bytes: 0, full: false });
  });

  it('reset empties the window', () => {
    const f = filled(3, 250, [1, 2, 3]);
    expect(f.full()).toBe(true);
    f.reset();
    expect(state(f)).toEqual({ count: 0, bytes: 0, full: false });
    f.add(7, 10);
    f.freeLE(6);
    expect(f.count).toBe(1);
  });

  it('stays right across its internal compaction over a long run', () => {
    // Thousands of messages through a window of 8: the freed prefix is dropped from time to time.
    const f = new Inflights(8, 0);
    let next = 1;
    let acked = 0;
    for (let round = 0; round < 5000; round++) {
      while (!f.full()) f.add(next++, 3);
      acked += 1 + (round % 5);
      f.freeLE(acked);
      const inFlight = Math.max(0, next - 1 - acked);
      expect(state(f)).toEqual({ count: inFlight, bytes: inFlight * 3, full: inFlight >= 8 });
      if (inFlight === 0) acked = next - 1;
    }
  });
});

describe('Inflights against an array model (property)', () => {
  type Op =
    | { kind: 'add'; step: number; bytes: number }
    | { kind: 'free'; back: number }
    | { kind: 'freeFirst' }
    | { kind: 'reset' }
    | { kind: 'stream'; count: number; lag: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), step: fc.integer({ min: 1, max: 3 }), bytes: fc.integer({ min: 0, max: 50 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('free' as const), back: fc.integer({ min: -2, max: 8 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('freeFirst' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const) }) },
    // A long steady stream (send one, acknowledge all but the last `lag`): enough traffic for the
    // window to drop its freed prefix, which short operation lists never reach.
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('stream' as const), count: fc.integer({ min: 1, max: 2500 }), lag: fc.integer({ min: 0, max: 3 }) }) },
  );

  it('count, bytes and full() agree with a plain list after every operation', () => {
    const { seed, numRuns } = propertySeed('inflights model', 200);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 120 }), fc.array(op, { maxLength: 200, size: 'max' }), (maxCount, maxBytes, ops) => {
        const f = new Inflights(maxCount, maxBytes);
        let model: Array<{ index: number; bytes: number }> = [];
        let last = 0;
        for (const o of ops) {
          switch (o.kind) {
            case 'add':
              // The leader adds only while the window is open, with increasing last indexes.
              if (f.full()) break;
              last += o.step;
              f.add(last, o.bytes);
              model.push({ index: last, bytes: o.bytes });
              break;
            case 'free': {
              const upTo = last - o.back;
              f.freeLE(upTo);
              model = model.filter((m) => m.index > upTo);
              break;
            }
            case 'freeFirst':
              f.freeFirstOne();
              model = model.slice(1);
              break;
            case 'reset':
              f.reset();
              model = [];
              break;
            case 'stream':
              for (let i = 0; i < o.count; i++) {
                if (!f.full()) {
                  last++;
                  f.add(last, 1);
                  model.push({ index: last, bytes: 1 });
                }
                f.freeLE(last - o.lag);
                model = model.filter((m) => m.index > last - o.lag);
              }
              break;
          }
          const bytes = model.reduce((n, m) => n + m.bytes, 0);
          const full = model.length >= maxCount || (maxBytes > 0 && bytes >= maxBytes);
          expect(state(f)).toEqual({ count: model.length, bytes, full });
        }
      }),
      { seed, numRuns },
    );
  });
});
