import { readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PersistedLog } from '../../src/storage/durable_log.js';
import { StorageCorruptError, StorageErrorCode, StorageGroupMismatchError } from '../../src/storage/errors.js';
import { FileLog } from '../../src/storage/file_log.js';
import type { FileLogOptions, StorageLogger } from '../../src/storage/file_log.js';
import { entry, normalize, segmentNames, snapshotAt, withTempDir } from './support.js';

const group = 'g1';

class RecordingLogger implements StorageLogger {
  readonly warnings: Record<string, unknown>[] = [];
  readonly infos: Record<string, unknown>[] = [];
  warn(fields: Record<string, unknown>): void {
    this.warnings.push(fields);
  }
  info(fields: Record<string, unknown>): void {
    this.infos.push(fields);
  }
}

async function reopen(dir: string, options: Partial<FileLogOptions> = {}): Promise<PersistedLog> {
  const log = new FileLog({ dir, groupId: group, ...options });
  try {
    return await log.load();
  } finally {
    await log.close();
  }
}

async function opened(dir: string, options: Partial<FileLogOptions> = {}): Promise<FileLog> {
  const log = new FileLog({ dir, groupId: group, ...options });
  await log.load();
  return log;
}

function indices(log: PersistedLog): number[] {
  return log.entries.map((e) => e.index);
}

describe('FileLog round trips', () => {
  it('loads an empty log from a fresh directory (and creates it)', () =>
    withTempDir(async (dir) => {
      const loaded = await reopen(join(dir, 'group', 'g1'));
      expect(loaded).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
      expect(await segmentNames(join(dir, 'group', 'g1'))).toEqual(['0000000000000001.log']);
    }));

  it('saves entries and hard state; a reopened log loads the same', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir);
      const first = { entries: [entry(1, 1), entry(2, 1, '')], hardState: { term: 1, vote: 'nœud-1', commit: 1 } };
      await log.save(first);
      await log.save({ entries: [entry(3, 2, 'x'.repeat(5000))], hardState: { term: 2, vote: '', commit: 3 } });
      await log.close();
      const loaded = await reopen(dir);
      expect(normalize(loaded)).toEqual(
        normalize({
          hardState: { term: 2, vote: '', commit: 3 },
          snapshot: null,
          entries: [entry(1, 1), entry(2, 1, ''), entry(3, 2, 'x'.repeat(5000))],
        }),
      );
      expect(loaded.entries[0]!.data).toBeInstanceOf(Uint8Array);
    }));

  it('truncates on conflict by appending, across reopen', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir);
      await log.save({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)) });
      await log.save({ entries: [entry(3, 2, 'b3'), entry(4, 2, 'b4')] });
      await log.close();
      const loaded = await reopen(dir);
      expect(loaded.entries.map((e) => [e.index, e.term])).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
        [4, 2],
      ]);
      // Appending after a reload continues from the replayed last index.
      const again = await opened(dir);
      await again.save({ entries: [entry(5, 2)] });
      await again.close();
      expect(indices(await reopen(dir))).toEqual([1, 2, 3, 4, 5]);
    }));

  it('rolls segments over and compaction deletes only segments the snapshot covers', () =>
    withTempDir(async (dir) => {
      const logger = new RecordingLogger();
      const log = await opened(dir, { segmentBytes: 256, logger });
      for (let i = 1; i <= 40; i++) await log.save({ entries: [entry(i, 1, 'p'.repeat(40))], hardState: { term: 1, vote: 'n1', commit: i } });
      const before = await segmentNames(dir);
      expect(before.length).toBeGreaterThan(10);

      await log.compact(snapshotAt(25, 1));
      const after = await segmentNames(dir);
      expect(after.length).toBeLessThan(before.length);
      expect(after[after.length - 1]).toBe(before[before.length - 1]);
      expect(logger.infos.length).toBe(1);
      await log.save({ entries: [entry(41, 1)] });
      await log.close();

      const loaded = await reopen(dir, { segmentBytes: 256 });
      expect(loaded.snapshot).toEqual(snapshotAt(25, 1));
      expect(indices(loaded)).toEqual(Array.from({ length: 16 }, (_, i) => 26 + i));
      expect(loaded.hardState).toEqual({ term: 1, vote: 'n1', commit: 40 });
    }));

  it('keeps the hard state when every segment that wrote it is deleted', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir, { segmentBytes: 200 });
      await log.save({ hardState: { term: 7, vote: 'n3', commit: 0 } });
      for (let i = 1; i <= 20; i++) await log.save({ entries: [entry(i, 7, 'q'.repeat(60))] });
      await log.compact(snapshotAt(20, 7));
      await log.save({ entries: [entry(21, 7)] });
      await log.compact(snapshotAt(21, 7));
      await log.save({ entries: [entry(22, 7, 'r'.repeat(300))] });
      await log.compact(snapshotAt(22, 7));
      await log.close();
      expect((await segmentNames(dir)).length).toBeLessThanOrEqual(2);
      const loaded = await reopen(dir);
      expect(loaded.hardState).toEqual({ term: 7, vote: 'n3', commit: 0 });
      expect(loaded.snapshot).toEqual(snapshotAt(22, 7));
      expect(loaded.entries).toEqual([]);
    }));

  it('installs a snapshot: older segments go, entries of the same update after it stay', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir, { segmentBytes: 300 });
      for (let i = 1; i <= 10; i++) await log.save({ entries: [entry(i, 1, 'z'.repeat(50))] });
      await log.save({
        snapshot: snapshotAt(50, 4, ['n1', 'n2'], ['n9']),
        entries: [entry(49, 4), entry(50, 4), entry(51, 4), entry(52, 4)],
        hardState: { term: 4, vote: 'n2', commit: 50 },
      });
      expect((await segmentNames(dir)).length).toBe(1);
      await log.save({ entries: [entry(53, 4)] });
      await log.close();
      const loaded = await reopen(dir);
      expect(loaded.snapshot).toEqual(snapshotAt(50, 4, ['n1', 'n2'], ['n9']));
      expect(indices(loaded)).toEqual([51, 52, 53]);
      expect(loaded.hardState).toEqual({ term: 4, vote: 'n2', commit: 50 });
    }));

  it('refuses to open the log of another group', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir);
      await log.save({ entries: [entry(1, 1)] });
      await log.close();
      const other = new FileLog({ dir, groupId: 'g2' });
      const error = await other.load().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageGroupMismatchError);
      expect(error).toMatchObject({ code: StorageErrorCode.GroupMismatch, expectedGroupId: 'g2', foundGroupId: 'g1' });
      await expect(other.save({ entries: [entry(2, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.Failed });
      await other.close();
    }));

  it('rejects invalid updates without writing, and stays usable', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir);
      await log.save({ entries: [entry(1, 1), entry(2, 1)] });
      await expect(log.save({ entries: [entry(4, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
      await expect(log.compact(snapshotAt(9, 1))).rejects.toMatchObject({ code: StorageErrorCode.InvalidUpdate });
      await expect(log.save({ hardState: { term: -1, vote: '', commit: 0 } })).rejects.toMatchObject({
        code: StorageErrorCode.InvalidUpdate,
      });
      await log.save({ entries: [entry(3, 1)] });
      await log.close();
      expect(indices(await reopen(dir))).toEqual([1, 2, 3]);
    }));

  it('refuses calls before load(), after close() and concurrent ones', () =>
    withTempDir(async (dir) => {
      const log = new FileLog({ dir, groupId: group });
      await expect(log.save({ entries: [entry(1, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      await log.load();
      await expect(log.load()).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      const first = log.save({ entries: [entry(1, 1)] });
      await expect(log.save({ entries: [entry(2, 1)] })).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
      await first;
      await log.close();
      await expect(log.compact(snapshotAt(1, 1))).rejects.toMatchObject({ code: StorageErrorCode.InvalidState });
    }));
});

describe('FileLog damage', () => {
  it('cuts a torn tail from the last segment, reports it, and appends after the cut', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir);
      await log.save({ entries: [entry(1, 1), entry(2, 1)] });
      await log.save({ entries: [entry(3, 1, 'torn away')] });
      await log.close();
      const [name] = await segmentNames(dir);
      const path = join(dir, name!);
      const size = (await readFile(path)).length;
      await truncate(path, size - 3);

      const logger = new RecordingLogger();
      const again = await opened(dir, { logger });
      expect(logger.warnings).toEqual([
        expect.objectContaining({ segment: name, offset: size - 22 - 9, bytesCut: 22 + 9 - 3, reason: expect.stringContaining('short') }),
      ]);
      await again.save({ entries: [entry(3, 2)] });
      await again.close();
      const loaded = await reopen(dir);
      expect(loaded.entries.map((e) => [e.index, e.term])).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
      ]);
    }));

  it('treats a checksum failure in a segment that is not the last as corruption', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir, { segmentBytes: 200 });
      for (let i = 1; i <= 10; i++) await log.save({ entries: [entry(i, 1, 'w'.repeat(60))] });
      await log.close();
      const names = await segmentNames(dir);
      expect(names.length).toBeGreaterThan(2);
      const path = join(dir, names[1]!);
      const bytes = await readFile(path);
      bytes[bytes.length - 5] ^= 0x40;
      await writeFile(path, bytes);

      const error = await reopen(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageCorruptError);
      expect(error).toMatchObject({ name: 'StorageCorruptError', code: StorageErrorCode.Corrupt, location: { segment: names[1] } });
    }));

  it('treats a missing segment in the middle as corruption', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir, { segmentBytes: 200 });
      for (let i = 1; i <= 10; i++) await log.save({ entries: [entry(i, 1, 'w'.repeat(60))] });
      await log.close();
      const names = await segmentNames(dir);
      await unlink(join(dir, names[1]!));
      await expect(reopen(dir)).rejects.toMatchObject({ code: StorageErrorCode.Corrupt });
    }));

  it('removes a last segment whose header never became durable', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir, { segmentBytes: 200 });
      for (let i = 1; i <= 4; i++) await log.save({ entries: [entry(i, 1, 'v'.repeat(100))] });
      await log.close();
      const names = await segmentNames(dir);
      const expected = await reopen(dir);
      const lastEntry = expected.entries[expected.entries.length - 1]!.index;
      // A rollover that crashed right after creating the file, before its first write.
      const next = String(Number(names[names.length - 1]!.slice(0, 16)) + 1).padStart(16, '0') + '.log';
      await writeFile(join(dir, next), Buffer.alloc(0));
      const logger = new RecordingLogger();
      const again = await opened(dir, { logger, segmentBytes: 200 });
      expect(logger.warnings).toHaveLength(1);
      expect(await segmentNames(dir)).toEqual(names);
      await again.save({ entries: [entry(lastEntry + 1, 1)] });
      await again.close();
      expect(indices(await reopen(dir))).toEqual([...indices(expected), lastEntry + 1]);
    }));

  it('loads the same state when a crash left segments that compaction meant to delete', () =>
    withTempDir(async (dir) => {
      const log = await opened(dir, { segmentBytes: 200 });
      for (let i = 1; i <= 12; i++) await log.save({ entries: [entry(i, 1, 'u'.repeat(70))], hardState: { term: 1, vote: '', commit: i } });
      const names = await segmentNames(dir);
      const contents = new Map<string, Buffer>();
      for (const name of names.slice(0, -1)) contents.set(name, await readFile(join(dir, name)));
      await log.compact(snapshotAt(9, 1));
      await log.close();
      const expected = normalize(await reopen(dir));
      const remaining = await segmentNames(dir);
      const gone = names.filter((name) => !remaining.includes(name));
      expect(gone.length).toBeGreaterThan(0);
      // Deletion goes oldest first, so a crash leaves a suffix of the doomed segments.
      for (let keep = 1; keep <= gone.length; keep++) {
        for (const name of gone.slice(gone.length - keep)) await writeFile(join(dir, name), contents.get(name)!);
        expect(normalize(await reopen(dir))).toEqual(expected);
      }
    }));
});
