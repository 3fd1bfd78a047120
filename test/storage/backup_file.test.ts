/**
 * Backup files: round trips (a 100,000-key keyspace with TTLs and a dedup table, through a file
 * and into a SnapshotStore), and refusal of every damaged file, cut at any byte or with any byte
 * flipped, before anything from it is usable; a failed restore leaves the store as it was.
 */
import { readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readBackup, restoreBackupToStore, verifyBackup, writeBackup } from '../../src/storage/backup_file.js';
import { BackupCorruptError, BackupTruncatedError, SnapshotGroupMismatchError } from '../../src/storage/snapshot_errors.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import type { KeyRecord } from '../../src/state/keyspace.js';
import type { DedupRecord } from '../../src/state/snapshot_image.js';
import {
  buildState,
  canonical,
  collect,
  dedupRecordArb,
  descriptor,
  group,
  imageOf,
  keyRecordArb,
  loadFresh,
  rawSnapshotIds,
  syntheticRecords,
} from './snapshot_support.js';
import { propertyParameters, withTempDir } from './support.js';

function isRefusal(err: unknown): boolean {
  return err instanceof BackupCorruptError || err instanceof BackupTruncatedError;
}

async function expectRefused(promise: Promise<unknown>): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  if (!isRefusal(caught)) throw new Error(`expected a refusal, got ${caught === undefined ? 'success' : String(caught)}`);
  const err = caught as Error;
  expect(err.message).toMatch(/^backup file .* is (corrupt|truncated) at byte \d+: .*; refusing it$/);
  return err;
}

describe('round trips', () => {
  it('100,000 keys with TTLs and a dedup table: file -> store -> fresh state machine, and file -> fresh state machine', async () => {
    await withTempDir(async (root) => {
      const keys: KeyRecord[] = [];
      for (let i = 0; i < 100_000; i++) {
        keys.push({
          key: Buffer.from(`key:${i.toString(36).padStart(5, '0')}`),
          value: { type: 'string', value: Buffer.from(`value-${i}-${'x'.repeat(i % 50)}`) },
          expireAt: i % 3 === 0 ? null : 1_800_000_000_000 + i * 7,
        });
      }
      const dedup: DedupRecord[] = Array.from({ length: 100 }, (_, i) => ({ id: `n1.abc.${i}`, timeMs: 1_700_000_000_000 + i, reply: i % 2 ? { kind: 'simple', value: 'OK' } : { kind: 'integer', value: i } }));
      const state = buildState(keys, dedup);
      expect(state.keyspace.countWithTtl).toBe(66_666);
      const path = join(root, 'g.backup');
      const written = await writeBackup(path, descriptor(1234, 7), imageOf(state));
      expect(written.info.recordCount).toBe(100_100);
      expect((await stat(path)).size).toBe(written.fileBytes);
      expect(await readdir(root)).toEqual(['g.backup']); // no .tmp left behind

      const verified = await readBackup(path);
      expect(verified.info).toEqual(written.info);
      expect(canonical(await loadFresh(verified.records()))).toEqual(canonical(state));

      const store = await SnapshotStore.open({ dir: join(root, 'store'), groupId: group });
      try {
        const info = await restoreBackupToStore(path, store);
        expect(info).toEqual(written.info);
        expect(store.latestInfo).toEqual(written.info);
      } finally {
        await store.close();
      }
      const reopened = await SnapshotStore.open({ dir: join(root, 'store'), groupId: group });
      try {
        expect(canonical(await loadFresh((await reopened.latest())!.records()))).toEqual(canonical(state));
      } finally {
        await reopened.close();
      }
    });
  });

  it('random keyspaces and chunk sizes round-trip through a file', async () => {
    await withTempDir(async (root) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(keyRecordArb, { maxLength: 60 }),
          fc.uniqueArray(dedupRecordArb, { maxLength: 6, selector: (r) => r.id }),
          fc.integer({ min: 1, max: 2000 }),
          async (keys, dedup, chunkBytes) => {
            const state = buildState(keys, dedup);
            const path = join(root, `b-${run++}`);
            await writeBackup(path, descriptor(3), imageOf(state), { chunkBytes });
            expect(canonical(await loadFresh((await readBackup(path)).records()))).toEqual(canonical(state));
          },
        ),
        propertyParameters('backup round trip', 60),
      );
    });
  });

  it('a backup of a store snapshot, restored into another store, is the same snapshot', async () => {
    await withTempDir(async (root) => {
      const a = await SnapshotStore.open({ dir: join(root, 'a'), groupId: group, chunkBytes: 512 });
      const b = await SnapshotStore.open({ dir: join(root, 'b'), groupId: group });
      try {
        await a.write(descriptor(40, 3), syntheticRecords(40, 500));
        const reader = (await a.latest())!;
        const path = join(root, 'x.backup');
        await writeBackup(path, reader.info, reader.records(), { chunkBytes: 512 });
        expect(await restoreBackupToStore(path, b)).toEqual(a.latestInfo);
        expect(await collect((await b.latest())!.records())).toEqual([...syntheticRecords(40, 500)]);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  it('a record source that fails leaves no file and no temporary file', async () => {
    await withTempDir(async (root) => {
      const path = join(root, 'f.backup');
      await writeFile(path, 'the previous backup');
      function* failing(): Generator<Buffer> {
        yield* syntheticRecords(1, 100);
        throw new Error('source broke');
      }
      await expect(writeBackup(path, descriptor(1), failing(), { chunkBytes: 64 })).rejects.toThrow('source broke');
      expect(await readdir(root)).toEqual(['f.backup']);
      expect(await readFile(path, 'utf8')).toBe('the previous backup');
    });
  });
});

describe('damaged files are refused before anything is usable', () => {
  /** A small backup with many chunks, and a store holding another snapshot to restore it over. */
  async function fixture<T>(work: (path: string, bytes: Buffer, store: SnapshotStore, root: string) => Promise<T>, records = 120): Promise<T> {
    return withTempDir(async (root) => {
      const path = join(root, 'good.backup');
      await writeBackup(path, descriptor(50, 5), syntheticRecords(50, records), { chunkBytes: 200 });
      const bytes = await readFile(path);
      const store = await SnapshotStore.open({ dir: join(root, 'store'), groupId: group });
      await store.write(descriptor(10), syntheticRecords(10, 20));
      try {
        return await work(path, bytes, store, root);
      } finally {
        await store.close();
      }
    });
  }

  /** The store still has only its own snapshot, intact. */
  async function expectStoreUnchanged(store: SnapshotStore): Promise<void> {
    expect(store.list().map((i) => i.index)).toEqual([10]);
    expect(await collect((await store.latest())!.records())).toEqual([...syntheticRecords(10, 20)]);
  }

  it('cut at any byte', async () => {
    await fixture(async (path, bytes, store, root) => {
      const cutPath = join(root, 'cut.backup');
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: bytes.length - 1 }), async (cut) => {
          await writeFile(cutPath, bytes.subarray(0, cut));
          const err = await expectRefused(verifyBackup(cutPath));
          expect(err).toBeInstanceOf(BackupTruncatedError);
          await expectRefused(readBackup(cutPath));
          await expectRefused(restoreBackupToStore(cutPath, store));
          await expectStoreUnchanged(store);
        }),
        propertyParameters('backup cut at a random byte', 80),
      );
      // The edges too: nothing at all, and everything but the last byte.
      for (const cut of [0, 1, 17, bytes.length - 1]) {
        await writeFile(cutPath, bytes.subarray(0, cut));
        await expectRefused(restoreBackupToStore(cutPath, store));
      }
      await expectStoreUnchanged(store);
      await store.close();
      expect(await rawSnapshotIds(join(root, 'store'))).toEqual([1]); // every refused restore's staging is gone
      expect((await verifyBackup(path)).info.recordCount).toBe(120);
    });
  });

  it('any byte flipped', async () => {
    await fixture(async (_path, bytes, store, root) => {
      const badPath = join(root, 'bad.backup');
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (pos, xor) => {
          const bad = Buffer.from(bytes);
          bad[pos]! ^= xor;
          await writeFile(badPath, bad);
          await expectRefused(verifyBackup(badPath));
          await expectRefused(readBackup(badPath));
          await expectRefused(restoreBackupToStore(badPath, store));
          await expectStoreUnchanged(store);
        }),
        propertyParameters('backup random byte flipped', 120),
      );
    });
  });

  it('every single byte flipped, checked by verifyBackup (a smaller file: header, 7 chunks, trailer)', async () => {
    await fixture(async (_path, bytes, _store, root) => {
      const badPath = join(root, 'bad.backup');
      for (let pos = 0; pos < bytes.length; pos++) {
        const bad = Buffer.from(bytes);
        bad[pos]! ^= 0x01;
        await writeFile(badPath, bad);
        await expectRefused(verifyBackup(badPath));
      }
    }, 30);
  });

  it('bytes appended after the trailer, and the messages name the problem', async () => {
    await fixture(async (path, bytes, _store, root) => {
      const longer = join(root, 'longer.backup');
      await writeFile(longer, Buffer.concat([bytes, Buffer.from('x')]));
      expect((await expectRefused(verifyBackup(longer))).message).toMatch(/1 bytes follow the trailer/);
      const notBackup = join(root, 'not.backup');
      await writeFile(notBackup, 'hello, this is not a backup file at all');
      expect((await expectRefused(verifyBackup(notBackup))).message).toMatch(/not a quorumkv backup/);
      const cut = join(root, 'cut.backup');
      await writeFile(cut, bytes.subarray(0, bytes.length - 30));
      expect((await expectRefused(verifyBackup(cut))).message).toMatch(/truncated/);
      await truncate(path, 0);
      expect((await expectRefused(verifyBackup(path))).message).toMatch(/truncated at byte 0: the file ends 18 bytes short of the end of the header/);
    });
  });

  it('a file that changes after readBackup verified it fails its second pass before the pass ends', async () => {
    await fixture(async (path, bytes) => {
      const backup = await readBackup(path);
      const other = Buffer.from(bytes);
      other[other.length - 40]! ^= 1; // in the last chunk
      await writeFile(path, other);
      await expectRefused(collect(backup.records()));
    });
  });

  it('a backup of another group is refused by restoreBackupToStore', async () => {
    await fixture(async (_path, _bytes, store, root) => {
      const path = join(root, 'other.backup');
      await writeBackup(path, descriptor(60, 1, 'g-other'), syntheticRecords(60, 5));
      await expect(restoreBackupToStore(path, store)).rejects.toThrow(SnapshotGroupMismatchError);
      await expectStoreUnchanged(store);
    });
  });
});
