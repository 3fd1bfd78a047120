import { describe, expect, it } from 'vitest';
import {
  HistoryBuilder,
  HistoryError,
  HISTORY_FORMAT,
  effectDeadline,
  formatOperation,
  historyFromJson,
  historyFromJsonLines,
  historyToJson,
  historyToJsonLines,
  operations,
  precedes,
  type History,
} from './history.js';

function sample(): History {
  const h = new HistoryBuilder('ms');
  const w = h.invoke(1, 'write', 'x', 'a', 0);
  const r = h.invoke(2, 'read', 'x', null, 5);
  h.ok(r, 'a', 12);
  h.ok(w, 'OK', 10);
  const w2 = h.invoke(1, 'write', 'x', 'b', 20);
  h.info(w2, 30, 'timeout');
  h.invoke(2, 'incr', 'n', 1, 40); // never completes: the harness stopped
  h.write(3, 'x', 'c', [50, 60], 'fail');
  return h.build();
}

describe('operations', () => {
  it('pairs invokes with completions, in invoke order', () => {
    const ops = operations(sample());
    expect(ops.map((op) => [op.id, op.process, op.f, op.outcome, op.invokeTime, op.completeTime])).toEqual([
      [0, 1, 'write', 'ok', 0, 10],
      [1, 2, 'read', 'ok', 5, 12],
      [2, 1, 'write', 'info', 20, 30],
      [3, 2, 'incr', 'info', 40, Infinity],
      [4, 3, 'write', 'fail', 50, 60],
    ]);
    expect(ops[1]!.result).toBe('a');
    expect(ops[2]!.error).toBe('timeout');
    expect(ops[4]!.result).toBeNull();
  });

  it('gives info operations an unbounded effect deadline', () => {
    const [w, r, info] = operations(sample());
    expect(effectDeadline(w!)).toBe(10);
    expect(effectDeadline(info!)).toBe(Infinity);
    expect(precedes(w!, info!)).toBe(true);
    expect(precedes(w!, r!)).toBe(false);
    expect(precedes(info!, w!)).toBe(false);
  });

  it('treats operations touching at one instant as concurrent', () => {
    const h = new HistoryBuilder().write(1, 'x', 'a', [0, 10]).read(2, 'x', 'a', [10, 20]).build();
    const [w, r] = operations(h);
    expect(precedes(w!, r!)).toBe(false);
  });

  it('rejects histories no client could produce', () => {
    const base = { process: 1, key: 'x', f: 'read', value: null } as const;
    const bad = (events: History['events']): string => {
      try {
        operations({ format: HISTORY_FORMAT, timeUnit: 'ms', events });
        return 'accepted';
      } catch (error) {
        expect(error).toBeInstanceOf(HistoryError);
        return (error as HistoryError).code;
      }
    };
    expect(bad([{ ...base, type: 'ok', time: 1 }])).toBe('UNMATCHED_COMPLETION');
    expect(bad([{ ...base, type: 'invoke', time: 1 }, { ...base, type: 'invoke', time: 2 }])).toBe('OVERLAPPING_INVOKE');
    expect(bad([{ ...base, type: 'invoke', time: 1 }, { ...base, key: 'y', type: 'ok', time: 2 }])).toBe('MISMATCHED_COMPLETION');
    expect(bad([{ ...base, type: 'invoke', time: 5 }, { ...base, type: 'ok', time: 4 }])).toBe('TIME_WENT_BACKWARDS');
  });

  it('formats an operation on one line', () => {
    const ops = operations(sample());
    expect(formatOperation(ops[1]!)).toBe('#1 p2 read x -> ok "a"  [5, 12]');
    expect(formatOperation(ops[2]!)).toBe('#2 p1 write x "b" -> info (timeout)  [20, 30]');
    expect(formatOperation(ops[3]!)).toBe('#3 p2 incr n 1 -> info  [40, …]');
  });
});

describe('HistoryBuilder', () => {
  it('orders events by time, keeping insertion order at equal times', () => {
    const h = new HistoryBuilder().read(2, 'x', null, [5, 6]).write(1, 'x', 'a', [0, 5]).build();
    expect(h.events.map((e) => `${e.process}:${e.type}@${e.time}`)).toEqual(['1:invoke@0', '2:invoke@5', '1:ok@5', '2:ok@6']);
  });

  it('records a result only for ok operations', () => {
    const h = new HistoryBuilder().read(1, 'x', 'a', [0, 1], 'info').build();
    expect(h.events[1]).toMatchObject({ type: 'info', value: null });
  });
});

describe('JSON', () => {
  it('round-trips a history as one document', () => {
    const history = sample();
    expect(historyFromJson(historyToJson(history))).toEqual(history);
  });

  it('round-trips a history as JSON Lines', () => {
    const history = sample();
    const text = historyToJsonLines(history);
    expect(text.split('\n')[0]).toBe(`{"format":"${HISTORY_FORMAT}","timeUnit":"ms"}`);
    expect(historyFromJsonLines(text)).toEqual(history);
  });

  it('drops a last line torn by a crash, and nothing else', () => {
    const text = historyToJsonLines(sample());
    const torn = text.slice(0, text.length - 10);
    expect(historyFromJsonLines(torn).events).toHaveLength(sample().events.length - 1);
    const middle = text.split('\n');
    middle[2] = middle[2]!.slice(0, 5);
    expect(() => historyFromJsonLines(middle.join('\n'))).toThrow(/line 3 is not valid JSON/);
  });

  it('refuses what is not a history, saying where', () => {
    expect(() => historyFromJson('{')).toThrow(HistoryError);
    expect(() => historyFromJson('{"format":"other","timeUnit":"ms","events":[]}')).toThrow(/expected format/);
    expect(() => historyFromJson(`{"format":"${HISTORY_FORMAT}","timeUnit":"s","events":[]}`)).toThrow(/timeUnit/);
    expect(() =>
      historyFromJson(`{"format":"${HISTORY_FORMAT}","timeUnit":"ms","events":[{"type":"invoke","process":1,"time":"x","key":"k","f":"read"}]}`),
    ).toThrow(/event 0: time must be a finite number/);
    expect(() =>
      historyFromJson(`{"format":"${HISTORY_FORMAT}","timeUnit":"ms","events":[{"type":"done","process":1,"time":1,"key":"k","f":"read"}]}`),
    ).toThrow(/unknown type "done"/);
  });
});
