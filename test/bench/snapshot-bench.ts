/**
 * Snapshot benchmark: a 1,000,000-key keyspace (16-byte keys, 100-byte incompressible values, a
 * third with a TTL) written to a SnapshotStore and read back into a fresh Keyspace, then the same
 * through a backup file. It prints the times, the bytes on disk, and the event-loop delay observed
 * during each step (perf_hooks.monitorEventLoopDelay, 1 ms resolution) beside the longest V8
 * garbage-collection pause in the same window (PerformanceObserver 'gc').
 *
 * Not stopping the world (the requirement: GET/SET p99 under 20 ms while a 1M-key snapshot is
 * written): the image is Keyspace.beginSnapshot(), whose blocking time is printed, written to the
 * store while a load keeps writing the keyspace: every event-loop turn (setImmediate) it sets
 * WRITES_PER_TURN random keys (one in ten a new key, one in ten a delete) and reads as many. A
 * 1 ms setInterval probe records how late each tick fires: its maximum and p99 are the longest
 * stall a request could see. The pre-images the image had to record are printed too (memory
 * proportional to the keys written during the snapshot, not to the keyspace). For comparison,
 * the synchronous Keyspace.snapshot() (the synchronous full copy, kept for tests) is timed alone, and the load runs alone
 * for 5 s (the stalls it causes by itself: Map rehashes under churn, GC). The writer packs keys
 * straight into recycled chunks (packedStateImage: nothing allocated per key), so what allocates
 * during a write is the load; the duration of the writer's slices (one per event-loop turn) is
 * printed for the write without load. The load reads the image back as a node does at start-up
 * (SnapshotReader.visitRecords + loadStateImage), and the process's RSS is printed after it.
 *
 * The write is measured twice. First right after the keyspace was built, when V8 may have a
 * major collection of the new ~600 MB heap due: its marking work lands in the event loop whatever
 * runs. Then again after a forced full collection, which shows the writer's own share; every
 * later step also starts after a full collection.
 *
 *   npm run build && node dist/test/bench/snapshot-bench.js
 *   QKV_BENCH_KEYS=200000 node dist/test/bench/snapshot-bench.js
 *
 * Runs in a temp dir under os.tmpdir(), removed afterwards: the figures are those of that disk.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { resourceUsage } from 'node:process';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Keyspace, NO_EXPIRY } from '../../src/state/keyspace.js';
import { restoreBackupToStore, verifyBackup, writeBackup } from '../../src/storage/backup_file.js';
import { loadStateImage, packedStateImage } from '../../src/state/snapshot_image.js';
import type { PackableRecords, SnapshotInfo } from '../../src/storage/snapshot_format.js';
import { SnapshotStore, type SnapshotReader } from '../../src/storage/snapshot_store.js';

const keyCount = Number(process.env.QKV_BENCH_KEYS ?? 1_000_000);
const keyBytes = 16;
const valueBytes = 100;
const groupId = 'g-bench';
const descriptor = { groupId, index: 1_000_000, term: 3, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } };
/** Keyspace writes (and as many reads) the concurrent load makes per event-loop turn. */
const WRITES_PER_TURN = 20;

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

/** xorshift32: deterministic figures from run to run. */
function xorshift(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Values are slices of a random pool, so that LevelDB's compression does not flatter the figures. */
const pool = Buffer.allocUnsafe(1 << 20);
{
  const next = xorshift(0x9e3779b9);
  for (let i = 0; i < pool.length; i++) pool[i] = next() & 0xff;
}

function keyOf(i: number): Buffer {
  const key = Buffer.alloc(keyBytes);
  key.write(`key:${i.toString().padStart(keyBytes - 4, '0')}`, 'latin1');
  return key;
}

function valueOf(i: number): { type: 'string'; value: Buffer } {
  const at = (i * 7919) % (pool.length - valueBytes);
  return { type: 'string', value: Buffer.from(pool.subarray(at, at + valueBytes)) };
}

function buildKeyspace(): Keyspace {
  const keyspace = new Keyspace();
  for (let i = 0; i < keyCount; i++) keyspace.set(keyOf(i), valueOf(i), i % 3 === 0 ? 1_900_000_000_000 + i : NO_EXPIRY);
  return keyspace;
}

interface Load {
  /** Stops the load and the probe; what they saw. */
  stop(): { writes: number; probeTicks: number; maxLagMs: number; p99LagMs: number };
}

/**
 * The traffic of a busy node: every event-loop turn, WRITES_PER_TURN sets of random keys (one in
 * ten a new key, one in ten a delete) and as many gets; and a 1 ms interval probe that records
 * how late each of its ticks fires.
 */
function startLoad(keyspace: Keyspace, seed: number): Load {
  const random = xorshift(seed);
  let writes = 0;
  let running = true;
  const turn = (): void => {
    if (!running) return;
    for (let i = 0; i < WRITES_PER_TURN; i++) {
      const r = random();
      const index = r % Math.floor(keyCount * 1.1);
      if (r % 10 === 0) keyspace.delete(keyOf(index), 1_700_000_000_000);
      else keyspace.set(keyOf(index), valueOf(r), NO_EXPIRY);
      keyspace.get(keyOf(random() % keyCount), 1_700_000_000_000);
      writes++;
    }
    setImmediate(turn);
  };
  setImmediate(turn);
  const lags: number[] = [];
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - last - 1));
    last = now;
  }, 1);
  return {
    stop() {
      running = false;
      clearInterval(probe);
      lags.sort((a, b) => a - b);
      const p99 = lags.length === 0 ? 0 : lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))]!;
      return { writes, probeTicks: lags.length, maxLagMs: lags.at(-1) ?? 0, p99LagMs: p99 };
    },
  };
}

interface ImageWrite {
  readonly info: SnapshotInfo;
  readonly beginMs: number;
  readonly imageKeys: number;
  readonly preImages: number;
  readonly load: ReturnType<Load['stop']>;
}

/** Duration of the writer's synchronous packing slices (PackableRecords.packInto calls) of the last write. */
const writerSlices = { count: 0, totalMs: 0, maxMs: 0 };

function timedSlices(records: PackableRecords): PackableRecords {
  writerSlices.count = 0;
  writerSlices.totalMs = 0;
  writerSlices.maxMs = 0;
  return {
    packInto(packer, budgetBytes) {
      const start = performance.now();
      const more = records.packInto(packer, budgetBytes);
      const ms = performance.now() - start;
      writerSlices.count++;
      writerSlices.totalMs += ms;
      writerSlices.maxMs = Math.max(writerSlices.maxMs, ms);
      return more;
    },
  };
}

/** beginSnapshot (timed), then the image written to the store while the load runs. */
async function writeImage(store: SnapshotStore, keyspace: Keyspace, index: number, loadSeed: number | null): Promise<ImageWrite> {
  const start = performance.now();
  const image = keyspace.beginSnapshot();
  const beginMs = performance.now() - start;
  const load = loadSeed === null ? null : startLoad(keyspace, loadSeed);
  let info: SnapshotInfo;
  try {
    info = await store.write({ ...descriptor, index }, timedSlices(packedStateImage(image, [])));
    if (info.recordCount !== image.size) throw new Error(`the image yielded ${info.recordCount} records, expected ${image.size}`);
  } finally {
    image.release();
  }
  const seen = load?.stop() ?? { writes: 0, probeTicks: 0, maxLagMs: 0, p99LagMs: 0 };
  return { info, beginMs, imageKeys: image.size, preImages: image.copiedKeys, load: seen };
}

/** As SnapshotManager loads a snapshot at start-up or on InstallSnapshot. */
async function loadInto(reader: SnapshotReader): Promise<Keyspace> {
  const fresh = new Keyspace();
  await loadStateImage(reader, { keyspace: fresh, dedup: () => undefined });
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

    // The synchronous full copy, for comparison: a synchronous copy of every key (dropped at once).
    start = performance.now();
    const capturedKeys = keyspace.snapshot().length;
    const captureMs = performance.now() - start;

    const store = await SnapshotStore.open({ dir: join(root, 'store'), groupId });
    let live: Keyspace | null = keyspace;
    const write = await measured(() => writeImage(store, live!, descriptor.index, 1));
    const info = write.result.info;
    collectGarbage();
    const quiet = await measured(() => writeImage(store, live!, descriptor.index + 1, null));
    const slices = { ...writerSlices };
    collectGarbage();
    // The load alone, no snapshot: the stalls the load itself causes (Map rehashes, GC).
    const baseline = await measured(async () => {
      const load = startLoad(live!, 3);
      await new Promise((done) => setTimeout(done, 5000));
      return load.stop();
    });
    collectGarbage();
    // The state the last image is of, for the read-back check below.
    const expected = { size: keyspace.size, usedMemoryBytes: keyspace.usedMemoryBytes };
    const rewrite = await measured(() => writeImage(store, live!, descriptor.index + 2, 2));
    await store.close();
    const storeBytes = await bytesOnDisk(join(root, 'store'));

    const reopened = await SnapshotStore.open({ dir: join(root, 'store'), groupId, retain: 1 });
    collectGarbage();
    const readRaw = await measured(async () => {
      let n = 0;
      for await (const _ of (await reopened.latest())!.records()) n++;
      return n;
    });
    // As at a restart: the built keyspace is gone before the load (the closures above kept it alive through `live`).
    keyspace = null;
    live = null;
    collectGarbage();
    const readLoad = await measured(async () => {
      const fresh = await loadInto((await reopened.latest())!);
      if ((await reopened.latest())!.info.index !== descriptor.index + 2) throw new Error('the latest snapshot is not the last written');
      return { size: fresh.size, usedMemoryBytes: fresh.usedMemoryBytes, keyspace: fresh };
    });
    // What the loaded keyspace costs: the process holds nothing else big now (the built keyspace was dropped).
    collectGarbage();
    const afterLoad = process.memoryUsage();
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
      [`build the keyspace (${keyCount} Keyspace.set, for comparison)`, buildMs],
      [`old capture: Keyspace.snapshot() of ${capturedKeys} keys (synchronous, blocks the loop; not used below)`, captureMs],
      [`beginSnapshot() + write the image to LevelDB (${info.chunkCount} chunks, ${mb(info.payloadBytes)} of records) under load, major GC due`, write],
      ['the same without load, after a full GC (the writer alone)', quiet],
      ['the load alone for 5 s, no snapshot (baseline)', baseline],
      ['the same under load, after a full GC', rewrite],
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
    console.log();
    console.log(`| image write | beginSnapshot() blocked | total write | probe lag (1 ms interval) max / p99 | load: sets+gets served | keys copied (pre-images) |`);
    console.log('| --- | ---: | ---: | --- | ---: | ---: |');
    for (const [label, m] of [
      ['under load, major GC due', write],
      ['no load, after a full GC', quiet],
      ['under load, after a full GC', rewrite],
    ] as const) {
      const r = m.result;
      const lag = r.load.probeTicks === 0 ? '-' : `${r.load.maxLagMs.toFixed(1)} ms / ${r.load.p99LagMs.toFixed(1)} ms (${r.load.probeTicks} ticks)`;
      console.log(`| ${label} | ${r.beginMs.toFixed(3)} ms | ${ms(m.ms)} | ${lag} | ${r.load.writes} + ${r.load.writes} | ${r.preImages} of ${r.imageKeys} |`);
    }
    const b = baseline.result;
    console.log(`| baseline: the load alone, no snapshot | - | ${ms(baseline.ms)} | ${b.maxLagMs.toFixed(1)} ms / ${b.p99LagMs.toFixed(1)} ms (${b.probeTicks} ticks) | ${b.writes} + ${b.writes} | - |`);
    console.log();
    console.log(`bytes on disk: store ${mb(storeBytes)} (two snapshots retained), backup file ${mb(backup.result.fileBytes)}`);
    console.log(`records read back: ${readRaw.result}; fresh keyspace matches the image's size and memory estimate: ${same}`);
    console.log(
      `after the load, with the loaded keyspace alive and a full GC: RSS ${mb(afterLoad.rss)}, heap used ${mb(afterLoad.heapUsed)}, array buffers ${mb(afterLoad.arrayBuffers)}` +
        ` (process peak RSS ${mb(resourceUsage().maxRSS * 1024)})`,
    );
    console.log(`writer slices: ${slices.count} turns, ${(slices.totalMs / Math.max(1, slices.count)).toFixed(2)} ms mean, ${slices.maxMs.toFixed(1)} ms longest (the quiet write, no load)`);
    if (!same || readRaw.result !== expected.size) process.exitCode = 1;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
