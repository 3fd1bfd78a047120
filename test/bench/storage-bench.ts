/**
 * Storage benchmark: durable appends per second for FileLog and for LevelDB (`level`, batches
 * with `sync: true`), at batch sizes 1, 16 and 256 with 100-byte entries, so the choice of log
 * format rests on a measurement. Each save is one fsync (FileLog: one write + one datasync;
 * LevelDB: one synced write-ahead-log append), so saves/s is fsyncs/s.
 *
 *   npm run bench:storage                     (2 s per case)
 *   QKV_BENCH_SECONDS=5 npm run bench:storage
 *
 * Runs in a temp dir under os.tmpdir(), removed afterwards: the figures are those of that disk.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { Entry } from '../../src/raft/types.js';
import { EntryType } from '../../src/raft/types.js';
import { FileLog } from '../../src/storage/file_log.js';

const entryBytes = 100;
const batchSizes = [1, 16, 256] as const;
const secondsPerCase = Number(process.env.QKV_BENCH_SECONDS ?? 2);

interface Result {
  readonly store: string;
  readonly batch: number;
  readonly saves: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
}

/** Calls `save(firstIndex)` back to back (each awaited, as the Ready loop does) for the time budget. */
async function measure(store: string, batch: number, save: (firstIndex: number) => Promise<void>): Promise<Result> {
  let index = 1;
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) {
    await save(index);
    index += batch;
  }
  const latenciesMs: number[] = [];
  const start = performance.now();
  const end = start + secondsPerCase * 1000;
  let now = start;
  while (now < end) {
    await save(index);
    index += batch;
    const after = performance.now();
    latenciesMs.push(after - now);
    now = after;
  }
  return { store, batch, saves: latenciesMs.length, seconds: (now - start) / 1000, latenciesMs };
}

function payload(index: number): Uint8Array {
  const data = new Uint8Array(entryBytes);
  data.fill(index & 0xff);
  return data;
}

async function benchFileLog(dir: string, batch: number): Promise<Result> {
  const log = new FileLog({ dir, groupId: 'bench' });
  await log.load();
  const data = payload(7);
  try {
    return await measure('FileLog', batch, async (firstIndex) => {
      const entries: Entry[] = [];
      for (let i = 0; i < batch; i++) entries.push({ index: firstIndex + i, term: 1, type: EntryType.Normal, data });
      await log.save({ entries });
    });
  } finally {
    await log.close();
  }
}

async function benchLevel(dir: string, batch: number): Promise<Result> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const data = payload(7);
  try {
    return await measure('LevelDB', batch, async (firstIndex) => {
      const operations = [];
      for (let i = 0; i < batch; i++) {
        const key = Buffer.allocUnsafe(8);
        key.writeBigUInt64BE(BigInt(firstIndex + i));
        operations.push({ type: 'put' as const, key, value: data });
      }
      await db.batch(operations, { sync: true });
    });
  } finally {
    await db.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'qkv-storage-bench-'));
  const results: Result[] = [];
  try {
    for (const batch of batchSizes) {
      results.push(await benchFileLog(join(root, `file-${batch}`), batch));
      results.push(await benchLevel(join(root, `level-${batch}`), batch));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  console.log(`storage bench: ${entryBytes}-byte entries, ${secondsPerCase} s per case, node ${process.version}, dir ${tmpdir()}`);
  console.log(row(['store', 'batch', 'fsyncs/s', 'entries/s', 'p50 ms', 'p99 ms']));
  console.log(row(['---', '---:', '---:', '---:', '---:', '---:']));
  for (const result of results) {
    const sorted = result.latenciesMs.slice().sort((a, b) => a - b);
    const savesPerSecond = result.saves / result.seconds;
    console.log(
      row([
        result.store,
        String(result.batch),
        savesPerSecond.toFixed(0),
        (savesPerSecond * result.batch).toFixed(0),
        percentile(sorted, 50).toFixed(3),
        percentile(sorted, 99).toFixed(3),
      ]),
    );
  }
}

await main();
