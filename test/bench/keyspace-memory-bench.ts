/**
 * `npm run bench:keyspace-memory`: what a key costs in one process, without the cluster around
 * it, and how long a snapshot of them takes to load.
 *
 *   1. N SETs (16 B keys `key:<12 digits>`, 100 B values; every 10th with a TTL when --ttl) are
 *      applied through the real KvStateMachine in batch entries of 500 writes, as a leader's
 *      turn batches them; heap and external memory after a full GC, per key.
 *   2. The same N keys packed into snapshot chunks and loaded into a fresh Keyspace with
 *      loadStateImage (what a restart and an InstallSnapshot do): its time and GC time.
 *
 * Needs --expose-gc (the script sets it): `npm run bench:keyspace-memory -- --keys 1000000`.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { commandCatalog } from '../../src/node/catalog.js';
import { KvStateMachine } from '../../src/state/kv_state_machine.js';
import { WriteFlags, writeBatchWriter, type BatchedWrite } from '../../src/state/write_entry.js';
import { Keyspace } from '../../src/state/keyspace.js';
import { ChunkPacker, RecordUnpacker, openChunk, type VisitableRecords } from '../../src/storage/snapshot_format.js';
import { encodeKeyRecord, loadStateImage } from '../../src/state/snapshot_image.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:keyspace-memory does)');

const { values } = parseArgs({ options: { keys: { type: 'string' }, ttl: { type: 'boolean' } } });
const keys = Number(values.keys ?? 1_000_000);
const withTtl = values.ttl === true;
const BATCH = 500;
const NOW = 1_700_000_000_000;
const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(12, '0')}`, 'latin1');
const value = Buffer.alloc(100, 120);
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

function heapAndExternal(): number {
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

// 1. Applied through the state machine.
const before = heapAndExternal();
const sm = new KvStateMachine({ newKeyspace: () => commandCatalog.newKeyspace(), resolveWrite: (name) => commandCatalog.resolveWrite(name) });
for (let i = 0; i < keys; i += BATCH) {
  const writes: BatchedWrite[] = [];
  for (let j = i; j < Math.min(keys, i + BATCH); j++) {
    const args = [Buffer.from('SET'), keyOf(j), value];
    if (withTtl && j % 10 === 0) args.push(Buffer.from('PXAT'), Buffer.from(String(NOW + 3_600_000)));
    writes.push({ requestId: `bench.x.${j.toString(36)}`, args });
  }
  const writer = writeBatchWriter({ flags: WriteFlags.dedup, timeMs: NOW, writes });
  const payload = Buffer.allocUnsafe(writer.size);
  writer.writeTo(payload, 0);
  sm.apply(i, payload, `batch-${i}`);
}
const after = heapAndExternal();
const dataBytes = keys * (16 + 100);
console.log(
  `${keys} keys applied${withTtl ? ' (every 10th with a TTL)' : ''}: heap + external ${mib(after - before)} MiB, ` +
    `${((after - before) / keys).toFixed(0)} B per key (${((after - before - dataBytes) / keys).toFixed(0)} B beyond the 116 B of data); ` +
    `dedup table ${sm.dedup.size} writes; INFO used_memory_dataset estimate ${mib(sm.keyspace.usedMemoryBytes)} MiB`,
);

// 2. Loaded from snapshot chunks.
const packer = new ChunkPacker();
for (let j = 0; j < keys; j++) {
  packer.add(encodeKeyRecord({ key: keyOf(j), value: { type: 'string', value }, expireAt: withTtl && j % 10 === 0 ? NOW + 3_600_000 : null }));
}
packer.finish();
const chunks = packer.take();
const source: VisitableRecords = {
  async visitRecords(visit) {
    const unpacker = new RecordUnpacker();
    chunks.forEach((chunk, seq) => unpacker.visit(openChunk(chunk, seq), visit));
    unpacker.end();
  },
};
let gcMs = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
observer.observe({ entryTypes: ['gc'] });
for (let run = 1; run <= 3; run++) {
  gc();
  gcMs = 0;
  const ks = new Keyspace();
  const started = performance.now();
  await loadStateImage(source, { keyspace: ks, dedup: () => {} });
  const ms = performance.now() - started;
  await new Promise((r) => setTimeout(r, 10)); // let the GC entries arrive
  console.log(`load ${run}: ${ks.size} keys from ${chunks.length} chunks in ${ms.toFixed(0)} ms (GC ${gcMs.toFixed(0)} ms)`);
}
observer.disconnect();
