import fc from 'fast-check';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHistory } from './checker/index.js';
import { generateRegisterOps } from './checker/testing/register-histories.js';
import { TextFileWriter } from './files.js';
import { HistoryBuilder, eventToJsonLine, historyToJsonLines, operations, type HistoryEvent, type OperationRecorder } from './history.js';
import { OperationLog } from './oplog.js';
import { HistoryRecorder, readHistoryFile } from './recorder.js';

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
let dir = '';

beforeAll(async () => {
  console.log(`recorder: seed=${seed} (replay with QKV_SEED=${seed})`);
  dir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-recorder-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The same events, in time order, into any recorder: a generated register history plus every kind of value. */
function replay(recorder: OperationRecorder, genSeed: number): void {
  const ops = generateRegisterOps(genSeed, { processes: 5, operations: 400, keys: 3, infoFraction: 0.1 });
  const history = new HistoryBuilder();
  for (const op of ops) history.op(op.process, op.f, op.key, op.args, op.result, [op.invokeTime, op.completeTime], op.outcome);
  for (const event of history.build().events) {
    const pending = { process: event.process, key: event.key, f: event.f };
    if (event.type === 'invoke') recorder.invoke(event.process, event.f, event.key, event.value, event.time);
    else if (event.type === 'ok') recorder.ok(pending, event.value, event.time);
    else if (event.type === 'fail') recorder.fail(pending, event.time, 'refused');
    else recorder.info(pending, event.time, 'timed out');
  }
  // Values of every JSON kind, and an operation left outstanding.
  const odd = recorder.invoke(9, 'write', 'odd', { value: ['a', 1, null, true], ttlMs: 1.5 }, 1e6);
  recorder.ok(odd, { nested: { list: [] } }, 1e6 + 1);
  recorder.invoke(9, 'read', 'odd', null, 1e6 + 2);
}

describe('the history recorder', () => {
  it('writes the file the builder would, and keeps the operations operations() would pair', async () => {
    for (let run = 0; run < 5; run++) {
      const builder = new HistoryBuilder('ms');
      replay(builder, seed + run);
      const history = builder.build();
      const path = join(dir, `history-${run}.jsonl`);
      const recorder = new HistoryRecorder('ms', new TextFileWriter(path));
      replay(recorder, seed + run);
      await recorder.close();
      expect(await readFile(path, 'utf8')).toBe(historyToJsonLines(history));
      expect(recorder.eventCount).toBe(history.events.length);
      expect(recorder.log.operations()).toEqual(operations(history));
      expect((await readHistoryFile(path)).operations()).toEqual(operations(history));
      expect(checkHistory('register', recorder.log).verdict).toBe(checkHistory('register', history).verdict);
    }
  });

  it('reads back a file torn by a crash, dropping only the torn line', async () => {
    const builder = new HistoryBuilder('ms');
    replay(builder, seed);
    const text = historyToJsonLines(builder.build());
    const path = join(dir, 'torn.jsonl');
    await writeFile(path, text.slice(0, text.length - 7));
    const log = await readHistoryFile(path);
    // The last event (an invoke) is gone; its operation with it.
    expect(log.length).toBe(operations(builder.build()).length - 1);
    await writeFile(path, text.replace('\n{', '\n{{'));
    await expect(readHistoryFile(path)).rejects.toThrow(/line 2 is not valid JSON/);
  });

  it('records events no client could produce, and the check answers unknown as for the same history', () => {
    const recorder = new HistoryRecorder('ms');
    const builder = new HistoryBuilder('ms');
    for (const r of [recorder, builder]) {
      const a = r.invoke(1, 'read', 'x', null, 1);
      r.ok(a, null, 2);
      r.invoke(2, 'read', 'x', null, 3);
      r.invoke(2, 'write', 'x', 'v', 4);
    }
    expect(recorder.log.malformed?.code).toBe('OVERLAPPING_INVOKE');
    const fromRecorder = checkHistory('register', recorder.log);
    expect(fromRecorder.valid).toBe('unknown');
    expect(fromRecorder.verdict).toBe(checkHistory('register', builder.build()).verdict);
    expect(fromRecorder.verdict).toContain('event 3: process 2 invoked write while event 2 (read) was outstanding');
  });

  it('writes each event as JSON.stringify would', () => {
    const json: fc.Arbitrary<HistoryEvent['value']> = fc.jsonValue() as fc.Arbitrary<HistoryEvent['value']>;
    const event = fc.record(
      {
        type: fc.constantFrom('invoke', 'ok', 'fail', 'info'),
        process: fc.integer({ min: -5, max: 1_000_000 }),
        time: fc.double({ noNaN: true, noDefaultInfinity: true }),
        key: fc.string(),
        f: fc.string(),
        value: json,
        error: fc.string(),
      },
      { requiredKeys: ['type', 'process', 'time', 'key', 'f', 'value'] },
    );
    fc.assert(
      fc.property(event, (e) => {
        expect(eventToJsonLine(e as HistoryEvent)).toBe(JSON.stringify(e));
      }),
      { seed, numRuns: 500 },
    );
  });
});

describe('the operation log', () => {
  it('keeps operations as given across many chunks, ids included, and partitions them by key in order', () => {
    const ops = operations(new HistoryBuilder().write(1, 'k', 'v', [0, 1]).build());
    const many = Array.from({ length: 150_000 }, (_, i) => ({ ...ops[0]!, id: 3 * i + 1, key: `k${i % 3}`, args: `v${i}`, invokeTime: i, completeTime: i + 0.5 }));
    const log = OperationLog.fromOperations(many);
    expect(log.length).toBe(many.length);
    for (const row of [0, 1, 65_535, 65_536, 131_072, 149_999]) expect(log.operation(row)).toEqual(many[row]);
    const partitions = log.partitionByKey();
    expect(partitions.map((p) => p.key)).toEqual(['k0', 'k1', 'k2']);
    expect(Array.from(partitions[1]!.rows.subarray(0, 3))).toEqual([1, 4, 7]);
    expect(partitions.reduce((n, p) => n + p.rows.length, 0)).toBe(many.length);
  });
});
