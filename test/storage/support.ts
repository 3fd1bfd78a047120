/**
 * Shared by the storage tests: seeds, temp dirs, a dumb reference log, and random operation
 * sequences that are made concrete against the reference (so every generated call is valid).
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Entry, HardState, SnapshotMetadata } from '../../src/raft/types.js';
import { EntryType, emptyHardState } from '../../src/raft/types.js';
import type { DurableLog, LogUpdate, PersistedLog } from '../../src/storage/durable_log.js';
import { SeededRandom } from '../../src/util/random.js';

// -------------------------------------------------------------------------------------------------
// Seeds: fixed by default so runs are deterministic; QKV_SEED replays another, QKV_RUNS scales.

export function propertyParameters(name: string, defaultRuns: number): { seed: number; numRuns: number } {
  const seed = process.env.QKV_SEED === undefined ? defaultSeed(name) : Number(process.env.QKV_SEED);
  const numRuns = process.env.QKV_RUNS === undefined ? defaultRuns : Number(process.env.QKV_RUNS);
  console.log(`[fast-check] ${name}: seed=${seed} numRuns=${numRuns} (replay with QKV_SEED=${seed})`);
  return { seed, numRuns };
}

function defaultSeed(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return hash | 0;
}

// -------------------------------------------------------------------------------------------------
// Temp dirs

export async function withTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'qkv-storage-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => /^\d{16}\.log$/.test(name)).sort();
}

export async function lastSegment(dir: string): Promise<{ name: string; size: number }> {
  const names = await segmentNames(dir);
  const name = names[names.length - 1]!;
  return { name, size: (await stat(join(dir, name))).size };
}

export async function readSegment(dir: string, name: string): Promise<Buffer> {
  return readFile(join(dir, name));
}

// -------------------------------------------------------------------------------------------------
// Comparing logs

export function normalize(log: PersistedLog): unknown {
  return {
    hardState: { term: log.hardState.term, vote: log.hardState.vote, commit: log.hardState.commit },
    snapshot: log.snapshot,
    entries: log.entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString('hex') })),
  };
}

export function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

export function snapshotAt(index: number, term: number, voters: string[] = ['n1', 'n2', 'n3'], learners: string[] = []): SnapshotMetadata {
  return { index, term, confState: { voters, learners } };
}

// -------------------------------------------------------------------------------------------------
// The reference: the contract of durable_log.ts written as plainly as possible, record by record.

export type Call = { readonly kind: 'save'; readonly update: LogUpdate } | { readonly kind: 'compact'; readonly snapshot: SnapshotMetadata };

export type RefRecord =
  | { readonly kind: 'install'; readonly snapshot: SnapshotMetadata }
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'compact'; readonly snapshot: SnapshotMetadata };

export class ReferenceLog {
  snapshot: SnapshotMetadata | null = null;
  hardState: HardState = emptyHardState;
  /** Every entry after the snapshot, in order. */
  entries: Entry[] = [];

  get snapshotIndex(): number {
    return this.snapshot?.index ?? 0;
  }

  get lastIndex(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.index : this.snapshotIndex;
  }

  termAt(index: number): number {
    if (index === this.snapshotIndex) return this.snapshot?.term ?? 0;
    return this.entries.find((e) => e.index === index)!.term;
  }

  clone(): ReferenceLog {
    const copy = new ReferenceLog();
    copy.snapshot = this.snapshot;
    copy.hardState = this.hardState;
    copy.entries = this.entries.slice();
    return copy;
  }

  /** The records a call writes, in order (what a crash may keep a prefix of). */
  records(call: Call): RefRecord[] {
    if (call.kind === 'compact') return call.snapshot.index > this.snapshotIndex ? [{ kind: 'compact', snapshot: call.snapshot }] : [];
    const records: RefRecord[] = [];
    let covered = this.snapshotIndex;
    if (call.update.snapshot !== undefined) {
      records.push({ kind: 'install', snapshot: call.update.snapshot });
      covered = call.update.snapshot.index;
    }
    for (const e of call.update.entries ?? []) if (e.index > covered) records.push({ kind: 'entry', entry: e });
    if (call.update.hardState !== undefined) records.push({ kind: 'hardState', hardState: call.update.hardState });
    return records;
  }

  apply(records: readonly RefRecord[]): void {
    for (const record of records) {
      switch (record.kind) {
        case 'install':
          this.snapshot = record.snapshot;
          this.entries = [];
          break;
        case 'entry':
          this.entries = this.entries.filter((e) => e.index < record.entry.index);
          this.entries.push(record.entry);
          break;
        case 'hardState':
          this.hardState = record.hardState;
          break;
        case 'compact':
          this.entries = this.entries.filter((e) => e.index > record.snapshot.index);
          this.snapshot = record.snapshot;
          break;
      }
    }
  }

  persisted(): PersistedLog {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries.slice() };
  }
}

/**
 * The size of each record on disk, from the format's specification (record.ts), computed here
 * independently: 8-byte header (length, crc32), a type byte, then the payload.
 */
export function recordSize(record: RefRecord): number {
  const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');
  const list = (values: readonly string[]): number => values.reduce((size, v) => size + 2 + utf8(v), 2);
  switch (record.kind) {
    case 'entry':
      return 8 + 1 + 6 + 6 + 1 + record.entry.data.length;
    case 'hardState':
      return 8 + 1 + 6 + 6 + utf8(record.hardState.vote);
    case 'install':
    case 'compact':
      return 8 + 1 + 6 + 6 + list(record.snapshot.confState.voters) + list(record.snapshot.confState.learners);
  }
}

export async function perform(log: DurableLog, call: Call): Promise<void> {
  if (call.kind === 'save') await log.save(call.update);
  else await log.compact(call.snapshot);
}

// -------------------------------------------------------------------------------------------------
// Random operations: abstract here, concrete against the reference when run.

export type AbstractOp =
  | {
      readonly kind: 'append';
      /** How far before the end the entries start (0 = plain append; more = truncate-on-conflict). */
      readonly back: number;
      readonly count: number;
      readonly dataSize: number;
      readonly withHardState: boolean;
      readonly vote: number;
      readonly seed: number;
    }
  | { readonly kind: 'compact'; readonly percent: number; readonly learners: boolean }
  | { readonly kind: 'install'; readonly ahead: number; readonly count: number; readonly withHardState: boolean; readonly seed: number };

export const abstractOpArb: fc.Arbitrary<AbstractOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      back: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 8 }) }),
      count: fc.integer({ min: 0, max: 6 }),
      dataSize: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 300 })),
      withHardState: fc.boolean(),
      vote: fc.integer({ min: 0, max: 3 }),
      seed: fc.integer(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('compact' as const), percent: fc.integer({ min: 0, max: 100 }), learners: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      ahead: fc.integer({ min: -6, max: 10 }),
      count: fc.integer({ min: 0, max: 3 }),
      withHardState: fc.boolean(),
      seed: fc.integer(),
    }),
  },
);

const votes = ['', 'n1', 'n2', 'nœud-3'];

/** Turns abstract ops into valid calls, tracking the term a real leader would use. */
export class CallMaker {
  private term = 1;

  make(op: AbstractOp, ref: ReferenceLog): Call {
    const random = new SeededRandom('seed' in op ? op.seed : 0);
    switch (op.kind) {
      case 'append': {
        if (op.back > 0) this.term++;
        const first = Math.max(1, ref.lastIndex + 1 - op.back);
        const entries: Entry[] = [];
        for (let i = 0; i < op.count; i++) entries.push(randomEntry(first + i, this.term, (op.dataSize + i * 37) % 301, random));
        const lastIndex = op.count > 0 ? first + op.count - 1 : ref.lastIndex;
        const update: LogUpdate = {
          entries,
          ...(op.withHardState || op.count === 0
            ? { hardState: { term: this.term, vote: votes[op.vote]!, commit: random.intBelow(lastIndex + 1) } }
            : {}),
        };
        return { kind: 'save', update };
      }
      case 'compact': {
        const index = ref.snapshotIndex + Math.round(((ref.lastIndex - ref.snapshotIndex) * op.percent) / 100);
        return { kind: 'compact', snapshot: snapshotAt(index, ref.termAt(index), ['n1', 'n2', 'n3'], op.learners ? ['l4'] : []) };
      }
      case 'install': {
        this.term++;
        const index = Math.max(1, ref.snapshotIndex, ref.lastIndex + op.ahead);
        const entries: Entry[] = [];
        for (let i = 1; i <= op.count; i++) entries.push(randomEntry(index + i, this.term, random.intBelow(120), random));
        const update: LogUpdate = {
          snapshot: snapshotAt(index, this.term - 1, ['n1', 'n2', 'nœud-3']),
          entries,
          ...(op.withHardState ? { hardState: { term: this.term, vote: 'n2', commit: index } } : {}),
        };
        return { kind: 'save', update };
      }
    }
  }
}

function randomEntry(index: number, term: number, size: number, random: SeededRandom): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = random.intBelow(256);
  return { index, term, type: random.intBelow(4) === 0 ? EntryType.ConfChange : EntryType.Normal, data };
}
