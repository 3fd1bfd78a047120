/**
 * Crash safety of SnapshotStore: a write (or an install) stopped at any batch boundary, as a crash
 * would stop it, leaves a store that opens with the previous snapshot current and intact and no
 * trace of the unfinished one; stopped after the publish, the new one is current. Then one real
 * kill -9 of a child process writing snapshots in a loop.
 */
import { spawn, execFileSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { descriptorOf } from '../../src/storage/snapshot_format.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import type { BatchPoint, SnapshotStoreOptions } from '../../src/storage/snapshot_store.js';
import { collect, descriptor, group, rawSnapshotIds, syntheticRecords } from './snapshot_support.js';
import { propertyParameters, withTempDir } from './support.js';

class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

/** Where to stop the second write: before its batch number `batch`, or after its publish. */
type CrashPoint = { readonly before: number } | { readonly afterPublish: true };

interface Scenario {
  readonly chunkBytes: number;
  readonly batchBytes: number;
  readonly retain: 1 | 2;
  readonly oldCount: number;
  readonly newCount: number;
  /** Feed the new snapshot as chunks from another store (InstallSnapshot) instead of as records. */
  readonly install: boolean;
}

const oldIndex = 5;
const newIndex = 9;

/** Feeds the new snapshot to `store`, stopping where `crash` says; returns the batch points it passed. */
async function writeNew(store: SnapshotStore, scenario: Scenario, source: SnapshotStore | null): Promise<void> {
  if (!scenario.install) {
    const writer = store.begin(descriptor(newIndex));
    await writer.writeRecords(syntheticRecords(newIndex, scenario.newCount));
    await writer.finish();
    return;
  }
  const reader = (await source!.latest())!;
  const writer = store.begin(descriptorOf(reader.info));
  for await (const chunk of reader.chunks()) await writer.writeChunk(chunk);
  await writer.finish(reader.info);
}

/**
 * Runs one scenario in `dir`: publishes the old snapshot, starts the new one, crashes at `crash`
 * (the writer is neither finished nor aborted, the store is closed as a dying process leaves it),
 * reopens, and checks what must have survived.
 */
async function crashAndCheck(dir: string, scenario: Scenario, crash: CrashPoint | null, source: SnapshotStore | null): Promise<BatchPoint[]> {
  const points: BatchPoint[] = [];
  let armed = false;
  const options: SnapshotStoreOptions = {
    dir,
    groupId: group,
    chunkBytes: scenario.chunkBytes,
    batchBytes: scenario.batchBytes,
    retain: scenario.retain,
    hooks: {
      beforeBatch: (point) => {
        if (!armed) return;
        points.push(point);
        if (crash !== null && 'before' in crash && point.batch === crash.before) throw new SimulatedCrash(`before batch ${point.batch}`);
      },
      afterPublish: () => {
        if (armed && crash !== null && 'afterPublish' in crash) throw new SimulatedCrash('after publish');
      },
    },
  };
  const store = await SnapshotStore.open(options);
  await store.write(descriptor(oldIndex), syntheticRecords(oldIndex, scenario.oldCount));
  armed = true;
  let crashed = false;
  try {
    await writeNew(store, scenario, source);
  } catch (err) {
    if (!(err instanceof SimulatedCrash)) throw err;
    crashed = true;
  }
  armed = false;
  await store.close();
  if (crash === null) return points;
  expect(crashed).toBe(true);

  const published = 'afterPublish' in crash;
  const reopened = await SnapshotStore.open({ dir, groupId: group, chunkBytes: scenario.chunkBytes, retain: scenario.retain });
  try {
    const expectedIndexes = published ? (scenario.retain === 2 ? [newIndex, oldIndex] : [newIndex]) : [oldIndex];
    expect(reopened.list().map((i) => i.index)).toEqual(expectedIndexes);
    for (const index of expectedIndexes) {
      expect(await collect((await reopened.openReader(index)).records())).toEqual([...syntheticRecords(index, index === oldIndex ? scenario.oldCount : scenario.newCount)]);
    }
    // The store keeps working.
    await reopened.write(descriptor(newIndex + 1), syntheticRecords(newIndex + 1, 3));
    expect(reopened.list().map((i) => i.index)).toEqual([newIndex + 1, ...expectedIndexes].slice(0, scenario.retain));
  } finally {
    await reopened.close();
  }
  // Nothing but the retained snapshots is left in LevelDB.
  expect((await rawSnapshotIds(dir)).length).toBe(scenario.retain);
  return points;
}

async function sourceStore(root: string, scenario: Scenario): Promise<SnapshotStore> {
  const source = await SnapshotStore.open({ dir: join(root, 'source'), groupId: group, chunkBytes: scenario.chunkBytes });
  await source.write(descriptor(newIndex), syntheticRecords(newIndex, scenario.newCount));
  return source;
}

describe('in-process crash at every batch boundary', () => {
  for (const install of [false, true]) {
    it(`${install ? 'installing chunks' : 'writing records'}: before each batch, the previous snapshot survives; after the publish, the new one`, async () => {
      await withTempDir(async (root) => {
        const scenario: Scenario = { chunkBytes: 200, batchBytes: 600, retain: 2, oldCount: 50, newCount: 120, install };
        const source = install ? await sourceStore(root, scenario) : null;
        try {
          const points = await crashAndCheck(join(root, 'dry'), scenario, null, source);
          expect(points.length).toBeGreaterThan(3);
          expect(points[points.length - 1]!.final).toBe(true);
          for (let batch = 0; batch < points.length; batch++) {
            await crashAndCheck(join(root, `before-${batch}`), scenario, { before: batch }, source);
          }
          await crashAndCheck(join(root, 'after-publish'), scenario, { afterPublish: true }, source);
        } finally {
          await source?.close();
        }
      });
    });
  }

  it('random sizes, contents and crash points', async () => {
    await withTempDir(async (root) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            chunkBytes: fc.integer({ min: 16, max: 400 }),
            batchBytes: fc.integer({ min: 1, max: 2000 }),
            retain: fc.constantFrom(1 as const, 2 as const),
            oldCount: fc.integer({ min: 0, max: 60 }),
            newCount: fc.integer({ min: 0, max: 150 }),
            install: fc.boolean(),
          }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          async (scenario, where) => {
            const dir = join(root, `run-${run++}`);
            const source = scenario.install ? await sourceStore(dir, scenario) : null;
            try {
              const points = await crashAndCheck(join(dir, 'dry'), scenario, null, source);
              const pick = Math.floor(where * (points.length + 1));
              const crash: CrashPoint = pick < points.length ? { before: pick } : { afterPublish: true };
              await crashAndCheck(join(dir, 'crash'), scenario, crash, source);
            } finally {
              await source?.close();
            }
          },
        ),
        propertyParameters('snapshot crash points', 25),
      );
    });
  });
});

// -------------------------------------------------------------------------------------------------
// kill -9

const repoRoot = resolve(import.meta.dirname, '../..');

/**
 * The child writes snapshots of growing index in a loop and prints each batch point and each
 * publish; it runs the store compiled from the sources of this checkout (tsc into a temp dir).
 */
const childSource = `
import { SnapshotStore } from './out/src/storage/snapshot_store.js';
const [dir] = process.argv.slice(2);
function* records(index, count) {
  for (let i = 0; i < count; i++) {
    const head = 's' + index + '-r' + i + '-';
    yield Buffer.from(head.padEnd(head.length + ((i * 37 + index) % 60), String.fromCharCode(97 + ((i + index) % 26))));
  }
}
const store = await SnapshotStore.open({
  dir, groupId: ${JSON.stringify(group)}, chunkBytes: 2048, batchBytes: 8192,
  hooks: { beforeBatch: (p) => { process.stdout.write('batch ' + p.snapshotId + ' ' + p.batch + ' ' + p.final + '\\n'); } },
});
for (let index = (store.latestInfo?.index ?? 0) + 1; ; index++) {
  await store.write({ groupId: ${JSON.stringify(group)}, index, term: 1, confState: { voters: ['n1'], learners: [] } }, records(index, 3000 + index));
  process.stdout.write('published ' + index + '\\n');
}
`;

function recordCount(index: number): number {
  return 3000 + index;
}

/** Spawns the child and kills it with SIGKILL at the first line `shouldKill` accepts; returns the last index it reported published. */
async function runAndKill(tmp: string, dir: string, shouldKill: (line: string, published: number) => boolean): Promise<number> {
  const child = spawn(process.execPath, [join(tmp, 'child.mjs'), dir], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((done) => child.on('exit', (code, signal) => done(signal ?? code)));
  let published = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    const match = /^published (\d+)$/.exec(line);
    if (match) published = Number(match[1]);
    if (shouldKill(line, published)) {
      child.kill('SIGKILL');
      break;
    }
  }
  const how = await exited;
  if (how !== 'SIGKILL') throw new Error(`the child exited on its own (${how}): ${stderr}`);
  return published;
}

describe('kill -9', () => {
  it('a process killed while writing snapshots restarts with a complete one, and no leftovers', async () => {
    await withTempDir(async (tmp) => {
      const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
      execFileSync(
        process.execPath,
        [tsc, '--ignoreConfig', join(repoRoot, 'src/storage/snapshot_store.ts'), '--outDir', join(tmp, 'out'), '--rootDir', repoRoot,
          '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck'],
        { cwd: repoRoot, stdio: 'pipe' },
      );
      await symlink(join(repoRoot, 'node_modules'), join(tmp, 'node_modules'), 'dir');
      await writeFile(join(tmp, 'child.mjs'), childSource);
      const dir = join(tmp, 'store');

      // Three kills at different moments: in the middle of staging, right as a publishing batch
      // starts, and just after a publish (while old snapshots are deleted or the next write begins).
      const killers: ((line: string, published: number) => boolean)[] = [
        (line, published) => published >= 2 && /^batch \d+ 3 false$/.test(line),
        (line, published) => published >= 4 && / true$/.test(line),
        (line, published) => published >= 6 && line.startsWith('published'),
      ];
      for (const [n, shouldKill] of killers.entries()) {
        const published = await runAndKill(tmp, dir, shouldKill);
        const idsBeforeOpen = await rawSnapshotIds(dir);
        console.log(`kill ${n}: last reported publish ${published}; snapshot ids in LevelDB before reopening: ${idsBeforeOpen.join(', ')}`);
        // The first kill lands mid-staging: an unfinished snapshot is there beside the two published ones.
        if (n === 0) expect(idsBeforeOpen.length).toBe(3);
        const store = await SnapshotStore.open({ dir, groupId: group });
        try {
          const latest = store.latestInfo!;
          // The kill may land before or after a publishing batch it was sent during.
          expect([published, published + 1]).toContain(latest.index);
          for (const info of store.list()) {
            expect(await collect((await store.openReader(info.index)).records())).toEqual([...syntheticRecords(info.index, recordCount(info.index))]);
          }
        } finally {
          await store.close();
        }
        expect((await rawSnapshotIds(dir)).length).toBeLessThanOrEqual(2);
      }
    });
  });
});
