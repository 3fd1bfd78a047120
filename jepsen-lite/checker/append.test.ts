import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/util/random.js';
import { HistoryBuilder, operations, type Json, type Operation, type Outcome } from '../history.js';
import { checkAppend } from './append.js';
import { finalOperation, planTimedOperations, runInEffectOrder } from './testing/timed-execution.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`append: seed=${seed} (replay with QKV_SEED=${seed})`);

function check(build: (h: HistoryBuilder) => void) {
  const builder = new HistoryBuilder();
  build(builder);
  return checkAppend(operations(builder.build()));
}

const kinds = (result: ReturnType<typeof check>): string[] => result.anomalies.map((a) => a.kind);

describe('append histories known to be good', () => {
  it('reads that grow by prefix, with concurrent appends in either order', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.append(2, 'l', 'b', [0, 10]);
      h.read(3, 'l', ['b'], [1, 5]);
      h.read(3, 'l', ['b', 'a'], [20, 30]);
      h.read(4, 'l', ['b', 'a'], [25, 35]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.lists).toEqual({ l: { acknowledged: 2, finalLength: 2, lost: 0 } });
  });

  it('an info append that appears, and one that never does', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.append(2, 'l', 'b', [20, 30], 'info');
      h.append(3, 'l', 'c', [20, 30], 'info');
      h.read(1, 'l', ['a'], [40, 50]);
      h.read(1, 'l', ['a', 'b'], [1000, 1010]);
    });
    expect(result.valid).toBe(true);
  });

  it('APPEND to a string, read back and split', () => {
    const result = check((h) => {
      h.read(1, 's', null, [0, 1]);
      h.append(1, 's', 'x1', [2, 3]);
      h.append(1, 's', 'x2', [4, 5]);
      h.read(1, 's', 'x1 x2', [6, 7]);
    });
    expect(result.valid).toBe(true);
  });
});

describe('append histories known to be bad', () => {
  it('a duplicated append', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.append(1, 'l', 'b', [20, 30]);
      h.read(2, 'l', ['a', 'b', 'a'], [40, 50]);
      h.read(2, 'l', ['a', 'b', 'a'], [60, 70]);
    });
    expect(result.valid).toBe(false);
    expect(kinds(result)).toEqual(['duplicate-element']);
    expect(result.anomalies[0]!.message).toBe('read #2 shows "a" at positions 0 and 2');
  });

  it('a lost append: acknowledged, missing from the final read', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.append(1, 'l', 'b', [20, 30]);
      h.read(2, 'l', ['a'], [40, 50]);
    });
    expect(kinds(result)).toEqual(['lost-append']);
    expect(result.stats.lists['l']!.lost).toBe(1);
    expect(result.smallestFailingSlice!.ops.map((op) => op.id)).toEqual([1, 2]);
  });

  it('an element never appended', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.append(1, 'l', 'z', [11, 12], 'fail');
      h.read(2, 'l', ['a', 'z'], [20, 30]);
      h.read(2, 'l', ['a', 'q'], [40, 50]);
    });
    expect(kinds(result)).toEqual(['phantom-element', 'phantom-element', 'divergent-reads']);
  });

  it('a read that goes back in time', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 1]);
      h.append(1, 'l', 'b', [2, 100], 'info');
      h.read(2, 'l', ['a', 'b'], [10, 20]);
      h.read(2, 'l', ['a'], [30, 40]);
    });
    expect(kinds(result)).toEqual(['read-went-back']);
  });

  it('reads that diverge', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 100], 'info');
      h.append(2, 'l', 'b', [0, 100], 'info');
      h.read(3, 'l', ['a', 'b'], [10, 20]);
      h.read(4, 'l', ['b', 'a'], [10, 20]);
    });
    expect(kinds(result)).toEqual(['divergent-reads']);
  });

  it('an acknowledged element missing from a later read, present again afterwards', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.read(2, 'l', [], [20, 30]);
      h.read(2, 'l', ['a'], [40, 50]);
    });
    expect(kinds(result)).toEqual(['stale-read']);
  });

  it('appends ordered in real time, listed the other way', () => {
    const result = check((h) => {
      h.append(1, 'l', 'a', [0, 10]);
      h.append(1, 'l', 'b', [20, 30]);
      h.read(2, 'l', ['b', 'a'], [40, 50]);
    });
    expect(kinds(result)).toEqual(['append-order']);
  });

  it('an element seen before its append began', () => {
    const result = check((h) => {
      h.read(2, 'l', ['a'], [0, 5]);
      h.append(1, 'l', 'a', [10, 20]);
    });
    expect(kinds(result)).toEqual(['read-from-future']);
  });
});

/** Append histories valid by construction (see `timed-execution.ts`), ending with a final read. */
function generateAppend(genSeed: number, processes: number, count: number) {
  type Kind = { readonly f: 'append' | 'read'; readonly element: string };
  const planned = planTimedOperations<Kind>(
    new SeededRandom(genSeed),
    { processes, operations: count, infoFraction: 0.07, failFraction: 0.03 },
    (random, index) => ({ f: random.intBelow(2) === 0 ? 'append' : 'read', element: `e${index}` }),
    (kind) => kind.f === 'append',
  );
  planned.push(finalOperation(planned, { f: 'read', element: '' }));
  const list: string[] = [];
  const results = runInEffectOrder(planned, ({ kind }): Json => (kind.f === 'append' ? (list.push(kind.element), 'OK') : [...list]));
  return planned.map((op) => ({ ...op, result: results.get(op) ?? null }));
}

function build(planned: ReturnType<typeof generateAppend>) {
  const builder = new HistoryBuilder();
  for (const op of planned) {
    const span = [op.invokeTime, op.completeTime] as const;
    if (op.kind.f === 'append') builder.append(op.process, 'l', op.kind.element, span, op.outcome);
    else builder.read(op.process, 'l', op.result, span, op.outcome);
  }
  return operations(builder.build());
}

describe('append histories from an execution with random timing', () => {
  const params = [fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 200 })] as const;

  it('are valid', () => {
    fc.assert(
      fc.property(...params, (s, p, n) => {
        const result = checkAppend(build(generateAppend(s, p, n)));
        expect(result.valid, result.anomalies[0]?.message).toBe(true);
      }),
      { seed, numRuns: 200 },
    );
  });

  it('are invalid once the final read drops an acknowledged element or repeats one', () => {
    fc.assert(
      fc.property(...params, fc.nat(), fc.boolean(), (s, p, n, pick, duplicate) => {
        const planned = generateAppend(s, p, n);
        const final = planned[planned.length - 1]!;
        const list = final.result as string[];
        const acknowledged = new Set(planned.filter((x) => x.kind.f === 'append' && x.outcome === 'ok').map((x) => x.kind.element));
        const candidates = list.filter((e) => acknowledged.has(e));
        fc.pre(candidates.length > 0);
        const victim = candidates[pick % candidates.length]!;
        planned[planned.length - 1] = { ...final, result: duplicate ? [...list, victim] : list.filter((e) => e !== victim) };
        const result = checkAppend(build(planned));
        expect(result.valid).toBe(false);
        expect(result.anomalies.map((a) => a.kind)).toContain(duplicate ? 'duplicate-element' : 'lost-append');
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('acknowledged elements, against the definition read by read', () => {
  /**
   * Reads in invoke order; for each, every acknowledged append that completed before it began
   * and is not in it is reported, once per append: lost when the final read lacks it too.
   */
  function reference(ops: readonly Operation[]): string[] {
    const reads = ops.filter((op) => op.f === 'read' && op.outcome === 'ok').sort((a, b) => a.invokeTime - b.invokeTime || a.id - b.id);
    const acknowledged = ops.filter((op) => op.f === 'append' && op.outcome === 'ok').sort((a, b) => a.completeTime - b.completeTime || a.id - b.id);
    const final = new Set(reads.length > 0 ? (reads[reads.length - 1]!.result as Json[]).map((e) => JSON.stringify(e)) : []);
    const reported = new Set<Operation>();
    const found: string[] = [];
    for (const read of reads) {
      const present = new Set((read.result as Json[]).map((e) => JSON.stringify(e)));
      for (const append of acknowledged) {
        if (append.completeTime >= read.invokeTime || reported.has(append) || present.has(JSON.stringify(append.args))) continue;
        reported.add(append);
        found.push(`${final.has(JSON.stringify(append.args)) ? 'stale-read' : 'lost-append'} #${append.id} at #${read.id}`);
      }
    }
    return found;
  }

  it('finds the same lost and stale elements, in the same order, on arbitrary histories', () => {
    const history = fc
      .array(
        fc.record({
          read: fc.boolean(),
          start: fc.integer({ min: 0, max: 40 }),
          length: fc.integer({ min: 0, max: 10 }),
          outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'info', 'fail'),
          // A read shows a random subset of the elements, in a random order.
          shows: fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 8 }),
          element: fc.integer({ min: 0, max: 11 }),
        }),
        { minLength: 1, maxLength: 14 },
      )
      .map((specs) =>
        specs.map(
          (spec, id): Operation => ({
            id,
            process: id,
            key: 'l',
            f: spec.read ? 'read' : 'append',
            args: spec.read ? null : `e${spec.element}`,
            result: spec.read ? (spec.outcome === 'ok' ? [...new Set(spec.shows)].map((e) => `e${e}`) : null) : 'OK',
            outcome: spec.outcome,
            invokeTime: spec.start,
            completeTime: spec.start + spec.length,
          }),
        ),
      );
    fc.assert(
      fc.property(history, (ops) => {
        const result = checkAppend(ops, { maxAnomalies: 1_000 });
        const found = result.anomalies
          .filter((a) => a.kind === 'lost-append' || a.kind === 'stale-read')
          .map((a) => `${a.kind} #${/\(#(\d+)\)/.exec(a.message)![1]} at #${/read #(\d+)/.exec(a.message)![1]}`);
        expect(found).toEqual(reference(ops));
      }),
      { seed, numRuns: 2000 },
    );
  });
});
