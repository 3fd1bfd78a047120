/**
 * SnapshotStore: round trips of a keyspace with TTLs and a dedup table into a fresh state machine,
 * chunked export into another store (InstallSnapshot), retention, the writer's contract, and
 * damaged LevelDB values refused with SnapshotCorruptError before a reader's iteration ends.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SnapshotCorruptError,
  SnapshotGroupMismatchError,
  SnapshotNotFoundError,
  SnapshotOutOfDateError,
  SnapshotStateError,
} from '../../src/storage/snapshot_errors.js';
import { isImageCancelled } from '../../src/state/keyspace_image.js';
import { Keyspace } from '../../src/state/keyspace.js';
import { packedStateImage } from '../../src/state/snapshot_image.js';
import { SlotSet } from '../../src/state/slot_set.js';
import { descriptorOf, type PackableRecords } from '../../src/storage/snapshot_format.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import type { SnapshotStoreOptions } from '../../src/storage/snapshot_store.js';
import {
  buildState,
  canonical,
  chunkKeyOf,
  collect,
  dedupRecordArb,
  descriptor,
  group,
  headKey,
  imageOf,
  keyRecordArb,
  loadFresh,
  metaKeyOf,
  rawSnapshotIds,
  syntheticRecords,
  withRawDb,
} from './snapshot_support.js';
import { propertyParameters, withTempDir } from './support.js';

async function withStore<T>(options: Partial<SnapshotStoreOptions>, work: (store: SnapshotStore, dir: string) => Promise<T>): Promise<T> {
  return withTempDir(async (root) => {
    const dir = join(root, 'snap');
    const store = await SnapshotStore.open({ dir, groupId: group, ...options });
    try {
      return await work(store, dir);
    } finally {
      await store.close();
    }
  });
}

describe('round trips', () => {
  it('keyspace (binary keys, TTLs) + dedup table -> snapshot -> reopen -> fresh state machine: the same state', async () => {
    await withTempDir(async (root) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(keyRecordArb, { maxLength: 80 }),
          fc.uniqueArray(dedupRecordArb, { maxLength: 10, selector: (r) => r.id }),
          fc.constantFrom(64, 300, 4096),
          async (keys, dedup, chunkBytes) => {
            const dir = join(root, `run-${run++}`);
            const state = buildState(keys, dedup);
            const store = await SnapshotStore.open({ dir, groupId: group, chunkBytes, batchBytes: chunkBytes * 3 });
            const info = await store.write(descriptor(10, 2), imageOf(state));
            await store.close();
            const reopened = await SnapshotStore.open({ dir, groupId: group, chunkBytes });
            try {
              expect(reopened.latestInfo).toEqual(info);
              const reader = (await reopened.latest())!;
              expect(reader.info).toMatchObject(descriptor(10, 2));
              expect(canonical(await loadFresh(reader.records()))).toEqual(canonical(state));
            } finally {
              await reopened.close();
            }
          },
        ),
        propertyParameters('snapshot store round trip', 40),
      );
    });
  });

  it('an empty state machine round-trips too', async () => {
    await withStore({}, async (store) => {
      const state = buildState([], []);
      const info = await store.write(descriptor(1), imageOf(state));
      expect(info).toMatchObject({ chunkCount: 0, recordCount: 0, payloadBytes: 0 });
      expect(canonical(await loadFresh((await store.latest())!.records()))).toEqual(canonical(state));
    });
  });

  it('chunks() of one store fed to another store\'s writer (InstallSnapshot) give the same snapshot', async () => {
    await withTempDir(async (root) => {
      const keys = fc.sample(keyRecordArb, { numRuns: 400, seed: 11 });
      const state = buildState(keys, fc.sample(dedupRecordArb, { numRuns: 5, seed: 12 }));
      const leader = await SnapshotStore.open({ dir: join(root, 'leader'), groupId: group, chunkBytes: 1000 });
      const follower = await SnapshotStore.open({ dir: join(root, 'follower'), groupId: group, chunkBytes: 99 });
      try {
        await follower.write(descriptor(3), syntheticRecords(3, 50));
        const sent = await leader.write(descriptor(20, 4), imageOf(state));
        const reader = await leader.openReader(20);
        const writer = follower.begin(descriptorOf(reader.info));
        let chunks = 0;
        for await (const chunk of reader.chunks()) {
          expect(chunk.length).toBeLessThanOrEqual(1000 + 8);
          await writer.writeChunk(chunk);
          chunks++;
        }
        expect(chunks).toBe(sent.chunkCount);
        const installed = await writer.finish(reader.info);
        expect(installed).toEqual(sent);
        expect(follower.list().map((i) => i.index)).toEqual([20, 3]);
        expect(canonical(await loadFresh((await follower.latest())!.records()))).toEqual(canonical(state));
      } finally {
        await leader.close();
        await follower.close();
      }
    });
  });

  it('a record larger than a chunk spans chunks; no chunk exceeds chunkBytes + 8', async () => {
    await withStore({ chunkBytes: 128 }, async (store) => {
      const big = Buffer.alloc(5000, 0xab);
      await store.write(descriptor(1), [Buffer.from('a'), big, Buffer.from('z')]);
      const reader = (await store.latest())!;
      expect(reader.info.chunkCount).toBe(Math.ceil((4 * 3 + 5002) / 128));
      for await (const chunk of reader.chunks()) expect(chunk.length).toBeLessThanOrEqual(136);
      expect(await collect((await store.latest())!.records())).toEqual([Buffer.from('a'), big, Buffer.from('z')]);
    });
  });

  it('writing yields to the event loop between chunks: timers keep firing during a 100,000-record write', async () => {
    await withStore({}, async (store) => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      try {
        await store.write(descriptor(1), syntheticRecords(1, 100_000, 100));
      } finally {
        clearInterval(timer);
      }
      expect(ticks).toBeGreaterThan(5);
    });
  });

  it('records() of an async iterable work like a plain one', async () => {
    await withStore({ chunkBytes: 50 }, async (store) => {
      async function* source(): AsyncGenerator<Buffer> {
        yield* syntheticRecords(2, 40);
      }
      await store.write(descriptor(2), source());
      expect(await collect((await store.latest())!.records())).toEqual([...syntheticRecords(2, 40)]);
    });
  });
});

describe('retention', () => {
  it('keeps the latest and the one before by default; older ones are deleted from LevelDB', async () => {
    await withStore({ chunkBytes: 64 }, async (store, dir) => {
      for (const index of [5, 6, 9]) await store.write(descriptor(index), syntheticRecords(index, 30));
      expect(store.list().map((i) => i.index)).toEqual([9, 6]);
      await expect(store.openReader(5)).rejects.toThrow(SnapshotNotFoundError);
      expect(await collect((await store.openReader(6)).records())).toEqual([...syntheticRecords(6, 30)]);
      await store.close();
      expect(await rawSnapshotIds(dir)).toEqual([2, 3]);
    });
  });

  it('retain: 1 keeps only the latest', async () => {
    await withStore({ retain: 1, chunkBytes: 64 }, async (store, dir) => {
      await store.write(descriptor(1), syntheticRecords(1, 30));
      await store.write(descriptor(2), syntheticRecords(2, 30));
      expect(store.list().map((i) => i.index)).toEqual([2]);
      await store.close();
      expect(await rawSnapshotIds(dir)).toEqual([2]);
    });
  });

  it('a reader opened before its snapshot is deleted still reads all of it (LevelDB iterator snapshot)', async () => {
    await withStore({ retain: 1, chunkBytes: 64 }, async (store) => {
      await store.write(descriptor(1), syntheticRecords(1, 200));
      const reader = (await store.latest())!;
      await store.write(descriptor(2), syntheticRecords(2, 10));
      expect(store.list().map((i) => i.index)).toEqual([2]);
      expect(await collect(reader.records())).toEqual([...syntheticRecords(1, 200)]);
    });
  });
});

describe('the writer contract', () => {
  it('refuses a second writer, another group, an older index, and mixing records with chunks', async () => {
    await withStore({}, async (store) => {
      await store.write(descriptor(10), syntheticRecords(10, 3));
      expect(() => store.begin(descriptor(9))).toThrow(SnapshotOutOfDateError);
      expect(() => store.begin(descriptor(11, 1, 'other-group'))).toThrow(SnapshotGroupMismatchError);
      const writer = store.begin(descriptor(11));
      expect(() => store.begin(descriptor(12))).toThrow(SnapshotStateError);
      await writer.writeRecords([Buffer.from('x')]);
      await expect(writer.writeChunk(Buffer.alloc(20))).rejects.toThrow(/fed with records/);
      await writer.abort();
      const again = store.begin(descriptor(12));
      await again.finish();
      await expect(again.finish()).rejects.toThrow(SnapshotStateError);
      await again.abort(); // harmless after finish
      expect(store.latestInfo?.index).toBe(12);
    });
  });

  it('abort() drops what was staged and publishes nothing', async () => {
    await withStore({ chunkBytes: 32, batchBytes: 64 }, async (store, dir) => {
      await store.write(descriptor(1), syntheticRecords(1, 5));
      const writer = store.begin(descriptor(2));
      await writer.writeRecords(syntheticRecords(2, 100));
      await writer.abort();
      expect(store.latestInfo?.index).toBe(1);
      await store.close();
      expect(await rawSnapshotIds(dir)).toEqual([1]);
    });
  });

  it('abort() while writeRecords is under way stops it at the next batch and leaves nothing behind', async () => {
    await withStore({ chunkBytes: 32, batchBytes: 64 }, async (store, dir) => {
      await store.write(descriptor(1), syntheticRecords(1, 5));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      async function* stalling(): AsyncGenerator<Buffer> {
        yield* syntheticRecords(2, 50);
        await gate;
        yield* syntheticRecords(2, 50);
      }
      const writer = store.begin(descriptor(2));
      const writing = writer.writeRecords(stalling());
      await new Promise((resolve) => setTimeout(resolve, 20));
      const aborting = writer.abort();
      release();
      await expect(writing).rejects.toThrow(/was aborted/);
      await aborting;
      expect(store.latestInfo?.index).toBe(1);
      await store.write(descriptor(3), syntheticRecords(3, 5));
      await store.close();
      expect((await rawSnapshotIds(dir)).length).toBe(2);
    });
  });

  it('a failing record source aborts the write; the previous snapshot stays current', async () => {
    await withStore({ chunkBytes: 32, batchBytes: 64 }, async (store) => {
      await store.write(descriptor(1), syntheticRecords(1, 5));
      function* failing(): Generator<Buffer> {
        yield* syntheticRecords(2, 50);
        throw new Error('source broke');
      }
      await expect(store.write(descriptor(2), failing())).rejects.toThrow('source broke');
      expect(store.latestInfo?.index).toBe(1);
      await store.write(descriptor(3), syntheticRecords(3, 5));
      expect(store.latestInfo?.index).toBe(3);
    });
  });

  it('an installed stream that does not add up to the sender\'s totals is not published', async () => {
    await withTempDir(async (root) => {
      const leader = await SnapshotStore.open({ dir: join(root, 'a'), groupId: group, chunkBytes: 40 });
      const follower = await SnapshotStore.open({ dir: join(root, 'b'), groupId: group });
      try {
        await follower.write(descriptor(1), syntheticRecords(1, 3));
        await leader.write(descriptor(5), syntheticRecords(5, 30));
        const chunks = await collect((await leader.latest())!.chunks());
        const info = leader.latestInfo!;

        const lastMissing = follower.begin(descriptorOf(info));
        for (const c of chunks.slice(0, -1)) await lastMissing.writeChunk(c);
        await expect(lastMissing.finish(info)).rejects.toThrow(SnapshotCorruptError);
        await lastMissing.abort();

        const outOfOrder = follower.begin(descriptorOf(info));
        await outOfOrder.writeChunk(chunks[0]!);
        await expect(outOfOrder.writeChunk(chunks[2]!)).rejects.toThrow(/chunk 2 arrived where chunk 1 was expected/);
        await outOfOrder.abort();

        const damaged = follower.begin(descriptorOf(info));
        const bad = Buffer.from(chunks[0]!);
        bad[bad.length - 1]! ^= 1;
        await expect(damaged.writeChunk(bad)).rejects.toThrow(SnapshotCorruptError);
        await damaged.abort();

        expect(follower.latestInfo?.index).toBe(1);
        expect(await collect((await follower.latest())!.records())).toEqual([...syntheticRecords(1, 3)]);
      } finally {
        await leader.close();
        await follower.close();
      }
    });
  });

  it('a store opened with another group id refuses the directory', async () => {
    await withTempDir(async (root) => {
      const dir = join(root, 's');
      const store = await SnapshotStore.open({ dir, groupId: group });
      await store.write(descriptor(1), syntheticRecords(1, 3));
      await store.close();
      await expect(SnapshotStore.open({ dir, groupId: 'g-other' })).rejects.toThrow(SnapshotGroupMismatchError);
    });
  });
});

describe('damaged LevelDB values', () => {
  /** A closed store holding snapshots 1 and 2 (ids 1 and 2) of 40 records in chunks of 100 bytes. */
  async function withTwoSnapshots(work: (dir: string) => Promise<void>): Promise<void> {
    await withTempDir(async (root) => {
      const dir = join(root, 's');
      const store = await SnapshotStore.open({ dir, groupId: group, chunkBytes: 100 });
      await store.write(descriptor(1), syntheticRecords(1, 40));
      await store.write(descriptor(2), syntheticRecords(2, 40));
      await store.close();
      await work(dir);
    });
  }

  /** Damages the raw database of two snapshots, then checks what a store makes of it. */
  async function damaged(check: (dir: string) => Promise<void>, damage: (db: Parameters<Parameters<typeof withRawDb>[1]>[0]) => Promise<void>): Promise<void> {
    await withTwoSnapshots(async (dir) => {
      await withRawDb(dir, damage);
      await check(dir);
    });
  }

  /** The latest snapshot must be refused before its iteration ends, and a fresh-state load must reject. */
  async function expectCorruptLatest(dir: string, message: RegExp): Promise<void> {
    const store = await SnapshotStore.open({ dir, groupId: group, chunkBytes: 100 });
    try {
      await expect(collect((await store.latest())!.records())).rejects.toThrow(SnapshotCorruptError);
      await expect(collect((await store.latest())!.chunks())).rejects.toThrow(message);
      await expect(loadFresh((await store.latest())!.records())).rejects.toThrow(SnapshotCorruptError);
      await expect((await store.latest())!.visitRecords(() => undefined)).rejects.toThrow(message);
      // The older snapshot is intact.
      const visited: Buffer[] = [];
      await (await store.openReader(1)).visitRecords((bytes, start, end) => visited.push(Buffer.from(bytes.subarray(start, end))));
      expect(visited).toEqual([...syntheticRecords(1, 40)]);
      expect(await collect((await store.openReader(1)).records())).toEqual([...syntheticRecords(1, 40)]);
    } finally {
      await store.close();
    }
  }

  it('every flipped byte of a chunk value is caught', async () => {
    await withTwoSnapshots(async (dir) => {
      const original = await withRawDb(dir, async (db) => (await db.get(chunkKeyOf(2, 3)))!);
      const positions = fc.sample(fc.nat({ max: original.length - 1 }), { numRuns: 12, seed: 5 });
      for (const pos of [0, 4, 8, original.length - 1, ...positions]) {
        await withRawDb(dir, async (db) => {
          const bad = Buffer.from(original);
          bad[pos]! ^= 0x40;
          await db.put(chunkKeyOf(2, 3), bad);
        });
        await expectCorruptLatest(dir, /chunk/);
      }
    });
  });

  it('a missing chunk in the middle', async () => {
    await damaged((dir) => expectCorruptLatest(dir, /where chunk 2 was expected/), (db) => db.del(chunkKeyOf(2, 2)));
  });

  it('a missing last chunk (the stream is cut short)', async () => {
    await damaged(
      (dir) => expectCorruptLatest(dir, /chunkCount is \d+ where \d+ was declared|ends .* into a record|inside a record/),
      async (db) => {
        const keys = (await db.keys({ gte: chunkKeyOf(2, 0), lt: chunkKeyOf(3, 0) }).all()).map((k) => Buffer.from(k));
        await db.del(keys[keys.length - 1]!);
      },
    );
  });

  it('two chunks swapped', async () => {
    await damaged(
      (dir) => expectCorruptLatest(dir, /chunk 2 arrived where chunk 1 was expected/),
      async (db) => {
        const a = (await db.get(chunkKeyOf(2, 1)))!;
        const b = (await db.get(chunkKeyOf(2, 2)))!;
        await db.batch([
          { type: 'put', key: chunkKeyOf(2, 1), value: b },
          { type: 'put', key: chunkKeyOf(2, 2), value: a },
        ]);
      },
    );
  });

  it('a valid chunk from another snapshot in its place, framing intact (only the stream checksum can tell)', async () => {
    await withTempDir(async (root) => {
      const dir = join(root, 's');
      // Records of 46 bytes + a 4-byte length: two per 100-byte chunk, so chunks of equal-shaped snapshots are interchangeable.
      const fixed = (index: number): Buffer[] => Array.from({ length: 20 }, (_, i) => Buffer.alloc(46, index * 50 + i));
      const store = await SnapshotStore.open({ dir, groupId: group, chunkBytes: 100 });
      await store.write(descriptor(1), fixed(1));
      await store.write(descriptor(2), fixed(2));
      await store.close();
      await withRawDb(dir, async (db) => db.put(chunkKeyOf(2, 3), (await db.get(chunkKeyOf(1, 3)))!));
      const reopened = await SnapshotStore.open({ dir, groupId: group });
      try {
        await expect(collect((await reopened.latest())!.records())).rejects.toThrow(/checksum is \d+ where \d+ was declared/);
      } finally {
        await reopened.close();
      }
    });
  });

  it('a foreign chunk that breaks the framing is refused without allocating what a bogus length declares', async () => {
    await damaged(
      (dir) => expectCorruptLatest(dir, /more than the \d+ the stream can hold|into a record|checksum is/),
      async (db) => {
        await db.put(chunkKeyOf(2, 1), (await db.get(chunkKeyOf(1, 1)))!);
      },
    );
  });

  it('a damaged META or HEAD makes open() fail with SnapshotCorruptError', async () => {
    for (const key of [metaKeyOf(2), metaKeyOf(1), headKey]) {
      await damaged(
        async (dir) => {
          await expect(SnapshotStore.open({ dir, groupId: group })).rejects.toThrow(SnapshotCorruptError);
        },
        async (db) => {
          const value = Buffer.from((await db.get(key))!);
          value[value.length - 1]! ^= 1;
          await db.put(key, value);
        },
      );
    }
  });

  it('HEAD naming a snapshot whose META is gone', async () => {
    await damaged(
      async (dir) => {
        await expect(SnapshotStore.open({ dir, groupId: group })).rejects.toThrow(/HEAD names snapshot 2, which has no META/);
      },
      (db) => db.del(metaKeyOf(2)),
    );
  });
});

describe('an image cancelled by a split', () => {
  it('fails the write with an error isImageCancelled recognises, keeps the newest snapshot, and leaves the store usable', async () => {
    await withStore({ chunkBytes: 4096 }, async (store) => {
      const small = new Keyspace();
      small.setByName('only', { type: 'string', value: Buffer.from('v') });
      const first = await store.write(descriptor(5), packedStateImage(small.beginSnapshot(), []));
      const ks = new Keyspace();
      for (let i = 0; i < 20_000; i++) ks.setByName(`key:${i}`, { type: 'string', value: Buffer.alloc(200, i % 251) });
      const moved = SlotSet.empty();
      moved.addRange([8192, 16383]);
      // The split lands between two chunks of the write, as an apply lands between two turns.
      const inner = packedStateImage(ks.beginSnapshot(), []);
      let packs = 0;
      const splitAfterFirstPack: PackableRecords = {
        packInto: (packer, budget) => {
          packs++;
          const more = inner.packInto(packer, budget);
          if (packs === 1) ks.extractSlots(moved);
          return more;
        },
      };
      const failure = await store.write(descriptor(10), splitAfterFirstPack).then(
        () => null,
        (err: unknown) => err,
      );
      expect(packs).toBeGreaterThan(1);
      expect(isImageCancelled(failure)).toBe(true);
      expect(store.latestInfo).toEqual(first);
      const again = await store.write(descriptor(10), packedStateImage(ks.beginSnapshot(), []));
      expect(again.recordCount).toBe(ks.size);
    });
  });
});
