/**
 * Snapshot benchmark: a 1,000,000-key keyspace (16-byte keys, 100-byte incompressible values, a
 * third with a TTL) written to a SnapshotStore and read back into a fresh Keyspace, then the same
 * through a backup file. It prints the times, the bytes on disk, and the event-loop delay observed
 * during each step (perf_hooks.monitorEventLoopDelay, 1 ms resolution) beside the longest V8
 * garbage-collection pause in the same window (PerformanceObserver 'gc'): a small maximum delay
 * while the snapshot is written is the evidence that writing does not stop the world.
 *
 * The write is measured twice. First right after the keyspace was built and captured, when V8
 * may have a major collection of the new ~600 MB heap due: its marking work lands in the event
 * loop whatever runs (the same delays appear with the writer's JS work and no LevelDB at all).
 * Then again after a forced full collection, which shows the writer's own share; every later step
 * also starts after a full collection. (Instrumented, the writer's slices between two awaits took
 * 0.23 ms at the median; the few of 10-17 ms each held a V8 scavenge of the 1M-key heap.)
 *
 *   npm run build && node dist/test/bench/snapshot-bench.js
 *   QKV_BENCH_KEYS=200000 node dist/test/bench/snapshot-bench.js
 *
 * Runs in a temp dir under os.tmpdir(), removed afterwards: the figures are those of that disk.
 * The capture (Keyspace.snapshot(), synchronous by design) is timed separately from the write.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Keyspace, NO_EXPIRY } from '../../src/state/keyspace.js';
import { restoreBackupToStore, verifyBackup, writeBackup } from '../../src/storage/backup_file.js';
import { decodeStateImage, stateImageRecords } from '../../src/storage/snapshot_image.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';

const keyCount = Number(process.env.QKV_BENCH_KEYS ?? 1_000_000);
const keyBytes = 16;
const valueBytes = 100;
const groupId = 'g-bench';
const descriptor = { groupId, index: 1_000_000, term: 3, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } };

async function bytesOnDisk(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path)) total += await bytesOnDisk(join(path, name));
  return total;
}

interface Measured<T> {
  readonly result: T;
  readonly ms: number;
  readonly maxDelayMs: number;
  readonly p99DelayMs: number;
  readonly maxGcPauseMs: number;
}

/** Runs `work` with the event-loop delay monitor and a GC observer on. */
async function measured<T>(work: () => Promise<T>): Promise<Measured<T>> {
  let maxGcPauseMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) maxGcPauseMs = Math.max(maxGcPauseMs, entry.duration);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const start = performance.now();
  const result = await work();
  const ms = performance.now() - start;
  histogram.disable();
  await new Promise((done) => setImmediate(done)); // let the observer see the last entries
  gcObserver.disconnect();
  return { result, ms, maxDelayMs: histogram.max / 1e6, p99DelayMs: histogram.percentile(99) / 1e6, maxGcPauseMs };
}

/** A full collection, without needing `node --expose-gc`. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Values are slices of a random pool, so that LevelDB's compression does not flatter the figures. */
function buildKeyspace(): Keyspace {
  const keyspace = new Keyspace();
  const pool = Buffer.allocUnsafe(1 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < pool.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pool[i] = x & 0xff;
  }
  for (let i = 0; i < keyCount; i++) {
    const key = Buffer.alloc(keyBytes);
    key.write(`key:${i.toString().padStart(keyBytes - 4, '0')}`, 'latin1');
    const at = (i * 7919) % (pool.length - valueBytes);
    keyspace.set(key, { type: 'string', value: Buffer.from(pool.subarray(at, at + valueBytes)) }, i % 3 === 0 ? 1_900_000_000_000 + i : NO_EXPIRY);
  }
  return keyspace;
}

async function loadInto(records: AsyncIterable<Uint8Array>): Promise<Keyspace> {
  const fresh = new Keyspace();
  await decodeStateImage(records, { key: (r) => fresh.set(r.key, r.value, r.expireAt ?? NO_EXPIRY), dedup: () => undefined });
  return fresh;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'qkv-snapshot-bench-'));
  try {
    console.log(`snapshot bench: ${keyCount} keys, ${keyBytes}-byte keys, ${valueBytes}-byte values, node ${process.version}, dir ${tmpdir()}`);
    let start = performance.now();
    let keyspace: Keyspace | null = buildKeyspace();
    const buildMs = performance.now() - start;

    start = performance.now();
    const captured = keyspace.snapshot();
    const captureMs = performance.now() - start;

    const store = await SnapshotStore.open({ dir: join(root, 'store'), groupId });
    const write = await measured(() => store.write(descriptor, stateImageRecords(captured, [])));
    const info = write.result;
    collectGarbage();
    const rewrite = await measured(() => store.write({ ...descriptor, index: descriptor.index + 1 }, stateImageRecords(captured, [])));
    await store.close();
    const storeBytes = await bytesOnDisk(join(root, 'store'));
    captured.length = 0;

    const reopened = await SnapshotStore.open({ dir: join(root, 'store'), groupId, retain: 1 });
    collectGarbage();
    const readRaw = await measured(async () => {
      let n = 0;
      for await (const _ of (await reopened.latest())!.records()) n++;
      return n;
    });
    const expected = { size: keyspace.size, usedMemoryBytes: keyspace.usedMemoryBytes };
    keyspace = null;
    collectGarbage();
    const readLoad = await measured(async () => {
      const fresh = await loadInto((await reopened.latest())!.records());
      return { size: fresh.size, usedMemoryBytes: fresh.usedMemoryBytes };
    });
    const same = readLoad.result.size === expected.size && readLoad.result.usedMemoryBytes === expected.usedMemoryBytes;

    const backupPath = join(root, 'g.backup');
    collectGarbage();
    const backup = await measured(async () => writeBackup(backupPath, descriptor, (await reopened.latest())!.records()));
    await reopened.close();
    collectGarbage();
    const verify = await measured(() => verifyBackup(backupPath));
    const restoreStore = await SnapshotStore.open({ dir: join(root, 'restored'), groupId });
    collectGarbage();
    const restore = await measured(() => restoreBackupToStore(backupPath, restoreStore));
    await restoreStore.close();

    const delay = (m: Measured<unknown>): string => `max ${m.maxDelayMs.toFixed(1)} ms, p99 ${m.p99DelayMs.toFixed(1)} ms`;
    const gc = (m: Measured<unknown>): string => `${m.maxGcPauseMs.toFixed(1)} ms`;
    const rows: [string, Measured<unknown> | number][] = [
      ['build the keyspace (1M Keyspace.set, for comparison)', buildMs],
      ['capture: Keyspace.snapshot() (synchronous, outside the store)', captureMs],
      [`write snapshot to LevelDB (${info.chunkCount} chunks, ${mb(info.payloadBytes)} of records), major GC due`, write],
      ['write it again after a full GC', rewrite],
      ['read snapshot: records only', readRaw],
      ['read snapshot into a fresh Keyspace (restart load)', readLoad],
      ['write backup file from the store', backup],
      ['verify backup file', verify],
      ['restore backup file into a new store', restore],
    ];
    console.log('| step | time | event-loop delay | longest GC pause |');
    console.log('| --- | ---: | --- | ---: |');
    for (const [step, m] of rows) {
      if (typeof m === 'number') console.log(`| ${step} | ${ms(m)} | - | - |`);
      else console.log(`| ${step} | ${ms(m.ms)} | ${delay(m)} | ${gc(m)} |`);
    }
    console.log(`bytes on disk: store ${mb(storeBytes)} (two snapshots retained), backup file ${mb(backup.result.fileBytes)}`);
    console.log(`records read back: ${readRaw.result}; fresh keyspace matches size and memory estimate: ${same}`);
    if (!same || readRaw.result !== keyCount) process.exitCode = 1;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
