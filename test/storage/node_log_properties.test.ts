/**
 * The crash property of NodeLog, against one reference log per group (support.ts's ReferenceLog,
 * the contract of durable_log.ts written plainly).
 *
 * 1..8 groups (ids chosen to be easy to confuse: prefixes of each other, non-ASCII) run rounds.
 * In a round, a first wave of calls (saves with truncating suffixes, hard states, compactions,
 * snapshot installs, one per group) and maybe a dropGroup start together; the fsync is held, so
 * they are written as one batch and wait there; a second wave of other groups' calls starts while
 * that fsync is in flight and queues. Then either the fsync completes (the first wave resolves,
 * the second is written as the next batch and waits in its turn), or the node crashes:
 *
 *   disk after the last completed fsync ──┬── bytes of the batch in flight ──┐
 *                                         start                           end
 *   the crash cuts the segment at a random offset in [start, end] (a new segment may be left
 *   empty or missing, its directory entry not being durable yet), or flips a random byte in it.
 *
 * Then a fresh NodeLog over the directory must load, for every group, the reference after the
 * calls that resolved, plus every call of the batch in flight if and only if all of its bytes
 * survived (batches are atomic), and none of the queued ones; readEntry must return every live
 * entry. Calls cut short must have been rejected (STORAGE_FAILED), never resolved. Without a crash,
 * each round must cost exactly one fdatasync per batch written. Rounds also reopen the log, and
 * bring back a suffix of the segments the round's last deletion pass removed (a crash between its
 * unlinks): the load must not change.
 *
 * Seeds are printed; QKV_SEED replays one, QKV_RUNS scales the run count.
 */
import { readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DurableLog } from '../../src/storage/durable_log.js';
import { StorageErrorCode } from '../../src/storage/errors.js';
import { commitSize } from '../../src/storage/node_record.js';
import type { NodeLog } from '../../src/storage/node_log.js';
import type { AbstractOp, Call, RefRecord } from './support.js';
import { CallMaker, ReferenceLog, abstractOpArb, lastSegment, normalize, perform, propertyParameters, segmentNames, withTempDir } from './support.js';
import { GatedIo, SegmentArchive, observe, openNodeLog } from './node_log_support.js';

const groupIds = ['g1', 'g10', 'g100', '1', 'g-1', 'γ1', 'g1/x', 'G1'];
const segmentBytesArb = fc.constantFrom(200, 512, 2048, 1 << 20);

/** More compactions than support.ts's mix: a segment goes only once every group has compacted past it. */
const opArb: fc.Arbitrary<AbstractOp> = fc.oneof(
  { weight: 3, arbitrary: abstractOpArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), percent: fc.integer({ min: 50, max: 100 }), learners: fc.boolean() }) },
);
const callArb = fc.record({ group: fc.nat(7), op: opArb });
const crashArb = fc.record({
  /** Which batch of the round is in flight when the node dies: the first wave's or the second's. */
  batch: fc.nat(1),
  /**
   * cut: at a random offset of the batch; all: every byte of it reached the disk (the fsync did
   * not return); uncommitted: every record but the commit record; flip: a random byte damaged.
   */
  mode: fc.constantFrom('cut' as const, 'all' as const, 'uncommitted' as const, 'flip' as const),
  offset: fc.nat(),
  xor: fc.integer({ min: 1, max: 255 }),
  /** A new segment cut to nothing may instead be missing (its directory entry never durable). */
  unlinkEmpty: fc.boolean(),
});
const roundArb = fc.record({
  wave1: fc.array(callArb, { maxLength: 6 }),
  wave2: fc.array(callArb, { maxLength: 6 }),
  drop: fc.option(fc.nat(7), { freq: 6 }),
  crash: fc.option(crashArb, { freq: 3 }),
  reopen: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  resurrect: fc.nat(3),
});
type Round = typeof roundArb extends fc.Arbitrary<infer T> ? T : never;

/** What the runs exercised, printed at the end so that a generator gone dull shows. */
const seen = {
  crashes: 0,
  crashKeptBatch: 0,
  crashInNewSegment: 0,
  crashWithQueued: 0,
  batchesOfSeveralGroups: 0,
  roundsDeletingSegments: 0,
  resurrected: 0,
  drops: 0,
};

/** readEntry returns every entry the reference holds, as saved, and refuses the indices just outside. */
function expectReadsBack(log: DurableLog, ref: ReferenceLog): void {
  const { entries, snapshot } = ref.persisted();
  for (const e of entries) {
    const read = log.readEntry(e.index);
    expect({ group: log.groupId, index: read.index, term: read.term, type: read.type, data: Buffer.from(read.data).toString('hex') }).toEqual({
      group: log.groupId,
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

/** A call (or a drop) under way, with what it writes. */
interface Pending {
  readonly group: number;
  readonly kind: 'call' | 'drop';
  readonly records: readonly RefRecord[];
  readonly writes: boolean;
  readonly outcome: ReturnType<typeof observe>;
}

/** The bytes a batch in flight added: [start, end) of segment `name` (new: the batch created it). */
interface Region {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly isNew: boolean;
}

class Harness {
  node!: NodeLog;
  io!: GatedIo;
  readonly views: DurableLog[] = [];
  readonly refs: ReferenceLog[];
  readonly makers: CallMaker[];
  readonly archive = new SegmentArchive();

  constructor(
    readonly dir: string,
    readonly groups: number,
    readonly segmentBytes: number,
  ) {
    this.refs = Array.from({ length: groups }, () => new ReferenceLog());
    this.makers = Array.from({ length: groups }, () => new CallMaker());
  }

  /** Opens the log afresh and checks every group against its reference. */
  async reopen(): Promise<void> {
    this.io = new GatedIo();
    this.node = await openNodeLog(this.dir, { io: this.io, segmentBytes: this.segmentBytes });
    this.io.held = true;
    for (let g = 0; g < this.groups; g++) {
      const view = this.node.group(groupIds[g]!);
      const loaded = await view.load();
      expect({ group: groupIds[g], log: normalize(loaded) }).toEqual({ group: groupIds[g], log: normalize(this.refs[g]!.persisted()) });
      this.views[g] = view;
    }
    for (let g = 0; g < this.groups; g++) expectReadsBack(this.views[g]!, this.refs[g]!);
    const withState = this.refs.flatMap((ref, g) => (ref.snapshot !== null || ref.entries.length > 0 || ref.hardState.term > 0 || ref.hardState.commit > 0 || ref.hardState.vote !== '' ? [groupIds[g]!] : []));
    expect(this.node.groupIds().sort()).toEqual(withState.sort());
  }

  startCall(group: number, op: AbstractOp): Pending {
    const ref = this.refs[group]!;
    const call: Call = this.makers[group]!.make(op, ref);
    const records = ref.records(call);
    return { group, kind: 'call', records, writes: records.length > 0, outcome: observe(perform(this.views[group]!, call)) };
  }

  async startDrop(group: number): Promise<Pending> {
    await this.views[group]!.close();
    return { group, kind: 'drop', records: [], writes: true, outcome: observe(this.node.dropGroup(groupIds[group]!)) };
  }

  /** A batch resolved: its calls are durable, so the references take them. */
  async applyResolved(batch: readonly Pending[]): Promise<void> {
    // Every call of the released batch was in it: all settle before a later batch is written.
    expect(await this.io.settleBeforeNextBatch(batch.map((p) => p.outcome.settled))).toBe('settled');
    for (const pending of batch) {
      expect({ group: groupIds[pending.group], outcome: await pending.outcome.settled }).toEqual({ group: groupIds[pending.group], outcome: 'resolved' });
      this.applyDurable(pending);
      if (pending.kind === 'drop') {
        seen.drops++;
        const view = this.node.group(groupIds[pending.group]!);
        expect(await view.load()).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
        this.views[pending.group] = view;
      }
    }
  }

  applyDurable(pending: Pending): void {
    if (pending.kind === 'drop') this.refs[pending.group] = new ReferenceLog();
    else this.refs[pending.group]!.apply(pending.records);
  }

  /** Where the batch held at its fsync wrote, given the durable end of the log before it. */
  async regionSince(synced: { name: string; size: number }): Promise<Region> {
    const now = await lastSegment(this.dir);
    if (now.name === synced.name) return { name: now.name, start: synced.size, end: now.size, isNew: false };
    return { name: now.name, start: 0, end: now.size, isNew: true };
  }
}

async function runRound(h: Harness, round: Round): Promise<void> {
  const { dir } = h;
  /**
   * The segments when the last batch was held at its fsync: its deletion pass, the round's last,
   * runs after that. Passes before it are over (each unlink followed by a directory fsync): a
   * crash cannot bring back what they removed.
   */
  let namesBeforeLastPass = await segmentNames(dir);
  await h.archive.update(dir);
  let synced = await lastSegment(dir);
  const fsyncsBefore = h.io.calls;
  let batchesWritten = 0;

  // Each group at most once per round (its calls are never concurrent); the dropped group not at all.
  const used = new Set<number>();
  const pick = (calls: readonly { group: number; op: AbstractOp }[]): { group: number; op: AbstractOp }[] =>
    calls
      .map((c) => ({ group: c.group % h.groups, op: c.op }))
      .filter((c) => {
        if (used.has(c.group)) return false;
        used.add(c.group);
        return true;
      });
  const drop = round.drop === null ? null : round.drop % h.groups;
  if (drop !== null) used.add(drop);
  const wave1 = pick(round.wave1);
  const wave2 = pick(round.wave2);

  let inFlight: Pending[] = wave1.map((c) => h.startCall(c.group, c.op));
  if (drop !== null) inFlight.push(await h.startDrop(drop));
  let queued: Pending[] = [];
  let wave2Started = false;

  for (let batch = 0; batch < 2; batch++) {
    if (batch === 1 && !wave2Started) {
      // The first wave wrote nothing (no-op compactions only): the second goes alone.
      inFlight = wave2.map((c) => h.startCall(c.group, c.op));
      wave2Started = true;
    }
    const writing = inFlight.some((p) => p.writes);
    let region: Region | null = null;
    if (writing) {
      await h.io.whenHeld();
      region = await h.regionSince(synced);
      await h.archive.update(dir);
      namesBeforeLastPass = await segmentNames(dir);
      batchesWritten++;
      if (new Set(inFlight.filter((p) => p.writes).map((p) => p.group)).size > 1) seen.batchesOfSeveralGroups++;
    }
    if (batch === 0 && writing) {
      // The second wave arrives while the first batch's fsync is in flight: it queues.
      queued = wave2.map((c) => h.startCall(c.group, c.op));
      wave2Started = true;
    }

    if (round.crash !== null && round.crash.batch === batch) {
      await crash(h, round.crash, region, inFlight, queued);
      return;
    }
    if (writing) {
      expect(h.io.pending).toBe(1);
      await h.io.release(true);
    }
    await h.applyResolved(inFlight);
    if (region !== null) synced = { name: region.name, size: region.end };
    inFlight = queued;
    queued = [];
  }

  // Group commit: one fdatasync per batch, however many groups the batch served.
  expect(h.io.calls - fsyncsBefore).toBe(batchesWritten);
  for (let g = 0; g < h.groups; g++) expectReadsBack(h.views[g]!, h.refs[g]!);

  const namesAfter = await segmentNames(dir);
  const deleted = namesBeforeLastPass.filter((name) => !namesAfter.includes(name));
  const resurrect = Math.min(round.resurrect, deleted.length);
  if (deleted.length > 0) seen.roundsDeletingSegments++;
  if (resurrect > 0) seen.resurrected++;
  if (round.reopen || resurrect > 0) {
    await h.node.close();
    // Deletion goes oldest first, a directory fsync each: a crash during it leaves a suffix.
    await h.archive.restore(dir, deleted.slice(deleted.length - resurrect));
    await h.reopen();
  }
}

async function crash(
  h: Harness,
  how: NonNullable<Round['crash']>,
  region: Region | null,
  inFlight: readonly Pending[],
  queued: readonly Pending[],
): Promise<void> {
  let survived = false;
  if (region !== null) {
    const path = join(h.dir, region.name);
    const span = region.end - region.start;
    if (how.mode !== 'flip' || span === 0) {
      const position =
        how.mode === 'all' ? region.end : how.mode === 'uncommitted' ? region.end - commitSize : region.start + (how.offset % (span + 1));
      if (region.isNew && position === 0 && how.unlinkEmpty) await unlink(path);
      else await truncate(path, position);
      survived = position === region.end;
    } else {
      const position = region.start + (how.offset % span);
      const bytes = await readFile(path);
      bytes[position] ^= how.xor;
      await writeFile(path, bytes);
    }
  }
  // The node is gone: its fsync never returns. Nothing it had not acknowledged may have resolved.
  h.io.fail(new Error('simulated crash'));
  for (const pending of [...inFlight, ...queued]) {
    const outcome = await pending.outcome.settled;
    if (pending.writes) expect(outcome).toMatchObject({ code: StorageErrorCode.Failed, outcome: 'unknown' });
    else expect(outcome).toBe('resolved');
  }
  await h.node.close();
  seen.crashes++;
  if (survived) seen.crashKeptBatch++;
  if (region?.isNew === true) seen.crashInNewSegment++;
  if (queued.some((p) => p.writes)) seen.crashWithQueued++;
  if (survived) for (const pending of inFlight) h.applyDurable(pending);
  await h.reopen();
}

describe('NodeLog properties', () => {
  it('crash property: every group loads its reference after what resolved, plus the batch in flight whole or not at all', async () => {
    const { seed, numRuns } = propertyParameters('NodeLog crashes vs per-group references', 100);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), segmentBytesArb, fc.array(roundArb, { minLength: 1, maxLength: 16 }), async (groups, segmentBytes, rounds) =>
        withTempDir(async (dir) => {
          const h = new Harness(dir, groups, segmentBytes);
          await h.reopen();
          for (const round of rounds) await runRound(h, round);
          await h.node.close();
          await h.reopen();
          await h.node.close();
        }),
      ),
      { seed, numRuns },
    );
    console.log(`[NodeLog crash property] exercised: ${JSON.stringify(seen)}`);
  });
});
