/**
 * Properties of FileLog against the reference log (support.ts) and MemoryLog:
 *
 * 1. Model agreement: random save/compact sequences, reopened at random points, load what the
 *    reference and MemoryLog hold; a crash in the middle of compaction's deletions (a suffix of the
 *    doomed segments brought back) changes nothing.
 * 2. The crash property: after a random sequence, the tail of the last segment is torn (cut at a
 *    random byte, or a random byte flipped) from the start of a chosen call on; segments that calls
 *    from there on deleted are brought back (those calls never completed). load() must return the
 *    reference after the calls before it plus the records of the damaged call that are entirely
 *    before the damage, and the log must append correctly after the cut.
 */
import { join } from 'node:path';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileLog } from '../../src/storage/file_log.js';
import type { StorageLogger } from '../../src/storage/file_log.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import type { RefRecord } from './support.js';
import {
  CallMaker,
  ReferenceLog,
  abstractOpArb,
  entry,
  lastSegment,
  normalize,
  perform,
  propertyParameters,
  readSegment,
  recordSize,
  segmentNames,
  withTempDir,
} from './support.js';

const group = 'g-7';
const segmentBytesArb = fc.constantFrom(160, 512, 2048, 1 << 20);

/**
 * readEntry (a host paging payloads back in) returns every entry the reference holds, as saved,
 * and refuses the indices just outside the log.
 */
function expectReadsBack(log: FileLog | MemoryLog, ref: ReferenceLog): void {
  const { entries, snapshot } = ref.persisted();
  for (const e of entries) {
    const read = log.readEntry(e.index);
    expect({ index: read.index, term: read.term, type: read.type, data: Buffer.from(read.data).toString('hex') }).toEqual({
      index: e.index,
      term: e.term,
      type: e.type,
      data: Buffer.from(e.data).toString('hex'),
    });
  }
  const first = entries.length > 0 ? entries[0]!.index : (snapshot?.index ?? 0) + 1;
  expect(() => log.readEntry(first - 1)).toThrow(/not in the log/);
  expect(() => log.readEntry(first + entries.length)).toThrow(/not in the log/);
}

const quietLogger: StorageLogger = { warn: () => undefined, info: () => undefined };

class CountingLogger implements StorageLogger {
  warnings = 0;
  warn(): void {
    this.warnings++;
  }
  info(): void {}
}

/**
 * Copies of segments, to bring back those a call deleted. Taken before every call: a segment that
 * is not the last never changes again, so it is read once; the last one is read again each time
 * (installing a snapshot deletes it in the same call that stops appending to it).
 */
class SegmentArchive {
  private readonly contents = new Map<string, Buffer>();

  async update(dir: string): Promise<void> {
    const names = await segmentNames(dir);
    for (const [i, name] of names.entries()) {
      if (i === names.length - 1 || !this.contents.has(name)) this.contents.set(name, await readSegment(dir, name));
    }
  }

  async restore(dir: string, names: readonly string[]): Promise<void> {
    for (const name of names) await writeFile(join(dir, name), this.contents.get(name)!);
  }
}

describe('FileLog properties', () => {
  it('agrees with the reference and MemoryLog across reopens and interrupted compactions', async () => {
    const { seed, numRuns } = propertyParameters('FileLog vs reference and MemoryLog', 120);
    const stepArb = fc.record({
      op: abstractOpArb,
      reopen: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      resurrect: fc.nat(4),
    });
    await fc.assert(
      fc.asyncProperty(segmentBytesArb, fc.array(stepArb, { maxLength: 30 }), async (segmentBytes, steps) =>
        withTempDir(async (dir) => {
          let log = new FileLog({ dir, groupId: group, segmentBytes, logger: quietLogger });
          await log.load();
          const memory = new MemoryLog(group);
          const ref = new ReferenceLog();
          const maker = new CallMaker();
          const archive = new SegmentArchive();
          for (const step of steps) {
            const call = maker.make(step.op, ref);
            const before = await segmentNames(dir);
            await archive.update(dir);
            await perform(log, call);
            await perform(memory, call);
            ref.apply(ref.records(call));
            expectReadsBack(log, ref);
            expectReadsBack(memory, ref);
            const after = await segmentNames(dir);
            const deleted = before.filter((name) => !after.includes(name));
            const resurrect = Math.min(step.resurrect, deleted.length);
            if (step.reopen || resurrect > 0) {
              await log.close();
              // Deletion goes oldest first: a crash during it leaves a suffix of the doomed ones.
              await archive.restore(dir, deleted.slice(deleted.length - resurrect));
              log = new FileLog({ dir, groupId: group, segmentBytes, logger: quietLogger });
              expect(normalize(await log.load())).toEqual(normalize(ref.persisted()));
              expectReadsBack(log, ref);
            }
          }
          expect(normalize(await memory.load())).toEqual(normalize(ref.persisted()));
          await log.close();
          expect(normalize(await new FileLog({ dir, groupId: group, logger: quietLogger }).load())).toEqual(normalize(ref.persisted()));
        }),
      ),
      { seed, numRuns },
    );
  });

  it('crash property: a torn tail loads as the longest complete prefix of records', async () => {
    const { seed, numRuns } = propertyParameters('FileLog torn tail', 300);
    const attackArb = fc.record({
      mode: fc.constantFrom('cut' as const, 'flip' as const),
      call: fc.nat(),
      offset: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
    });
    await fc.assert(
      fc.asyncProperty(segmentBytesArb, fc.array(abstractOpArb, { minLength: 1, maxLength: 25 }), attackArb, async (segmentBytes, ops, attack) =>
        withTempDir(async (dir) => {
          const log = new FileLog({ dir, groupId: group, segmentBytes, logger: quietLogger });
          await log.load();
          const ref = new ReferenceLog();
          const maker = new CallMaker();
          const archive = new SegmentArchive();
          interface Written {
            readonly before: ReferenceLog;
            readonly records: readonly RefRecord[];
            readonly segment: string;
            readonly start: number;
            readonly end: number;
            readonly deleted: readonly string[];
          }
          const history: Written[] = [];
          let previous = await lastSegment(dir);
          for (const op of ops) {
            const call = maker.make(op, ref);
            const records = ref.records(call);
            const before = ref.clone();
            const namesBefore = await segmentNames(dir);
            await archive.update(dir);
            await perform(log, call);
            ref.apply(records);
            const namesAfter = await segmentNames(dir);
            const current = await lastSegment(dir);
            const start = current.name === previous.name ? previous.size : 0;
            const deleted = namesBefore.filter((name) => !namesAfter.includes(name));
            history.push({ before, records, segment: current.name, start, end: current.size, deleted });
            previous = current;
          }
          await log.close();

          // Choose the first call treated as torn: one that wrote into the final last segment.
          const candidates = history.filter((h) => h.segment === previous.name && h.end > h.start);
          if (candidates.length === 0) return;
          const target = candidates[attack.call % candidates.length]!;
          const position = target.start + (attack.offset % (previous.size - target.start));
          const path = join(dir, previous.name);
          if (attack.mode === 'cut') {
            await truncate(path, position);
          } else {
            const bytes = await readFile(path);
            bytes[position] ^= attack.xor;
            await writeFile(path, bytes);
          }
          // The calls from the target on never completed: their deletions never happened.
          const fromTarget = history.slice(history.indexOf(target));
          await archive.restore(dir, fromTarget.flatMap((h) => h.deleted));

          // The damaged call is the one whose bytes hold `position`; its records that end at or
          // before `position` survive. A new segment begins with a header the reference does not
          // model: its size is what the call wrote beyond its records.
          const damaged = fromTarget.find((h) => h.end > position)!;
          const sizes = damaged.records.map(recordSize);
          const headerSize = damaged.end - damaged.start - sizes.reduce((a, b) => a + b, 0);
          expect(headerSize === 0).toBe(damaged.start !== 0);
          const expected = damaged.before.clone();
          let end = damaged.start + headerSize;
          const boundaries = [damaged.start, end];
          let kept = 0;
          for (const size of sizes) {
            end += size;
            boundaries.push(end);
            if (end <= position) kept++;
          }
          expected.apply(damaged.records.slice(0, kept));

          const logger = new CountingLogger();
          const reopened = new FileLog({ dir, groupId: group, segmentBytes, logger });
          expect(normalize(await reopened.load())).toEqual(normalize(expected.persisted()));
          const cleanCut = attack.mode === 'cut' && position > 0 && boundaries.includes(position);
          expect(logger.warnings > 0).toBe(!cleanCut);

          // The log goes on from exactly there.
          const next = entry(expected.lastIndex + 1, 99, 'after the crash');
          await reopened.save({ entries: [next], hardState: { term: 99, vote: 'n1', commit: 0 } });
          await reopened.close();
          expected.apply([
            { kind: 'entry', entry: next },
            { kind: 'hardState', hardState: { term: 99, vote: 'n1', commit: 0 } },
          ]);
          expect(normalize(await new FileLog({ dir, groupId: group, logger: quietLogger }).load())).toEqual(
            normalize(expected.persisted()),
          );
        }),
      ),
      { seed, numRuns },
    );
  });
});
