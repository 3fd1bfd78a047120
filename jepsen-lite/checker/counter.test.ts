import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/util/random.js';
import { HistoryBuilder, operations } from '../history.js';
import { checkCounter } from './counter.js';
import { finalOperation, planTimedOperations, runInEffectOrder } from './testing/timed-execution.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`counter: seed=${seed} (replay with QKV_SEED=${seed})`);

function check(build: (h: HistoryBuilder) => void) {
  const builder = new HistoryBuilder();
  build(builder);
  return checkCounter(operations(builder.build()));
}

describe('counter histories known to be good', () => {
  it('acknowledged increments, then a final read of their total', () => {
    const result = check((h) => {
      h.incr(1, 'n', 1, [0, 10]);
      h.incr(2, 'n', 2, [5, 15]);
      h.read(1, 'n', '2', [20, 30]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.totals).toEqual({ n: { acknowledged: 2, attempted: 2, finalRead: 2 } });
  });

  it('a read concurrent with an increment sees it or not', () => {
    for (const seen of [0, 1]) {
      const result = check((h) => {
        h.incr(1, 'n', 1, [0, 10]);
        h.read(2, 'n', seen, [5, 8]);
      });
      expect(result.valid).toBe(true);
    }
  });

  it('an info increment may count or not, even in the final read', () => {
    for (const final of [1, 2]) {
      const result = check((h) => {
        h.incr(1, 'n', 1, [0, 10]);
        h.incr(2, 'n', null, [5, 15], 'info');
        h.read(1, 'n', final, [100, 110]);
      });
      expect(result.valid, `final read ${final}`).toBe(true);
    }
  });

  it('a failed increment never counts; a missing key reads as 0', () => {
    const result = check((h) => {
      h.read(1, 'n', null, [0, 1]);
      h.incr(1, 'n', null, [2, 3], 'fail');
      h.read(1, 'n', null, [4, 5]);
    });
    expect(result.valid).toBe(true);
  });

  it('INCRBY with negative deltas: bounds use each sign', () => {
    const result = check((h) => {
      h.incr(1, 'n', 5, [0, 10], 'ok', 5);
      h.incr(2, 'n', null, [20, 30], 'info', -3);
      h.read(1, 'n', 2, [40, 50]);
      h.read(3, 'n', 5, [40, 50]);
    });
    expect(result.valid).toBe(true);
  });
});

describe('counter histories known to be bad', () => {
  it('a lost increment: the final read is below the acknowledged total', () => {
    const result = check((h) => {
      h.incr(1, 'n', 1, [0, 10]);
      h.incr(2, 'n', 2, [5, 15]);
      h.read(1, 'n', 1, [20, 30]);
    });
    expect(result.valid).toBe(false);
    // The reply 2 of #1 also shows the counter going backwards.
    expect(result.anomalies.map((a) => a.kind)).toEqual(['final-read-out-of-range', 'non-monotonic']);
    expect(result.anomalies[0]!.message).toContain('could only be in [2, 2]');
  });

  it('a final read above everything attempted', () => {
    const result = check((h) => {
      h.incr(1, 'n', 1, [0, 10]);
      h.incr(2, 'n', null, [5, 15], 'info');
      h.incr(3, 'n', null, [5, 15], 'fail');
      h.read(1, 'n', 3, [20, 30]);
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies[0]!.message).toContain('could only be in [1, 2]');
  });

  it('an intermediate read missing an increment acknowledged before it began', () => {
    const result = check((h) => {
      h.incr(1, 'n', 1, [0, 10]);
      h.read(2, 'n', 0, [11, 12]);
      h.incr(1, 'n', 2, [20, 30]);
    });
    expect(result.anomalies.map((a) => a.kind)).toContain('read-out-of-range');
  });

  it('a non-monotonic read: the counter went backwards', () => {
    // Each read alone is within its bounds (3 increments in flight); together they are not.
    const result = check((h) => {
      h.incr(1, 'n', null, [0, 100], 'info');
      h.incr(2, 'n', null, [0, 100], 'info');
      h.incr(3, 'n', null, [0, 100], 'info');
      h.read(4, 'n', 3, [10, 20]);
      h.read(4, 'n', 1, [30, 40]);
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies.map((a) => a.kind)).toEqual(['non-monotonic']);
    expect(result.smallestFailingSlice!.ops.map((op) => op.id)).toEqual([3, 4]);
  });

  it('two increments replying the same value', () => {
    const result = check((h) => {
      h.incr(1, 'n', 1, [0, 10]);
      h.incr(2, 'n', 1, [0, 10]);
    });
    expect(result.anomalies.map((a) => a.kind)).toEqual(['duplicate-incr-result']);
  });

  it('an increment replying less than a value seen before it began', () => {
    const result = check((h) => {
      h.incr(1, 'n', 1, [0, 10]);
      h.incr(1, 'n', 2, [20, 30]);
      h.incr(2, 'n', 2, [40, 50]);
    });
    expect(result.valid).toBe(false);
  });

  it('a read that is not an integer', () => {
    const result = check((h) => h.read(1, 'n', 'abc', [0, 1]));
    expect(result.anomalies.map((a) => a.kind)).toEqual(['unexpected-result']);
  });
});

/** Counter histories valid by construction (see `timed-execution.ts`), ending with a final read. */
function generateCounter(genSeed: number, processes: number, count: number): HistoryBuilder {
  const planned = planTimedOperations(
    new SeededRandom(genSeed),
    { processes, operations: count, infoFraction: 0.07, failFraction: 0.03 },
    (random) => (random.intBelow(2) === 0 ? 'incr' : 'read'),
    (kind) => kind === 'incr',
  );
  planned.push(finalOperation(planned, 'read'));
  let value = 0;
  const results = runInEffectOrder(planned, (op) => (op.kind === 'incr' ? ++value : value));
  const builder = new HistoryBuilder();
  for (const op of planned) {
    const span = [op.invokeTime, op.completeTime] as const;
    if (op.kind === 'incr') builder.incr(op.process, 'n', results.get(op) ?? null, span, op.outcome);
    else builder.read(op.process, 'n', results.get(op) ?? null, span, op.outcome);
  }
  return builder;
}

describe('counter histories from an execution with random timing', () => {
  it('are valid; and invalid once the final read loses one acknowledged increment', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 300 }), (s, p, n) => {
        const history = generateCounter(s, p, n).build();
        const result = checkCounter(operations(history));
        expect(result.valid, result.anomalies[0]?.message).toBe(true);

        const { acknowledged } = result.stats.totals['n']!;
        fc.pre(acknowledged > 0);
        const events = [...history.events];
        const final = events.length - 1;
        events[final] = { ...events[final]!, value: acknowledged - 1 };
        const broken = checkCounter(operations({ ...history, events }));
        expect(broken.valid).toBe(false);
        expect(broken.anomalies.map((a) => a.kind)).toContain('final-read-out-of-range');
      }),
      { seed, numRuns: 300 },
    );
  });
});
