import { describe, expect, it } from 'vitest';
import { checkZones, type ZoneOperation } from './zones.js';

const NULL = 0;
const w = (cluster: number, invokeTime: number, returnTime: number): ZoneOperation => ({ cluster, invokeTime, returnTime, isWrite: true });
const r = (cluster: number, invokeTime: number, returnTime: number): ZoneOperation => ({ cluster, invokeTime, returnTime, isWrite: false });

describe('checkZones', () => {
  it('accepts sequential and overlapping-but-orderable clusters', () => {
    expect(checkZones([w(1, 0, 10), r(1, 20, 30), w(2, 40, 50), r(2, 60, 70)], NULL).kind).toBe('linearizable');
    // Concurrent writes, each read concurrently: backward zones never conflict with each other.
    expect(checkZones([w(1, 0, 100), w(2, 0, 100), r(2, 10, 20), r(1, 30, 40)], NULL).kind).toBe('linearizable');
    // Forward zones that only touch.
    expect(checkZones([w(1, 0, 10), r(1, 20, 30), w(2, 15, 20), r(2, 40, 50)], NULL).kind).toBe('linearizable');
  });

  it('finds two values that must each hold through overlapping intervals', () => {
    const verdict = checkZones([w(1, 0, 10), w(2, 0, 10), r(1, 20, 30), r(2, 20, 30), r(1, 40, 50), r(2, 40, 50)], NULL);
    expect(verdict).toMatchObject({ kind: 'not-linearizable', conflict: { kind: 'overlapping' } });
  });

  it('finds a write that fits neither before nor after a value that must hold around it', () => {
    const verdict = checkZones([w(1, 0, 10), w(2, 20, 30), r(1, 40, 50)], NULL);
    expect(verdict).toEqual({
      kind: 'not-linearizable',
      witness: [0, 1, 2],
      conflict: { kind: 'inside', outer: { cluster: 1, from: 10, to: 40 }, inner: { cluster: 2, from: 20, to: 30 } },
    });
  });

  it('treats the initial value as written at the start', () => {
    expect(checkZones([r(NULL, 0, 5), w(1, 10, 20), r(1, 30, 40)], NULL).kind).toBe('linearizable');
    expect(checkZones([w(1, 0, 10), r(NULL, 20, 30)], NULL)).toMatchObject({ conflict: { kind: 'inside', outer: { from: -Infinity } } });
  });

  it('names a read of an unwritten value, or one that returned before its write began', () => {
    expect(checkZones([r(7, 0, 5)], NULL)).toMatchObject({ witness: [0], conflict: { kind: 'unwritten' } });
    expect(checkZones([r(1, 0, 5), w(1, 10, 20)], NULL)).toMatchObject({ witness: [1, 0], conflict: { kind: 'read-before-write' } });
  });

  it('declines histories outside its assumptions', () => {
    expect(checkZones([w(1, 0, 10), w(1, 20, 30)], NULL)).toMatchObject({ kind: 'not-applicable' });
    expect(checkZones([w(NULL, 0, 10)], NULL)).toMatchObject({ kind: 'not-applicable' });
    expect(checkZones([w(1, 0, Infinity)], NULL)).toMatchObject({ kind: 'not-applicable' });
  });
});
