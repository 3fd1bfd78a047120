import { readFile, truncate, unlink, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DurableLog, PersistedLog } from '../../src/storage/durable_log.js';
import { StorageCorruptError, StorageErrorCode } from '../../src/storage/errors.js';
import { FileLog } from '../../src/storage/file_log.js';
import { NodeLog } from '../../src/storage/node_log.js';
import { commitSize, segmentHeaderSize, writeCheckpoint, writeCommit, writeEntry, writeSegmentHeader } from '../../src/storage/node_record.js';
import { entry, normalize, segmentNames, snapshotAt, withTempDir } from './support.js';
import { GatedIo, RecordingLogger, observe, openGroup, openNodeLog, quietLogger, reloadGroups, turns } from './node_log_support.js';

function indices(log: PersistedLog): number[] {
  return log.entries.map((e) => e.index);
}

async function reloadOne(dir: string, groupId: string, segmentBytes?: number): Promise<PersistedLog> {
  return (await reloadGroups(dir, [groupId], segmentBytes === undefined ? {} : { segmentBytes }))!.get(groupId)!;
}

/** Bytes of a node log entry record: header 8, type 1, group str16, index/term 12, type 1, data. */
function entryRecordBytes(groupId: string, data: string): number {
  return 8 + 1 + 2 + Buffer.byteLength(groupId) + 13 + Buffer.byteLength(data);
}

describe('NodeLog group views keep the DurableLog contract', () => {
  it('opens an empty log in a fresh directory (and creates it); an unknown group loads empty', () =>
    withTempDir(async (dir) => {
      const logDir = join(dir, 'data', 'log');
      const node = await openNodeLog(logDir);
      expect(await node.group('g1').load()).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
      expect(node.groupIds()).toEqual([]);
      await node.close();
      expect(await segmentNames(logDir)).toEqual(['0000000000000001.log']);
    }));

  it('saves entries and hard state of several groups into one file; each loads only its own', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir);
      const a = await openGroup(node, 'g1');
      const b = await openGroup(node, 'g10');
      await Promise.all([
        a.save({ entries: [entry(1, 1, 'a1'), entry(2, 1, '')], hardState: { term: 1, vote: 'nœud-1', commit: 1 } }),
        b.save({ entries: [entry(1, 5, 'b1')], hardState: { term: 5, vote: 'n2', commit: 0 } }),
      ]);
      await a.save({ entries: [entry(3, 2, 'x'.repeat(5000))], hardState: { term: 2, vote: '', commit: 3 } });
      await node.close();
      expect(await segmentNames(dir)).toEqual(['0000000000000001.log']);

      const loaded = await reloadGroups(dir, ['g1', 'g10', 'g2']);
      expect(normalize(loaded.get('g1')!)).toEqual(
        normalize({
          hardState: { term: 2, vote: '', commit: 3 },
          snapshot: null,
          entries: [entry(1, 1, 'a1'), entry(2, 1, ''), entry(3, 2, 'x'.repeat(5000))],
        }),
      );
      expect(normalize(loaded.get('g10')!)).toEqual(normalize({ hardState: { term: 5, vote: 'n2', commit: 0 }, snapshot: null, entries: [entry(1, 5, 'b1')] }));
      expect(loaded.get('g2')).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
      expect(loaded.get('g1')!.entries[0]!.data).toBeInstanceOf(Uint8Array);
      const again = await openNodeLog(dir);
      expect(again.groupIds().sort()).toEqual(['g1', 'g10']);
      await again.close();
    }));

  it('truncates on conflict by appending, across reopen, without touching another group', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir);
      const a = await openGroup(node, 'g1');
      const b = await openGroup(node, 'g2');
      await a.save({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)) });
      await b.save({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)) });
      await a.save({ entries: [entry(3, 2, 'b3'), entry(4, 2, 'b4')] });
      await node.close();
      const loaded = await reloadGroups(dir, ['g1', 'g2']);
      expect(loaded.get('g1')!.entries.map((e) => [e.index, e.term])).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
        [4, 2],
      ]);
      expect(indices(loaded.get('g2')!)).toEqual([1, 2, 3, 4, 5]);
      const again = await openNodeLog(dir);
      await (await openGroup(again, 'g1')).save({ entries: [entry(5, 2)] });
      await again.close();
      expect(indices(await reloadOne(dir, 'g1'))).toEqual([1, 2, 3, 4, 5]);
    }));

  it('rolls segments over; compaction deletes only the segments no group needs', () =>
    withTempDir(async (dir) => {
      const logger = new RecordingLogger();
      const node = await openNodeLog(dir, { segmentBytes: 256, logger });
      const log = await openGroup(node, 'g1');
      for (let i = 1; i <= 40; i++) await log.save({ entries: [entry(i, 1, 'p'.repeat(40))], hardState: { term: 1, vote: 'n1', commit: i } });
      const before = await segmentNames(dir);
      expect(before.length).toBeGreaterThan(10);

      await log.compact(snapshotAt(25, 1));
      const after = await segmentNames(dir);
      expect(after.length).toBeLessThan(before.length);
      expect(after[after.length - 1]).toBe(before[before.length - 1]);
      expect(logger.infos.filter((info) => 'segments' in info)).toHaveLength(1);
      // Every entry of the survivors is live or shares a segment with a live one: the first
      // survivor holds entry 26 (the one after the snapshot) or one before it.
      await log.save({ entries: [entry(41, 1)] });
      for (let i = 26; i <= 41; i++) expect(log.readEntry(i).index).toBe(i);
      await node.close();

      const loaded = await reloadOne(dir, 'g1', 256);
      expect(loaded.snapshot).toEqual(snapshotAt(25, 1));
      expect(indices(loaded)).toEqual(Array.from({ length: 16 }, (_, i) => 26 + i));
      expect(loaded.hardState).toEqual({ term: 1, vote: 'n1', commit: 40 });
    }));

  it('keeps the hard state when every segment that wrote it is deleted', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 200 });
      const log = await openGroup(node, 'g1');
      await log.save({ hardState: { term: 7, vote: 'n3', commit: 0 } });
      for (let i = 1; i <= 20; i++) await log.save({ entries: [entry(i, 7, 'q'.repeat(60))] });
      await log.compact(snapshotAt(20, 7));
      await log.save({ entries: [entry(21, 7)] });
      await log.compact(snapshotAt(21, 7));
      await log.save({ entries: [entry(22, 7, 'r'.repeat(300))] });
      await log.compact(snapshotAt(22, 7));
      await node.close();
      expect((await segmentNames(dir)).length).toBeLessThanOrEqual(2);
      expect(await segmentNames(dir)).not.toContain('0000000000000001.log');
      const loaded = await reloadOne(dir, 'g1');
      expect(loaded.hardState).toEqual({ term: 7, vote: 'n3', commit: 0 });
      expect(loaded.snapshot).toEqual(snapshotAt(22, 7));
      expect(loaded.entries).toEqual([]);
    }));

  it('installs a snapshot: the entries of the same update after it stay, the older segments go', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 300 });
      const log = await openGroup(node, 'g1');
      for (let i = 1; i <= 10; i++) await log.save({ entries: [entry(i, 1, 'z'.repeat(50))] });
      const before = await segmentNames(dir);
      await log.save({
        snapshot: snapshotAt(50, 4, ['n1', 'n2'], ['n9']),
        entries: [entry(49, 4), entry(50, 4), entry(51, 4), entry(52, 4)],
        hardState: { term: 4, vote: 'n2', commit: 50 },
      });
      // Only the active segment is left: the install killed every older entry.
      expect(await segmentNames(dir)).toEqual([before[before.length - 1]]);
      await log.save({ entries: [entry(53, 4)] });
      expect(() => log.readEntry(10)).toThrow(/not in the log/);
      expect(log.readEntry(51).term).toBe(4);
      await node.close();
      const loaded = await reloadOne(dir, 'g1');
      expect(loaded.snapshot).toEqual(snapshotAt(50, 4, ['n1', 'n2'], ['n9']));
      expect(indices(loaded)).toEqual([51, 52, 53]);
      expect(loaded.hardState).toEqual({ term: 4, vote: 'n2', commit: 50 });
    }));

  it('reads entries back by location, checksummed, and refuses the indices outside the log', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 400 });
      const a = await openGroup(node, 'g1');
      const b = await openGroup(node, 'g2');
      for (let i = 1; i <= 12; i++) {
        await Promise.all([a.save({ entries: [entry(i, 1, `a${i}`.repeat(9))] }), b.save({ entries: [entry(i, 2, `b${i}`.repeat(7))] })]);
      }
      await a.compact(snapshotAt(4, 1));
      const check = (log: DurableLog, first: number, prefix: string, term: number): void => {
        for (let i = first; i <= 12; i++) {
          const read = log.readEntry(i);
          expect([read.index, read.term, Buffer.from(read.data).toString()]).toEqual([i, term, `${prefix}${i}`.repeat(prefix === 'a' ? 9 : 7)]);
        }
        expect(() => log.readEntry(first - 1)).toThrow(/not in the log/);
        expect(() => log.readEntry(13)).toThrow(/not in the log/);
      };
      check(a, 5, 'a', 1);
      check(b, 1, 'b', 2);
      // A view opened again (the group's replica restarted in a running node) loads from the files.
      await b.close();
      const b2 = await node.group('g2').load();
      expect(normalize(b2)).toEqual(normalize({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: Array.from({ length: 12 }, (_, i) => entry(i + 1, 2, `b${i + 1}`.repeat(7))) }));
      await node.close();

      const again = await openNodeLog(dir, { segmentBytes: 400 });
      check(await openGroup(again, 'g1'), 5, 'a', 1);
      check(await openGroup(again, 'g2'), 1, 'b', 2);
      await again.close();
    }));

  it('rejects invalid updates without writing, and stays usable', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir);
      const log = await openGroup(node, 'g1');
      await log.save({ entries: [entry(1, 1), entry(2, 1)] });
      await expect(log.save({ entries: [entry(4, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
      await expect(log.compact(snapshotAt(9, 1))).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
      await expect(log.save({ hardState: { term: -1, vote: '', commit: 0 } })).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
      expect(() => node.group('')).toThrow(expect.objectContaining({ code: StorageErrorCode.InvalidUpdate }));
      await log.save({ entries: [entry(3, 1)] });
      await node.close();
      expect(indices(await reloadOne(dir, 'g1'))).toEqual([1, 2, 3]);
    }));

  it('refuses calls before load(), after close(), concurrent ones, and a second view of a group', () =>
    withTempDir(async (dir) => {
      const unopened = new NodeLog({ dir, logger: quietLogger });
      expect(() => unopened.group('g1')).toThrow(expect.objectContaining({ code: StorageErrorCode.InvalidState }));
      await unopened.open();
      await expect(unopened.open()).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      const log = unopened.group('g1');
      await expect(log.save({ entries: [entry(1, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      expect(() => unopened.group('g1')).toThrow(expect.objectContaining({ code: StorageErrorCode.InvalidState }));
      await log.load();
      await expect(log.load()).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      const first = log.save({ entries: [entry(1, 1)] });
      await expect(log.save({ entries: [entry(2, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      await expect(log.compact(snapshotAt(1, 1))).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      await first;
      await log.close();
      await expect(log.compact(snapshotAt(1, 1))).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      const other = await openGroup(unopened, 'g2');
      await unopened.close();
      await expect(other.save({ entries: [entry(1, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      expect(() => unopened.group('g3')).toThrow(expect.objectContaining({ code: StorageErrorCode.InvalidState }));
    }));
});

describe('NodeLog group commit', () => {
  it('saves of N groups in the same turn cost one write and one fdatasync', () =>
    withTempDir(async (dir) => {
      const io = new GatedIo();
      const node = await openNodeLog(dir, { io });
      const groups: DurableLog[] = [];
      for (let g = 0; g < 16; g++) groups.push(await openGroup(node, `g${g}`));
      const before = io.calls;
      await Promise.all(groups.map((log, g) => log.save({ entries: [entry(1, 1, `group ${g}`)], hardState: { term: 1, vote: '', commit: 0 } })));
      expect(io.calls - before).toBe(1);
      // Compactions of several groups in one turn go together as well.
      await Promise.all(groups.map((log) => log.compact(snapshotAt(1, 1))));
      expect(io.calls - before).toBe(2);
      await node.close();
      const loaded = await reloadGroups(dir, groups.map((log) => log.groupId));
      for (const log of groups) {
        expect(loaded.get(log.groupId)!.snapshot).toEqual(snapshotAt(1, 1));
        expect(loaded.get(log.groupId)!.hardState.term).toBe(1);
      }
    }));

  it('saves that arrive during a slow fsync queue, and go together in the next one', () =>
    withTempDir(async (dir) => {
      const io = new GatedIo();
      const node = await openNodeLog(dir, { io });
      const groups: DurableLog[] = [];
      for (let g = 0; g < 8; g++) groups.push(await openGroup(node, `g${g}`));
      const before = io.calls;
      io.held = true;
      const first = observe(groups[0]!.save({ entries: [entry(1, 1)] }));
      await io.whenHeld();
      // Group 0's fsync is in flight; the others save now, over several turns.
      const rest: ReturnType<typeof observe>[] = [];
      for (const log of groups.slice(1)) {
        rest.push(observe(log.save({ entries: [entry(1, 1)] })));
        await turns(2);
      }
      expect(io.calls - before).toBe(1);
      expect(first.state()).toBe('pending');
      // The first fsync completes: group 0 resolves, and the seven queued saves are one batch.
      await io.release(true);
      await first.settled;
      expect(first.state()).toBe('resolved');
      await io.whenHeld();
      expect(io.calls - before).toBe(2);
      await turns(5);
      expect(rest.map((r) => r.state())).toEqual(Array(7).fill('pending'));
      await io.release();
      for (const r of rest) expect(await r.settled).toBe('resolved');
      expect(io.calls - before).toBe(2);
      await node.close();
      const loaded = await reloadGroups(dir, groups.map((log) => log.groupId));
      for (const log of groups) expect(indices(loaded.get(log.groupId)!)).toEqual([1]);
    }));

  it('a failed fsync fails every call of its batch and every queued one (outcome unknown); the log refuses further calls', () =>
    withTempDir(async (dir) => {
      const io = new GatedIo();
      const node = await openNodeLog(dir, { io });
      const a = await openGroup(node, 'g1');
      const b = await openGroup(node, 'g2');
      const c = await openGroup(node, 'g3');
      await a.save({ entries: [entry(1, 1)] });
      io.held = true;
      const inBatch = [observe(a.save({ entries: [entry(2, 1)] })), observe(b.save({ entries: [entry(1, 1)] }))];
      await io.whenHeld();
      const queued = observe(c.save({ entries: [entry(1, 1)] }));
      io.fail(new Error('EIO'));
      for (const call of [...inBatch, queued]) {
        expect(await call.settled).toMatchObject({ code: StorageErrorCode.Failed, outcome: 'unknown' });
      }
      await expect(a.save({ entries: [entry(3, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.Failed });
      expect(() => a.readEntry(1)).toThrow(expect.objectContaining({ code: StorageErrorCode.Failed }));
      expect(() => node.group('g4')).toThrow(expect.objectContaining({ code: StorageErrorCode.Failed }));
      await node.close();
      // What the disk decides: the batch was written (not synced), so here it is there.
      const loaded = await reloadGroups(dir, ['g1', 'g2', 'g3']);
      expect(indices(loaded.get('g1')!)).toEqual([1, 2]);
      expect(indices(loaded.get('g3')!)).toEqual([]);
    }));
});

describe('NodeLog segment deletion across groups', () => {
  it('keeps a segment while any group has a live entry in it; deletes it once none has', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 300 });
      const a = await openGroup(node, 'ga');
      const b = await openGroup(node, 'gb');
      for (let i = 1; i <= 20; i++) {
        await Promise.all([a.save({ entries: [entry(i, 1, 'a'.repeat(30))] }), b.save({ entries: [entry(i, 1, 'b'.repeat(30))] })]);
      }
      const before = await segmentNames(dir);
      expect(before.length).toBeGreaterThan(5);
      await a.compact(snapshotAt(20, 1));
      // Group b still needs every segment: nothing may go.
      expect(await segmentNames(dir)).toEqual(before);
      await b.compact(snapshotAt(10, 1));
      const middle = await segmentNames(dir);
      expect(middle.length).toBeLessThan(before.length);
      expect(middle.length).toBeGreaterThan(1);
      await b.compact(snapshotAt(20, 1));
      // Only the active segment is left (the markers may have started a new one).
      expect((await segmentNames(dir)).length).toBe(1);
      await node.close();

      const loaded = await reloadGroups(dir, ['ga', 'gb'], { segmentBytes: 300 });
      for (const id of ['ga', 'gb']) {
        expect(loaded.get(id)!.snapshot).toEqual(snapshotAt(20, 1));
        expect(loaded.get(id)!.entries).toEqual([]);
      }
    }));

  it('keeps every entry of a split-off group, whose log starts at its first snapshot\'s marker (index 1), while its parent compacts', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 300 });
      const parent = await openGroup(node, 'g1');
      const child = await openGroup(node, 'g2');
      // As RaftGroup.open starts a replica opened from the split's state: the snapshot marker only.
      await child.save({ hardState: { term: 1, vote: '', commit: 1 }, snapshot: snapshotAt(1, 1, ['n1', 'n2', 'n3']) });
      for (let i = 1; i <= 30; i++) {
        await Promise.all([parent.save({ entries: [entry(i, 1, 'p'.repeat(30))] }), child.save({ entries: [entry(i + 1, 2, 'c'.repeat(30))] })]);
        // The parent snapshots often; the child, whose first snapshot is not durable yet, never.
        if (i % 5 === 0) await parent.compact(snapshotAt(i, 1));
      }
      // Rolled over many times, and every segment kept: each holds live entries of the child.
      const kept = await segmentNames(dir);
      expect(kept.length).toBeGreaterThan(5);
      expect(kept[0]).toBe('0000000000000001.log');
      await node.close();
      const loaded = (await reloadGroups(dir, ['g2'], { segmentBytes: 300 })).get('g2')!;
      expect(loaded.snapshot).toEqual(snapshotAt(1, 1, ['n1', 'n2', 'n3']));
      expect(indices(loaded)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    }));

  it('keeps a quiet group\'s only hard state and snapshot across the deletion of the segments that wrote them', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 300 });
      const quiet = await openGroup(node, 'quiet');
      await quiet.save({ entries: [entry(1, 3), entry(2, 3)], hardState: { term: 3, vote: 'n2', commit: 2 } });
      await quiet.compact(snapshotAt(2, 3));
      const busy = await openGroup(node, 'busy');
      for (let i = 1; i <= 30; i++) {
        await busy.save({ entries: [entry(i, 1, 'x'.repeat(50))] });
        if (i % 5 === 0) await busy.compact(snapshotAt(i, 1));
      }
      const names = await segmentNames(dir);
      expect(names).not.toContain('0000000000000001.log');
      await node.close();
      const loaded = await reloadGroups(dir, ['quiet', 'busy']);
      expect(loaded.get('quiet')).toEqual({ hardState: { term: 3, vote: 'n2', commit: 2 }, snapshot: snapshotAt(2, 3), entries: [] });
      expect(loaded.get('busy')!.snapshot).toEqual(snapshotAt(30, 1));
    }));

  it('a group that never compacts pins the segments until it is dropped; the drop is durable', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 300 });
      const stuck = await openGroup(node, 'stuck');
      await stuck.save({ entries: [entry(1, 1, 'pinned')], hardState: { term: 1, vote: 'n1', commit: 1 } });
      const busy = await openGroup(node, 'busy');
      for (let i = 1; i <= 20; i++) await busy.save({ entries: [entry(i, 1, 'y'.repeat(60))] });
      await busy.compact(snapshotAt(20, 1));
      const pinned = await segmentNames(dir);
      expect(pinned[0]).toBe('0000000000000001.log');

      await expect(node.dropGroup('stuck')).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      await stuck.close();
      await node.dropGroup('stuck');
      expect(await segmentNames(dir)).toEqual([pinned[pinned.length - 1]]);
      await expect(stuck.save({ entries: [entry(2, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      expect(node.groupIds()).toEqual(['busy']);
      await node.close();

      const again = await openNodeLog(dir);
      expect(again.groupIds()).toEqual(['busy']);
      // The group may come back later (re-added to this node), starting empty.
      const back = again.group('stuck');
      expect(await back.load()).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
      expect(() => back.readEntry(1)).toThrow(/not in the log/);
      await back.save({ entries: [entry(1, 9, 'new life')] });
      await again.close();
      const loaded = await reloadGroups(dir, ['stuck', 'busy']);
      expect(loaded.get('stuck')!.entries.map((e) => e.term)).toEqual([9]);
      expect(loaded.get('stuck')!.hardState).toEqual({ term: 0, vote: '', commit: 0 });
      expect(loaded.get('busy')!.snapshot).toEqual(snapshotAt(20, 1));
    }));

  it('loads the same state when a crash left segments that deletion meant to remove', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 250 });
      const a = await openGroup(node, 'g1');
      const b = await openGroup(node, 'g2');
      for (let i = 1; i <= 12; i++) {
        await Promise.all([
          a.save({ entries: [entry(i, 1, 'u'.repeat(40))], hardState: { term: 1, vote: '', commit: i } }),
          b.save({ entries: [entry(i, 2, 'v'.repeat(30))], hardState: { term: 2, vote: 'n2', commit: i - 1 } }),
        ]);
      }
      const names = await segmentNames(dir);
      const contents = new Map<string, Buffer>();
      for (const name of names.slice(0, -1)) contents.set(name, await readFile(join(dir, name)));
      await Promise.all([a.compact(snapshotAt(9, 1)), b.compact(snapshotAt(8, 2))]);
      await node.close();
      const expected = await reloadGroups(dir, ['g1', 'g2']);
      const remaining = await segmentNames(dir);
      const gone = names.filter((name) => !remaining.includes(name));
      expect(gone.length).toBeGreaterThan(0);
      // Deletion goes oldest first, one directory fsync each: a crash leaves a suffix of the doomed.
      for (let keep = 1; keep <= gone.length; keep++) {
        for (const name of gone.slice(gone.length - keep)) await writeFile(join(dir, name), contents.get(name)!);
        const loaded = await reloadGroups(dir, ['g1', 'g2']);
        for (const id of ['g1', 'g2']) expect(normalize(loaded.get(id)!)).toEqual(normalize(expected.get(id)!));
      }
    }));
});

describe('NodeLog damage', () => {
  it('cuts a torn batch from the last segment: every group\'s part of it goes, the earlier batches stay', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir);
      const a = await openGroup(node, 'g1');
      const b = await openGroup(node, 'g2');
      await a.save({ entries: [entry(1, 1), entry(2, 1)] });
      await Promise.all([a.save({ entries: [entry(3, 1, 'torn away')] }), b.save({ entries: [entry(1, 1, 'and this')] })]);
      await node.close();
      const [name] = await segmentNames(dir);
      const path = join(dir, name!);
      const size = (await readFile(path)).length;
      // Cut into the commit record only: every record of g1 and g2 is intact, the batch is not.
      await truncate(path, size - 3);
      const lastBatch = entryRecordBytes('g1', 'torn away') + entryRecordBytes('g2', 'and this') + commitSize;

      const logger = new RecordingLogger();
      const again = await openNodeLog(dir, { logger });
      expect(logger.warnings).toEqual([
        expect.objectContaining({ segment: name, offset: size - lastBatch, bytesCut: lastBatch - 3, reason: expect.stringContaining('short') }),
      ]);
      const a2 = await openGroup(again, 'g1');
      expect(indices(await again.group('g2').load())).toEqual([]);
      await a2.save({ entries: [entry(3, 2)] });
      await again.close();
      const loaded = await reloadGroups(dir, ['g1', 'g2']);
      expect(loaded.get('g1')!.entries.map((e) => [e.index, e.term])).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
      ]);
      expect(loaded.get('g2')!.entries).toEqual([]);
    }));

  it('cuts intact records that no commit record follows', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir);
      const a = await openGroup(node, 'g1');
      await a.save({ entries: [entry(1, 1)] });
      await a.save({ entries: [entry(2, 1, 'uncommitted')] });
      await node.close();
      const [name] = await segmentNames(dir);
      const path = join(dir, name!);
      const size = (await readFile(path)).length;
      await truncate(path, size - commitSize);
      const logger = new RecordingLogger();
      const again = await openNodeLog(dir, { logger });
      expect(logger.warnings).toEqual([expect.objectContaining({ reason: expect.stringContaining('after the last commit') })]);
      expect(indices(await again.group('g1').load())).toEqual([1]);
      await again.close();
    }));

  it('treats a checksum failure in a segment that is not the last as corruption', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 200 });
      const log = await openGroup(node, 'g1');
      for (let i = 1; i <= 10; i++) await log.save({ entries: [entry(i, 1, 'w'.repeat(60))] });
      await node.close();
      const names = await segmentNames(dir);
      expect(names.length).toBeGreaterThan(2);
      const path = join(dir, names[1]!);
      const bytes = await readFile(path);
      bytes[bytes.length - 5] ^= 0x40;
      await writeFile(path, bytes);
      const error = await openNodeLog(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageCorruptError);
      expect(error).toMatchObject({ code: StorageErrorCode.Corrupt, location: { segment: names[1] } });
    }));

  it('treats a missing segment in the middle, or a segment under another name, as corruption', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 200 });
      const log = await openGroup(node, 'g1');
      for (let i = 1; i <= 10; i++) await log.save({ entries: [entry(i, 1, 'w'.repeat(60))] });
      await node.close();
      const names = await segmentNames(dir);
      await unlink(join(dir, names[1]!));
      await expect(openNodeLog(dir)).rejects.toMatchObject({ code: StorageErrorCode.Corrupt });
      await rename(join(dir, names[0]!), join(dir, names[1]!));
      await expect(openNodeLog(dir)).rejects.toThrow(/segment header says segment 1/);
    }));

  it('removes a last segment that never completed its first batch', () =>
    withTempDir(async (dir) => {
      const node = await openNodeLog(dir, { segmentBytes: 200 });
      const log = await openGroup(node, 'g1');
      for (let i = 1; i <= 4; i++) await log.save({ entries: [entry(i, 1, 'v'.repeat(100))] });
      await node.close();
      const names = await segmentNames(dir);
      const next = String(names.length + 1).padStart(16, '0') + '.log';
      // A rollover that crashed with only the segment header on disk, then one with nothing.
      const header = Buffer.alloc(segmentHeaderSize);
      writeSegmentHeader(header, 0, names.length + 1);
      for (const contents of [header, Buffer.alloc(0)]) {
        await writeFile(join(dir, next), contents);
        const logger = new RecordingLogger();
        const again = await openNodeLog(dir, { logger, segmentBytes: 200 });
        expect(logger.warnings.some((w) => w.segment === next)).toBe(true);
        expect(await segmentNames(dir)).toEqual(names);
        await again.close();
      }
      const again = await openNodeLog(dir, { segmentBytes: 200 });
      await (await openGroup(again, 'g1')).save({ entries: [entry(5, 1)] });
      await again.close();
      expect(indices(await reloadOne(dir, 'g1'))).toEqual([1, 2, 3, 4, 5]);
    }));

  it('refuses a segment that starts without restating a group that has state (records would be misattributed)', () =>
    withTempDir(async (dir) => {
      const one = Buffer.alloc(1024);
      let pos = writeSegmentHeader(one, 0, 1);
      pos = writeEntry(one, pos, 'g1', entry(1, 1));
      pos = writeCommit(one, pos, 1);
      await writeFile(join(dir, '0000000000000001.log'), one.subarray(0, pos));
      const two = Buffer.alloc(1024);
      let end = writeSegmentHeader(two, 0, 2);
      end = writeEntry(two, end, 'g1', entry(2, 1));
      end = writeCommit(two, end, 1);
      await writeFile(join(dir, '0000000000000002.log'), two.subarray(0, end));
      await expect(openNodeLog(dir)).rejects.toThrow(/does not checkpoint group\(s\) "g1"/);

      // With a checkpoint that contradicts the records before it:
      end = writeSegmentHeader(two, 0, 2);
      end = writeCheckpoint(two, end, 'g1', { prevIndex: 1, hardState: { term: 4, vote: '', commit: 0 }, snapshot: null });
      end = writeEntry(two, end, 'g1', entry(2, 1));
      end = writeCommit(two, end, 2);
      await writeFile(join(dir, '0000000000000002.log'), two.subarray(0, end));
      await expect(openNodeLog(dir)).rejects.toThrow(/does not restate/);

      // And as it should be:
      end = writeSegmentHeader(two, 0, 2);
      end = writeCheckpoint(two, end, 'g1', { prevIndex: 1, hardState: { term: 0, vote: '', commit: 0 }, snapshot: null });
      end = writeEntry(two, end, 'g1', entry(2, 1));
      end = writeCommit(two, end, 2);
      await writeFile(join(dir, '0000000000000002.log'), two.subarray(0, end));
      expect(indices(await reloadOne(dir, 'g1'))).toEqual([1, 2]);
    }));

  it('a FileLog directory is not a node log, and the other way round', () =>
    withTempDir(async (dir) => {
      const fileLog = new FileLog({ dir: join(dir, 'file'), groupId: 'g1' });
      await fileLog.load();
      await fileLog.save({ entries: [entry(1, 1)] });
      await fileLog.close();
      await expect(openNodeLog(join(dir, 'file'))).rejects.toMatchObject({ code: StorageErrorCode.Corrupt });
      const node = await openNodeLog(join(dir, 'node'));
      await (await openGroup(node, 'g1')).save({ entries: [entry(1, 1)] });
      await node.close();
      await expect(new FileLog({ dir: join(dir, 'node'), groupId: 'g1' }).load()).rejects.toMatchObject({ code: StorageErrorCode.Corrupt });
    }));
});
