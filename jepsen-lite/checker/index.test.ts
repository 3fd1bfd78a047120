import { describe, expect, it } from 'vitest';
import { Fn, HISTORY_FORMAT, HistoryBuilder, historyFromJsonLines, historyToJsonLines, operations, type History } from '../history.js';
import { checkHistory, expiringWrite, formatSlice, Workload } from './index.js';
import { generateRegisterHistory } from './testing/register-histories.js';

describe('checkHistory', () => {
  it('answers VALID on one line for a valid history of each workload', () => {
    const histories = {
      register: new HistoryBuilder().write(1, 'x', 'a', [0, 10]).read(2, 'x', 'a', [5, 15]).build(),
      counter: new HistoryBuilder().incr(1, 'n', 1, [0, 10]).read(2, 'n', 1, [20, 30]).build(),
      append: new HistoryBuilder().append(1, 'l', 'a', [0, 10]).read(2, 'l', ['a'], [20, 30]).build(),
      expiry: new HistoryBuilder().write(1, 'k', expiringWrite('a', 100), [0, 10]).read(2, 'k', 'a', [20, 30]).build(),
      scan: new HistoryBuilder().write(1, 's:1', 'a', [0, 10]).op(2, Fn.scan, '*', null, ['s:1'], [20, 30]).build(),
    };
    for (const workload of Object.values(Workload)) {
      const result = checkHistory(workload, histories[workload]);
      expect(result.valid, workload).toBe(true);
      expect(result.workload).toBe(workload);
      expect(result.anomalies).toEqual([]);
      expect(result.smallestFailingSlice).toBeUndefined();
      expect(result.verdict).toBe(`${workload}: VALID — 2 operations (2 ok, 0 fail, 0 info)`);
    }
  });

  it('answers INVALID with the anomalies, a slice, and the first reason', () => {
    const history = new HistoryBuilder()
      .write(1, 'x', 'a', [0, 10])
      .write(1, 'x', 'b', [20, 30])
      .read(2, 'x', 'a', [40, 50])
      .read(2, 'x', 'zzz', [60, 70])
      .build();
    const result = checkHistory('register', history);
    expect(result.valid).toBe(false);
    expect(result.anomalyCount).toBe(2);
    expect(result.verdict).toMatch(
      /^register: INVALID — 2 anomalies \(phantom-read ×1, not-linearizable ×1\) in 4 operations \(4 ok, 0 fail, 0 info\); first: read #3 saw value "zzz", written by no operation$/,
    );
    expect(result.verdict).not.toContain('\n');
    expect(result.anomalies[1]!.ops.map((op) => op.id)).toEqual([0, 1, 2]);
    const printed = formatSlice(result.smallestFailingSlice!);
    console.log(printed);
    expect(printed).toBe(
      'key "x": not linearizable; these 1 operations alone are not: read #3 saw "zzz", which nothing wrote\n' +
        '  #3 p2 read x -> ok "zzz"  [60, 70]',
    );
  });

  it('answers UNKNOWN when the budget runs out, saying which', () => {
    const history = generateRegisterHistory(3, { processes: 8, operations: 2000 });
    // Two writes of one value: the zone check does not apply, so only the search could decide.
    const written = operations(history).find((op) => op.f === 'write' && op.outcome === 'ok')!.args;
    const again = new HistoryBuilder().write(99, 'k0', written, [1e9, 1e9 + 1]).build().events;
    const duplicated = { ...history, events: [...history.events, ...again] };
    const result = checkHistory('register', duplicated, { budget: { maxSteps: 10 } });
    expect(result.valid).toBe('unknown');
    expect(result.verdict).toMatch(/^register: UNKNOWN — 2001 operations .*; key "k0": step budget of 10 exhausted/);
    expect(result.verdict).toContain('(the zone check does not apply: a value was written more than once)');
  });

  it('answers UNKNOWN for a malformed history rather than throwing', () => {
    const history: History = {
      format: HISTORY_FORMAT,
      timeUnit: 'ms',
      events: [{ type: 'ok', process: 1, time: 1, key: 'x', f: 'read', value: null }],
    };
    const result = checkHistory('register', history);
    expect(result.valid).toBe('unknown');
    expect(result.verdict).toContain('the history is malformed (UNMATCHED_COMPLETION)');
  });

  it('caps the anomalies returned but counts them all', () => {
    const builder = new HistoryBuilder();
    for (let i = 0; i < 30; i++) builder.read(1, 'x', `ghost${i}`, [i * 10, i * 10 + 5]);
    const result = checkHistory('register', builder.build(), { maxAnomalies: 5 });
    expect(result.anomalies).toHaveLength(5);
    expect(result.anomalyCount).toBe(31);
  });

  it('checks a history as the harness will: written as JSON Lines, read back', () => {
    const history = generateRegisterHistory(11, { processes: 5, operations: 500, keys: 3 });
    const result = checkHistory('register', historyFromJsonLines(historyToJsonLines(history)));
    expect(result.valid).toBe(true);
    expect(result.stats).toMatchObject({ keys: 3 });
  });
});
