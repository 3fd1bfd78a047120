import { describe, expect, it } from 'vitest';
import type { Operation } from '../history.js';
import { AnomalySink, BoundedList, type Anomaly } from './result.js';

const op = (id: number): Operation => ({ id, process: 1, key: 'k', f: 'read', args: null, result: null, outcome: 'ok', invokeTime: id, completeTime: id + 1 });
const anomaly = (kind: string, size: number, first: number): Anomaly => ({
  kind,
  key: 'k',
  message: `${kind} at #${first}`,
  ops: Array.from({ length: size }, (_, i) => op(first + i)),
});

describe('AnomalySink', () => {
  it('counts every anomaly by kind, keeps the first few and the smallest, and builds only those', () => {
    const sink = new AnomalySink(3);
    let built = 0;
    const add = (kind: string, size: number, first: number): void =>
      sink.add(kind, size, () => {
        built++;
        return anomaly(kind, size, first);
      });
    add('a', 4, 0);
    add('b', 3, 10);
    add('a', 5, 20);
    add('c', 3, 30); // not kept, no smaller than the smallest so far: never built
    add('a', 2, 40); // the smallest so far: built
    add('b', 2, 50); // as small, but not the first: never built
    for (let i = 0; i < 100_000; i++) add('c', 6, 100 + i);
    expect(sink.count).toBe(100_006);
    expect(sink.byKind).toEqual([
      ['a', 3],
      ['b', 2],
      ['c', 100_001],
    ]);
    expect(sink.anomalies.map((a) => a.message)).toEqual(['a at #0', 'b at #10', 'a at #20']);
    expect(sink.smallest?.message).toBe('a at #40');
    expect(built).toBe(4);
  });

  it('keeps the first reasons and counts them all', () => {
    const reasons = new BoundedList<string>(2);
    for (let i = 0; i < 1000; i++) reasons.push(`reason ${i}`);
    expect(reasons.items).toEqual(['reason 0', 'reason 1']);
    expect(reasons.count).toBe(1000);
  });
});
