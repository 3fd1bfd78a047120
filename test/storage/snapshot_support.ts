/**
 * Shared by the snapshot and backup tests: arbitraries for a keyspace and a dedup table, loading
 * an image into fresh containers, canonical forms to compare, and raw access to a store's LevelDB.
 */
import fc from 'fast-check';
import { Level } from 'level';
import { DedupTable } from '../../src/state/dedup_table.js';
import type { Reply } from '../../src/resp/reply.js';
import { Keyspace, NO_EXPIRY } from '../../src/state/keyspace.js';
import type { KeyRecord } from '../../src/state/keyspace.js';
import { RecordUnpacker, openChunk } from '../../src/storage/snapshot_format.js';
import type { SnapshotDescriptor, VisitableRecords } from '../../src/storage/snapshot_format.js';
import { decodeStateImage, stateImageRecords } from '../../src/state/snapshot_image.js';
import type { DedupRecord } from '../../src/state/snapshot_image.js';

export const group = 'g-snap';

export function descriptor(index: number, term = 1, groupId = group): SnapshotDescriptor {
  return { groupId, index, term, confState: { voters: ['n1', 'n2', 'nœud-3'], learners: index % 2 === 0 ? ['l4'] : [] }, createdAtMs: 1_700_000_000_000 + index };
}

// -------------------------------------------------------------------------------------------------
// Arbitraries

/** Absolute expiry times in ms: realistic ones, and the extremes a PEXPIREAT can set. */
const expireAtArb = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, 2 ** 62),
);

/**
 * Keys and values are binary; some values are larger than the small chunk sizes the tests use,
 * so that records span chunks.
 */
export const keyRecordArb: fc.Arbitrary<KeyRecord> = fc.record({
  key: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
  value: fc
    .oneof({ weight: 5, arbitrary: fc.uint8Array({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 300, maxLength: 3000 }) })
    .map((b) => ({ type: 'string' as const, value: Buffer.from(b) })),
  expireAt: fc.option(expireAtArb, { nil: null }),
});

const replyArb: fc.Arbitrary<Reply> = fc.oneof(
  fc.constant<Reply>({ kind: 'simple', value: 'OK' }),
  fc.integer().map((value): Reply => ({ kind: 'integer', value })),
  fc.uint8Array({ maxLength: 40 }).map((b): Reply => ({ kind: 'bulk', value: Buffer.from(b) })),
  fc.constant<Reply>({ kind: 'null' }),
  fc.string({ maxLength: 30 }).map((message): Reply => ({ kind: 'error', message: `ERR ${message}` })),
  fc.array(fc.integer().map((value): Reply => ({ kind: 'integer', value })), { maxLength: 3 }).map((items): Reply => ({ kind: 'array', items })),
);

export const dedupRecordArb: fc.Arbitrary<DedupRecord> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 30 }),
  timeMs: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  reply: replyArb,
});

export interface StateMachineImage {
  readonly keyspace: Keyspace;
  readonly dedup: DedupTable;
}

export function buildState(keys: readonly KeyRecord[], dedup: readonly DedupRecord[]): StateMachineImage {
  const keyspace = new Keyspace();
  for (const r of keys) keyspace.set(r.key, r.value, r.expireAt ?? NO_EXPIRY);
  const table = new DedupTable();
  table.restore(dedup);
  return { keyspace, dedup: table };
}

/** The records of a state machine's image, captured now (as the node will). */
export function imageOf(state: StateMachineImage): Generator<Buffer> {
  return stateImageRecords(state.keyspace.snapshot(), Array.from(state.dedup.records()));
}

/** Loads an image into fresh containers, as a restarting node does; they are returned only on success. */
export async function loadFresh(records: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<StateMachineImage> {
  const keyspace = new Keyspace();
  const dedup: DedupRecord[] = [];
  await decodeStateImage(records, { key: (r) => keyspace.set(r.key, r.value, r.expireAt ?? NO_EXPIRY), dedup: (r) => dedup.push(r) });
  const table = new DedupTable();
  table.restore(dedup);
  return { keyspace, dedup: table };
}

/** What must survive a snapshot, in a form `toEqual` compares exactly. */
export function canonical(state: StateMachineImage): unknown {
  const keys = state.keyspace
    .snapshot()
    .map((r) => ({ key: r.key.toString('hex'), value: r.value.value.toString('hex'), type: r.value.type, expireAt: r.expireAt }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    keys,
    size: state.keyspace.size,
    countWithTtl: state.keyspace.countWithTtl,
    usedMemoryBytes: state.keyspace.usedMemoryBytes,
    dedup: Array.from(state.dedup.records()),
  };
}

// -------------------------------------------------------------------------------------------------
// Opaque records for tests of the store alone

/** Deterministic records of snapshot `index`: a test can tell which snapshot it is reading. */
export function* syntheticRecords(index: number, count: number, size = 60): Generator<Buffer> {
  for (let i = 0; i < count; i++) {
    const head = `s${index}-r${i}-`;
    yield Buffer.from(head.padEnd(head.length + ((i * 37 + index) % size), String.fromCharCode(97 + ((i + index) % 26))));
  }
}

export async function collect(records: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const r of records) out.push(Buffer.from(r));
  return out;
}

// -------------------------------------------------------------------------------------------------
// Raw LevelDB access (the store must be closed)

export async function withRawDb<T>(dir: string, work: (db: Level<Buffer, Buffer>) => Promise<T>): Promise<T> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

export async function rawEntries(dir: string): Promise<[Buffer, Buffer][]> {
  return withRawDb(dir, async (db) => (await db.iterator().all()).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
}

/** The snapshot ids that have any key in the database. */
export async function rawSnapshotIds(dir: string): Promise<number[]> {
  const ids = new Set<number>();
  for (const [key] of await rawEntries(dir)) if (key[0] === 0x02) ids.add(key.readUInt32BE(1));
  return [...ids].sort((a, b) => a - b);
}

export function chunkKeyOf(id: number, seq: number): Buffer {
  const key = Buffer.alloc(10);
  key[0] = 0x02;
  key.writeUInt32BE(id, 1);
  key[5] = 0x01;
  key.writeUInt32BE(seq, 6);
  return key;
}

export function metaKeyOf(id: number): Buffer {
  const key = Buffer.alloc(6);
  key[0] = 0x02;
  key.writeUInt32BE(id, 1);
  return key;
}

export const headKey = Buffer.from([0x01]);

/** Chunks read back as SnapshotReader.visitRecords reads them (checked, one visit per record). */
export function visitable(chunks: readonly Buffer[]): VisitableRecords {
  return {
    async visitRecords(visit) {
      const unpacker = new RecordUnpacker();
      chunks.forEach((chunk, seq) => unpacker.visit(openChunk(chunk, seq), visit));
      unpacker.end();
    },
  };
}
