import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StorageErrorCode } from '../../src/storage/errors.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { CallMaker, ReferenceLog, abstractOpArb, entry, normalize, perform, propertyParameters, snapshotAt } from './support.js';

const group = 'g1';

describe('MemoryLog semantics', () => {
  it('round-trips entries and hard state', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: 'n1', commit: 1 } });
    await log.save({ entries: [entry(3, 1)] });
    const loaded = await log.load();
    expect(loaded.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(loaded.hardState).toEqual({ term: 1, vote: 'n1', commit: 1 });
    expect(loaded.snapshot).toBeNull();
  });

  it('replaces the suffix on conflict (truncate-on-conflict)', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)] });
    await log.save({ entries: [entry(3, 2, 'new3')] });
    const loaded = await log.load();
    expect(loaded.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
  });

  it('compacts, keeping the entries after the snapshot; a stale compaction is a no-op', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1), entry(3, 2)] });
    await log.compact(snapshotAt(2, 1));
    await log.compact(snapshotAt(1, 1));
    const loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotAt(2, 1));
    expect(loaded.entries.map((e) => e.index)).toEqual([3]);
  });

  it('installs a snapshot: the log restarts after it, entries of the same update are kept', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    await log.save({ snapshot: snapshotAt(10, 3), entries: [entry(9, 3), entry(10, 3), entry(11, 3)] });
    const loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotAt(10, 3));
    expect(loaded.entries.map((e) => e.index)).toEqual([11]);
  });

  it('rejects invalid updates and changes nothing', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1)] });
    await expect(log.save({ entries: [entry(4, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
    await expect(log.save({ entries: [entry(3, 1), entry(5, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
    await expect(log.compact(snapshotAt(3, 1))).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
    await log.compact(snapshotAt(2, 1));
    await expect(log.save({ snapshot: snapshotAt(1, 1) })).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
    const loaded = await log.load();
    expect(loaded.snapshot).toEqual(snapshotAt(2, 1));
    expect(loaded.entries).toEqual([]);
  });

  it('refuses a call while another is under way', async () => {
    const log = new MemoryLog(group);
    const first = log.save({ entries: [entry(1, 1)] });
    await expect(log.save({ entries: [entry(2, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
    await first;
  });
});

describe('MemoryLog crashes', () => {
  it('a save is durable exactly when its promise resolves', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1)], hardState: { term: 1, vote: '', commit: 0 } });
    const pending = log.save({ entries: [entry(2, 1)], hardState: { term: 2, vote: 'n2', commit: 1 } });
    const restarted = log.crash();
    await expect(pending).rejects.toMatchObject({ code: StorageErrorCode.Crashed, outcome: 'unknown' });
    const loaded = await restarted.load();
    expect(loaded.entries.map((e) => e.index)).toEqual([1]);
    expect(loaded.hardState.term).toBe(1);
    await expect(log.load()).rejects.toMatchObject({ code: StorageErrorCode.Crashed });
  });

  it('a crash after the promise resolved keeps the save', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1)] });
    const loaded = await log.crash().load();
    expect(loaded.entries.map((e) => e.index)).toEqual([1]);
  });

  it('keeps a prefix of the in-flight records when asked (a torn write)', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    const pending = log.save({ entries: [entry(2, 2), entry(3, 2)], hardState: { term: 2, vote: 'n1', commit: 1 } });
    expect(log.inFlightRecordCount).toBe(3);
    const restarted = log.crash({ keepInFlightRecords: 1 });
    await expect(pending).rejects.toMatchObject({ code: StorageErrorCode.Crashed });
    const loaded = await restarted.load();
    expect(loaded.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(loaded.hardState.term).toBe(0);
  });

  it('loses or keeps an in-flight compaction', async () => {
    const log = new MemoryLog(group);
    await log.save({ entries: [entry(1, 1), entry(2, 1)] });
    const pending = log.compact(snapshotAt(1, 1));
    const lost = log.crash();
    await expect(pending).rejects.toMatchObject({ code: StorageErrorCode.Crashed });
    expect((await lost.load()).snapshot).toBeNull();

    const pending2 = lost.compact(snapshotAt(1, 1));
    const kept = lost.crash({ keepInFlightRecords: 1 });
    await expect(pending2).rejects.toMatchObject({ code: StorageErrorCode.Crashed });
    expect((await kept.load()).snapshot).toEqual(snapshotAt(1, 1));
  });

  it('property: after any crash, load() is the reference after the completed calls plus the kept prefix', async () => {
    const { seed, numRuns } = propertyParameters('MemoryLog crash vs reference', 300);
    const stepArb = fc.record({ op: abstractOpArb, crash: fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, fc.nat(8)) });
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), async (steps) => {
        let log = new MemoryLog(group);
        const ref = new ReferenceLog();
        const maker = new CallMaker();
        for (const step of steps) {
          const call = maker.make(step.op, ref);
          const records = ref.records(call);
          if (step.crash < 0) {
            await perform(log, call);
            ref.apply(records);
          } else {
            const pending = perform(log, call).then(
              () => 'resolved',
              (error: unknown) => error,
            );
            expect(log.inFlightRecordCount).toBe(records.length);
            const keep = Math.min(step.crash, records.length);
            log = log.crash({ keepInFlightRecords: keep });
            ref.apply(records.slice(0, keep));
            const outcome = await pending;
            if (records.length > 0) expect(outcome).toMatchObject({ code: StorageErrorCode.Crashed });
            else expect(outcome).toBe('resolved');
          }
          expect(normalize(await log.load())).toEqual(normalize(ref.persisted()));
        }
      }),
      { seed, numRuns },
    );
  });
});
