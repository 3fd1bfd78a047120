import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HistoryBuilder, operations, type Json, type Operation, type Outcome } from '../history.js';
import { checkRegister } from './linearizable.js';
import { formatSlice } from './result.js';
import { ILLEGAL, SearchBudget, searchLinearization } from './search.js';
import { checkZones, type ZoneOperation } from './zones.js';
import {
  generateRegisterHistory,
  generateRegisterOps,
  mutateToPhantomRead,
  mutateToStaleRead,
  toHistory,
} from './testing/register-histories.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`linearizable: seed=${seed} (replay with QKV_SEED=${seed})`);

function check(build: (h: HistoryBuilder) => void) {
  const builder = new HistoryBuilder();
  build(builder);
  return checkRegister(operations(builder.build()));
}

describe('register histories known to be bad', () => {
  it('a stale read: the read began after a newer write was acknowledged', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.write(1, 'x', 'b', [20, 30]);
      h.read(2, 'x', 'a', [40, 50]);
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies.map((a) => a.kind)).toEqual(['not-linearizable']);
    // Porcupine-style: where the longest partial linearization got stuck.
    expect(result.anomalies[0]!.message).toContain('#2 returned before it could be linearized: it saw "a" but the register held "b"');
    // The smallest slice: the stuck read and the write that overwrote the value it saw, which
    // are not linearizable on their own.
    const slice = result.smallestFailingSlice!;
    expect(slice.key).toBe('x');
    expect(slice.ops.map((op) => op.id)).toEqual([0, 1, 2]);
    expect(slice.lines[0]).toBe(
      'key "x": not linearizable; these 3 operations alone are not: "a" must hold from 10 to 40, but of the ' +
        'operations on "b" one was invoked at 20 and one had returned at 30, so they fit neither before nor after',
    );
    console.log(formatSlice(slice));
    const searchAlone = checkRegister(result.anomalies[0]!.ops, { zoneCheck: false });
    expect(formatSlice(searchAlone.smallestFailingSlice!)).toBe(
      [
        'key "x": not linearizable; the longest partial linearization orders 2 of 3 operations, then #2 returned ' +
          'before it could be linearized: it saw "a" but the register held "b"',
        '  register after the partial linearization: "b"',
        '  linearized 1: #0 p1 write x "a" -> ok "OK"  [0, 10]',
        '  linearized 2: #1 p1 write x "b" -> ok "OK"  [20, 30]',
        '  cannot linearize: #2 p2 read x -> ok "a"  [40, 50]',
      ].join('\n'),
    );
  });

  it('a lost write: an acknowledged write is not seen by a read that began after it', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.read(2, 'x', null, [11, 12]);
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies[0]!.message).toContain('it saw null but the register held "a"');
    expect(result.smallestFailingSlice!.lines[0]).toContain('null must hold from the start to 11');
  });

  it('a read of a value never written', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.read(2, 'x', 'zzz', [5, 15]);
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies.map((a) => a.kind)).toEqual(['phantom-read', 'not-linearizable']);
  });

  it('a read of a value written only by a failed write', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10], 'fail');
      h.read(2, 'x', 'a', [20, 30]);
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies[0]!.kind).toBe('phantom-read');
    expect(result.anomalies[0]!.message).toContain('only by a write that failed (#0)');
  });

  it('a read that saw a value before it was written', () => {
    const result = check((h) => {
      h.read(2, 'x', 'a', [0, 5]);
      h.write(1, 'x', 'a', [10, 20], 'info');
    });
    expect(result.valid).toBe(false);
    expect(result.anomalies.map((a) => a.kind)).toEqual(['read-from-future', 'not-linearizable']);
  });

  it('reads that disagree on the order of two writes', () => {
    // p3 sees b then a, p4 sees a then b: no single order of the writes explains both.
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 100]);
      h.write(2, 'x', 'b', [0, 100]);
      h.read(3, 'x', 'b', [10, 20]);
      h.read(3, 'x', 'a', [30, 40]);
      h.read(4, 'x', 'a', [10, 20]);
      h.read(4, 'x', 'b', [30, 40]);
    });
    expect(result.valid).toBe(false);
  });

  it('finds the failing key among several and names it', () => {
    const result = check((h) => {
      h.write(1, 'good', 'g1', [0, 10]);
      h.read(2, 'good', 'g1', [20, 30]);
      h.write(3, 'bad', 'b1', [0, 10]);
      h.write(3, 'bad', 'b2', [20, 30]);
      h.read(4, 'bad', 'b1', [40, 50]);
    });
    expect(result.valid).toBe(false);
    expect(result.stats.keyVerdicts).toEqual({ bad: false });
  });
});

describe('register histories known to be good', () => {
  it('concurrent writes, with a concurrent read seeing either value', () => {
    for (const seen of ['a', 'b', null]) {
      const result = check((h) => {
        h.write(1, 'x', 'a', [0, 10]);
        h.write(2, 'x', 'b', [0, 10]);
        h.read(3, 'x', seen, [5, 15]);
      });
      expect(result.valid, `read saw ${String(seen)}`).toBe(true);
    }
  });

  it('two readers see concurrent writes in the same order', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 100]);
      h.write(2, 'x', 'b', [0, 100]);
      h.read(3, 'x', 'b', [10, 20]);
      h.read(3, 'x', 'a', [30, 40]);
      h.read(4, 'x', 'b', [10, 20]);
      h.read(4, 'x', 'a', [30, 40]);
    });
    expect(result.valid).toBe(true);
  });

  it('an info write that appears long after the client gave up', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.write(2, 'x', 'b', [20, 30], 'info');
      h.read(3, 'x', 'a', [40, 50]);
      h.read(3, 'x', 'b', [1000, 1010]);
      h.read(4, 'x', 'b', [2000, 2010]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.pinnedInfoWrites).toBe(1);
  });

  it('an info write that never appears', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.write(2, 'x', 'b', [20, 30], 'info');
      h.read(3, 'x', 'a', [40, 50]);
      h.read(3, 'x', 'a', [1000, 1010]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.droppedUnobservedInfoWrites).toBe(1);
  });

  it('an info write seen, then overwritten, then not seen again', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10], 'info');
      h.read(2, 'x', 'a', [20, 30]);
      h.write(2, 'x', 'b', [40, 50]);
      h.read(2, 'x', 'b', [60, 70]);
    });
    expect(result.valid).toBe(true);
  });

  it('a failed write that never appears, and reads whose outcome is unknown', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.write(2, 'x', 'b', [20, 30], 'fail');
      h.read(3, 'x', null, [40, 50], 'info');
      h.read(3, 'x', 'a', [60, 70]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.droppedInfoReads).toBe(1);
  });

  it('operations that touch at one instant are concurrent', () => {
    const result = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.read(2, 'x', null, [10, 20]);
    });
    expect(result.valid).toBe(true);
  });

  it('an empty history', () => {
    expect(checkRegister([]).valid).toBe(true);
  });

  it('an operation the register does not know makes the key unknown, not invalid', () => {
    const result = check((h) => h.op(1, 'cas', 'x', ['a', 'b'], true, [0, 1]));
    expect(result.valid).toBe('unknown');
    expect(result.unknownReasons[0]).toContain('no function "cas"');
  });
});

describe('the search budget', () => {
  const history = generateRegisterHistory(7, { processes: 8, operations: 3000 });

  it('reports unknown with the reason when steps run out', () => {
    const result = checkRegister(operations(history), { budget: new SearchBudget({ maxSteps: 100 }), zoneCheck: false });
    expect(result.valid).toBe('unknown');
    expect(result.unknownReasons[0]).toMatch(
      /^key "k0": step budget of 100 exhausted after \d+ steps on \d+ operations; the longest partial linearization had \d+ \(the zone check does not apply: turned off\)$/,
    );
  });

  it('reports unknown when time runs out', () => {
    let clock = 0;
    const now = (): number => (clock += 1000);
    const result = checkRegister(operations(history), { budget: new SearchBudget({ timeMs: 5000, now }), zoneCheck: false });
    expect(result.valid).toBe('unknown');
    expect(result.unknownReasons[0]).toContain('time budget of 5000 ms exhausted');
  });

  it('lets the zone check decide a key the search could not', () => {
    const result = checkRegister(operations(history), { budget: new SearchBudget({ maxSteps: 100 }) });
    expect(result.valid).toBe(true);
    expect(result.stats.decidedByZones).toBe(1);
  });

  it('an invalid key stays invalid when another key runs out of budget', () => {
    const ops = operations(history).map((op) => ({ ...op, key: 'big' }));
    const stale = check((h) => {
      h.write(1, 'x', 'a', [0, 10]);
      h.write(1, 'x', 'b', [20, 30]);
      h.read(2, 'x', 'a', [40, 50]);
    });
    const staleOps = stale.anomalies[0]!.ops.map((op, i) => ({ ...op, id: ops.length + i }));
    const result = checkRegister([...staleOps, ...ops], { budget: new SearchBudget({ maxSteps: 5000 }), zoneCheck: false });
    expect(result.valid).toBe(false);
    expect(result.stats.keyVerdicts).toEqual({ x: false, big: 'unknown' });
  });
});

// ---------------------------------------------------------------------------------------------
// Against a dumb reference: every order of every subset that the definition allows.

/** Linearizable by brute force: `info` writes may be left out, `info` reads and `fail`s are. */
function referenceLinearizable(ops: readonly Operation[]): boolean {
  const live = ops.filter((op) => op.outcome !== 'fail' && !(op.f === 'read' && op.outcome === 'info'));
  const required = live.filter((op) => op.outcome === 'ok').length;
  const deadline = (op: Operation): number => (op.outcome === 'info' ? Infinity : op.completeTime);
  const placed = new Set<Operation>();
  const search = (state: Json, placedRequired: number): boolean => {
    if (placedRequired === required) return true; // unplaced info writes: last, or never
    for (const op of live) {
      if (placed.has(op)) continue;
      // Every operation that returned before `op` was invoked must already be placed.
      if (live.some((other) => !placed.has(other) && other !== op && deadline(other) < op.invokeTime)) continue;
      if (op.f === 'read' && op.result !== state) continue;
      placed.add(op);
      const ok = search(op.f === 'write' ? op.args : state, placedRequired + (op.outcome === 'ok' ? 1 : 0));
      placed.delete(op);
      if (ok) return true;
    }
    return false;
  };
  return search(null, 0);
}

interface SmallOp {
  readonly f: 'read' | 'write';
  readonly start: number;
  readonly length: number;
  readonly outcome: Outcome;
  /** What a read saw: -1 null, else the value of write #seen (which may not exist or be a read). */
  readonly seen: number;
}

const smallOp: fc.Arbitrary<SmallOp> = fc.record({
  f: fc.constantFrom('read', 'write'),
  start: fc.integer({ min: 0, max: 30 }),
  length: fc.integer({ min: 0, max: 15 }),
  outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'info', 'fail'),
  seen: fc.integer({ min: -1, max: 7 }),
});

function toOperations(specs: readonly SmallOp[]): Operation[] {
  return specs.map((spec, id) => ({
    id,
    process: id,
    key: 'x',
    f: spec.f,
    args: spec.f === 'write' ? `v${id}` : null,
    result: spec.f === 'read' && spec.outcome === 'ok' ? (spec.seen < 0 ? null : `v${spec.seen}`) : null,
    outcome: spec.outcome,
    invokeTime: spec.start,
    completeTime: spec.start + spec.length,
  }));
}

/** A complete operation for the zone check alone: values as clusters, null as -1. */
function zoneOperation(op: Operation): ZoneOperation {
  const value = op.f === 'write' ? op.args : op.result;
  return {
    invokeTime: op.invokeTime,
    returnTime: op.completeTime,
    cluster: value === null ? -1 : Number(String(value).slice(1)),
    isWrite: op.f === 'write',
  };
}

describe('agrees with a brute-force reference on small histories', () => {
  it('on arbitrary histories of up to 8 operations', () => {
    const runs = Number(process.env.QKV_REFERENCE_RUNS ?? 3000);
    let invalid = 0;
    fc.assert(
      fc.property(fc.array(smallOp, { minLength: 1, maxLength: 8 }), (specs) => {
        const ops = toOperations(specs);
        const expected = referenceLinearizable(ops);
        if (!expected) invalid++;
        // A disagreement between the search and the zone check would answer unknown.
        expect(checkRegister(ops).valid).toBe(expected);
        expect(checkRegister(ops, { precheck: false, zoneCheck: false }).valid).toBe(expected);
        const zones = checkZones(ops.filter((op) => op.outcome === 'ok').map(zoneOperation), -1);
        if (ops.every((op) => op.outcome === 'ok')) expect(zones.kind === 'linearizable').toBe(expected);
      }),
      { seed, numRuns: runs },
    );
    // The property means little unless both answers occur often.
    expect(invalid / runs).toBeGreaterThan(0.1);
    expect(invalid / runs).toBeLessThan(0.9);
  });
});

describe('the search on its own', () => {
  it('reports as the longest partial linearization a legal, real-time-respecting prefix, and the calls pending at its end', () => {
    let failures = 0;
    fc.assert(
      fc.property(fc.array(smallOp, { minLength: 1, maxLength: 9 }), (specs) => {
        // Every operation completed; writes set their own value (id + 1), reads must see theirs (0: null).
        const n = specs.length;
        const invokeTimes = Float64Array.from(specs, (s) => s.start);
        const returnTimes = Float64Array.from(specs, (s) => s.start + s.length);
        const value = specs.map((s, i) => (s.f === 'write' ? i + 1 : s.seen < 0 ? 0 : s.seen + 1));
        const step = (state: number, op: number): number => (specs[op]!.f === 'write' ? value[op]! : value[op] === state ? state : ILLEGAL);
        const outcome = searchLinearization(
          { count: n, invokeTimes, returnTimes, initialState: 0, step, isObserver: (op) => specs[op]!.f === 'read' },
          new SearchBudget(),
        );
        if (outcome.kind !== 'not-linearizable') return;
        failures++;
        const { order, state, stuck, pending } = outcome.deepest;
        let replayed = 0;
        order.forEach((op, k) => {
          replayed = step(replayed, op);
          expect(replayed).not.toBe(ILLEGAL);
          // Whatever returned before it was called is linearized before it.
          for (let other = 0; other < n; other++) {
            if (returnTimes[other]! < invokeTimes[op]!) expect(order.slice(0, k)).toContain(other);
          }
        });
        expect(replayed).toBe(state);
        expect(order).not.toContain(stuck);
        const called = (op: number): boolean => invokeTimes[op]! <= Math.max(returnTimes[stuck]!, invokeTimes[stuck]!);
        const expected = Array.from({ length: n }, (_, op) => op).filter((op) => called(op) && !order.includes(op));
        expect([...pending].sort((a, b) => a - b)).toEqual(expected);
      }),
      { seed, numRuns: 3000 },
    );
    expect(failures).toBeGreaterThan(300);
  });
});

// ---------------------------------------------------------------------------------------------
// Histories valid by construction, and mutations that certainly break them.

const shape = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  processes: fc.integer({ min: 1, max: 10 }),
  operations: fc.integer({ min: 1, max: 300 }),
  keys: fc.integer({ min: 1, max: 3 }),
  infoFraction: fc.constantFrom(0, 0.05, 0.3),
});

describe('histories from a sequential execution with random concurrent timing', () => {
  it('are linearizable', () => {
    fc.assert(
      fc.property(shape, (s) => {
        const result = checkRegister(operations(generateRegisterHistory(s.seed, s)));
        expect(result.valid, JSON.stringify(result.anomalies[0]?.message)).toBe(true);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('are not, once one read sees a value never written', () => {
    fc.assert(
      fc.property(shape, fc.nat(), fc.boolean(), (s, pick, precheck) => {
        const ops = generateRegisterOps(s.seed, s);
        fc.pre(mutateToPhantomRead(ops, pick));
        const result = checkRegister(operations(toHistory(ops)), { precheck, zoneCheck: precheck });
        expect(result.valid).toBe(false);
        expect(result.anomalies.some((a) => a.kind === 'not-linearizable')).toBe(true);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('are not, once one read sees a value certainly overwritten before it began', () => {
    fc.assert(
      fc.property(shape, fc.nat(), (s, pick) => {
        const ops = generateRegisterOps(s.seed, { ...s, operations: Math.max(s.operations, 20) });
        fc.pre(mutateToStaleRead(ops, pick));
        const result = checkRegister(operations(toHistory(ops)));
        expect(result.valid).toBe(false);
        expect(result.smallestFailingSlice!.ops.length).toBeLessThanOrEqual(4 + s.processes);
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('performance', () => {
  it('checks a valid 5,000-operation, 8-client history on one key', () => {
    const history = generateRegisterHistory(seed, { processes: 8, operations: 5000, infoFraction: 0.05 });
    const started = performance.now();
    const result = checkRegister(operations(history));
    const ms = performance.now() - started;
    console.log(
      `register: 5000 ops, 8 clients, 1 key: ${result.valid} in ${ms.toFixed(0)} ms ` +
        `(${result.stats.steps} steps, ${result.stats.backtracks} backtracks, ${result.stats.cacheEntries} cache entries)`,
    );
    expect(result.valid).toBe(true);
  });
});
