import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { lookupAppliedCommand } from '../../src/commands/command_table.js';
import { commandCatalog } from '../../src/node/catalog.js';
import { DedupTable } from '../../src/state/dedup_table.js';
import { KvStateMachine } from '../../src/state/kv_state_machine.js';
import { WriteFlags, writeEntryWriter } from '../../src/state/write_entry.js';
import { Keyspace, NO_EXPIRY, type KeyRecord, type KeyspaceImage } from '../../src/state/keyspace.js';
import { KeyspaceImageError } from '../../src/state/keyspace_image.js';
import { decodeImageRecord, stateImageRecords } from '../../src/state/snapshot_image.js';
import { canonical, dedupRecordArb, loadFresh } from '../storage/snapshot_support.js';
import { propertyParameters } from '../storage/support.js';

/**
 * Keyspace.beginSnapshot(): a copy-on-write image read lazily while writes go on. Each property
 * begins an image, then interleaves writes with pulls of a few records of the encoded image
 * (stateImageRecords over the image, as the node feeds the snapshot store), and checks that what
 * came out is the state at beginSnapshot, each key once, and that it decodes into a fresh
 * Keyspace and DedupTable equal to that state, TTLs included.
 *   - against a Map model, with the Keyspace's own write operations, clear and adopt included;
 *   - through the real command table (KvStateMachine.apply of write entries), against a twin
 *     state machine that stopped at the snapshot's entry.
 * Replay a failure with QKV_SEED=<seed printed below>.
 */

const START = 1_700_000_000_000;
const NAMES = ['a', 'b', 'c', 'd', 'e', '\u0000\u00ff'];
const key = (name: string): Buffer => Buffer.from(name, 'latin1');
const str = (text: string) => ({ type: 'string' as const, value: Buffer.from(text, 'latin1') });

/** A record in a form `toEqual` compares exactly; sorted lists of these compare key multisets. */
function describeRecord(record: KeyRecord): string {
  return `${record.key.toString('hex')}=${record.value.type}:${record.value.value.toString('hex')}@${record.expireAt}`;
}

/** Whether the keyspace still tracks an image (white box: the write path's only check). */
/** Pulls encoded image records a few at a time, as a snapshot writer does between applies. */
function puller(encoded: Iterator<Buffer>): { pulled: Buffer[]; pull: (count: number) => void } {
  const pulled: Buffer[] = [];
  const pull = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const next = encoded.next();
      if (next.done) return;
      pulled.push(next.value);
    }
  };
  return { pulled, pull };
}

/** The key records among pulled image records, described (describeRecord). */
function keysOf(pulled: readonly Buffer[]): string[] {
  return pulled.map(decodeImageRecord).flatMap((r) => (r.kind === 'key' ? [describeRecord(r.record)] : []));
}

function tracking(ks: Keyspace): boolean {
  return (ks as unknown as { image: unknown }).image !== null;
}

// -------------------------------------------------------------------------------------------------
// Model run with the Keyspace's own operations

interface ModelEntry {
  readonly value: Buffer;
  readonly expireAt: number | null;
}

class Model {
  now = START;
  entries = new Map<string, ModelEntry>();

  expired(entry: ModelEntry): boolean {
    return entry.expireAt !== null && entry.expireAt <= this.now;
  }

  /** Every key, expired ones included, as snapshots carry them. */
  records(): string[] {
    return [...this.entries].map(([name, e]) => describeRecord({ key: key(name), value: { type: 'string', value: e.value }, expireAt: e.expireAt })).sort();
  }
}

type Op =
  | { readonly kind: 'set'; readonly name: string; readonly value: string; readonly ttl: number | null }
  | { readonly kind: 'overwrite'; readonly name: string; readonly value: string }
  | { readonly kind: 'setExpireAt'; readonly name: string; readonly ttl: number | null }
  | { readonly kind: 'delete'; readonly name: string }
  | { readonly kind: 'deleteIfExpired'; readonly name: string }
  | { readonly kind: 'lookupWrite'; readonly name: string }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  | { readonly kind: 'clear' }
  | { readonly kind: 'advance'; readonly ms: number };

const nameArb = fc.constantFrom(...NAMES);
const valueArb = fc.oneof(fc.constantFrom('', 'x', 'hello'), fc.string({ maxLength: 6 }));
/** TTLs relative to now, negative ones making keys that are expired but not deleted. */
const ttlArb = fc.option(fc.integer({ min: -2000, max: 5000 }), { nil: null });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), name: nameArb, value: valueArb, ttl: ttlArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('overwrite' as const), name: nameArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('setExpireAt' as const), name: nameArb, ttl: ttlArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteIfExpired' as const), name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lookupWrite' as const), name: nameArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('rename' as const), from: nameArb, to: nameArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
);

/** Applies `op` to both; checks the return values the Keyspace gives against the model's. */
function applyOp(op: Op, ks: Keyspace, model: Model): void {
  const at = (ttl: number | null): number | null => (ttl === null ? null : model.now + ttl);
  switch (op.kind) {
    case 'set': {
      const expireAt = at(op.ttl);
      ks.set(key(op.name), str(op.value), expireAt ?? NO_EXPIRY);
      model.entries.set(op.name, { value: Buffer.from(op.value, 'latin1'), expireAt });
      return;
    }
    case 'overwrite': {
      // The contract: lookupWrite at the same time first, so an expired key's TTL is not kept.
      ks.lookupWrite(key(op.name), model.now);
      ks.overwrite(key(op.name), str(op.value));
      const current = model.entries.get(op.name);
      const keep = current !== undefined && !model.expired(current) ? current.expireAt : null;
      model.entries.set(op.name, { value: Buffer.from(op.value, 'latin1'), expireAt: keep });
      return;
    }
    case 'setExpireAt': {
      const current = model.entries.get(op.name);
      const expireAt = at(op.ttl);
      expect(ks.setExpireAt(key(op.name), expireAt ?? NO_EXPIRY)).toBe(current !== undefined);
      if (current !== undefined) model.entries.set(op.name, { value: current.value, expireAt });
      return;
    }
    case 'delete': {
      const current = model.entries.get(op.name);
      expect(ks.delete(key(op.name), model.now)).toBe(current !== undefined && !model.expired(current));
      model.entries.delete(op.name);
      return;
    }
    case 'deleteIfExpired': {
      const current = model.entries.get(op.name);
      const expired = current !== undefined && model.expired(current);
      expect(ks.deleteIfExpired(key(op.name), model.now)).toBe(expired);
      if (expired) model.entries.delete(op.name);
      return;
    }
    case 'lookupWrite': {
      const current = model.entries.get(op.name);
      const live = current !== undefined && !model.expired(current);
      expect(ks.lookupWrite(key(op.name), model.now) !== undefined).toBe(live);
      if (current !== undefined && !live) model.entries.delete(op.name);
      return;
    }
    case 'rename': {
      // Keyspace.rename's contract: the caller checked that `from` is live and differs from `to`.
      const current = model.entries.get(op.from);
      if (current === undefined || model.expired(current) || op.from === op.to) return;
      ks.rename(key(op.from), key(op.to));
      model.entries.delete(op.from);
      model.entries.set(op.to, current);
      return;
    }
    case 'clear':
      ks.clear();
      model.entries.clear();
      return;
    case 'advance':
      model.now += op.ms;
      return;
  }
}

/**
 * After beginSnapshot: a write, a pull of `count` encoded records, or an adopt of a fresh
 * keyspace with the same contents, loaded by `set` and put through `images` images of its own
 * first (partly iterated, released), so that its entries carry stamps of another history.
 */
type Step = Op | { readonly kind: 'pull'; readonly count: number } | { readonly kind: 'adopt'; readonly images: number; readonly pulled: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: opArb },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pull' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('adopt' as const), images: fc.integer({ min: 0, max: 4 }), pulled: fc.integer({ min: 0, max: 4 }) }) },
);

/** One image's life: writes before it, then steps, then either drained or abandoned (released) after them. */
interface Round {
  readonly before: readonly Op[];
  readonly during: readonly Step[];
  readonly abandon: boolean;
}

const roundArb: fc.Arbitrary<Round> = fc.record({
  before: fc.array(opArb, { maxLength: 20 }),
  during: fc.array(stepArb, { maxLength: 40 }),
  abandon: fc.boolean(),
});

function adoptCopy(ks: Keyspace, model: Model, images: number, pulled: number): void {
  const other = new Keyspace();
  for (const [name, e] of model.entries) other.set(key(name), { type: 'string', value: e.value }, e.expireAt ?? NO_EXPIRY);
  for (let i = 0; i < images; i++) {
    const iterator = other.beginSnapshot()[Symbol.iterator]();
    for (let j = 0; j < pulled; j++) iterator.next();
    iterator.return?.();
  }
  const readHits = ks.readHits;
  ks.adopt(other);
  expect(ks.readHits).toBe(readHits);
  expect(other.size).toBe(0);
}

describe('beginSnapshot: a point-in-time image while writes go on', () => {
  test('model run: the image is the state at beginSnapshot, each key once, and restores into a fresh state machine', async () => {
    const { seed, numRuns } = propertyParameters('keyspace image vs model', 300);
    await fc.assert(
      fc.asyncProperty(fc.array(roundArb, { minLength: 1, maxLength: 3 }), fc.array(dedupRecordArb, { maxLength: 4 }), async (rounds, dedupRecords) => {
        const ks = new Keyspace();
        const model = new Model();
        const dedup = new DedupTable();
        dedup.restore(dedupRecords);
        for (const round of rounds) {
          for (const op of round.before) applyOp(op, ks, model);

          const image = ks.beginSnapshot();
          const expectedRecords = model.records();
          const expected = canonical({ keyspace: ks, dedup });
          expect(image.size).toBe(expectedRecords.length);
          const encoded = stateImageRecords(image, Array.from(dedup.records()));
          const { pulled, pull } = puller(encoded);
          for (const step of round.during) {
            if (step.kind === 'pull') pull(step.count);
            else if (step.kind === 'adopt') adoptCopy(ks, model, step.images, step.pulled);
            else applyOp(step, ks, model);
          }

          if (round.abandon) {
            encoded.return(undefined);
            image.release();
            image.release();
            expect(tracking(ks)).toBe(false);
          } else {
            pull(Number.MAX_SAFE_INTEGER);
            expect(tracking(ks)).toBe(false);
            const keys = keysOf(pulled);
            expect(keys.sort()).toEqual(expectedRecords);
            const restored = await loadFresh(pulled);
            expect(canonical(restored)).toEqual(expected);
          }
          // Tracking never changes the live state.
          expect(ks.snapshot().map(describeRecord).sort()).toEqual(model.records());
          expect(ks.size).toBe(model.entries.size);
          expect(ks.countWithTtl).toBe([...model.entries.values()].filter((e) => e.expireAt !== null).length);
        }
      }),
      { seed, numRuns },
    );
  });
});

// -------------------------------------------------------------------------------------------------
// Through the command table: KvStateMachine.apply of write entries

/** A write command; a word `@<n>` is the entry's time plus n (absolute times for PXAT and co.). */
interface Write {
  readonly kind: 'write';
  readonly words: readonly string[];
  /** Through a follower (dedup flag) with this request id, or not retriable. */
  readonly requestId: string | null;
}
type SmStep = Write | { readonly kind: 'advance'; readonly ms: number } | { readonly kind: 'pull'; readonly count: number };

const smKeyArb = fc.constantFrom('a', 'b', 'c', 'n', '\u0000\u00ff');
const smValueArb = fc.oneof(fc.constantFrom('', 'x', 'hello', '10', '-3', '2.5'), fc.integer({ min: -50, max: 50 }).map(String));
const secondsArb = fc.integer({ min: -2, max: 5 }).map(String);
const msArb = fc.integer({ min: -1000, max: 5000 }).map(String);
const atArb = fc.integer({ min: -2000, max: 5000 }).map((offset) => `@${offset}`);

const wordsArb: fc.Arbitrary<string[]> = fc.oneof(
  fc
    .tuple(
      smKeyArb,
      smValueArb,
      fc.constantFrom([], ['KEEPTTL'], ['EX', '2'], ['PX', '1500'], ['NX'], ['XX'], ['GET']),
      fc.option(atArb, { nil: null }),
    )
    .map(([k, v, opts, at]) => (at === null ? ['SET', k, v, ...opts] : ['SET', k, v, 'PXAT', at])),
  fc.tuple(smKeyArb, fc.integer({ min: 1, max: 5 }), smValueArb).map(([k, s, v]) => ['SETEX', k, String(s), v]),
  fc.tuple(smKeyArb, smValueArb).map(([k, v]) => ['GETSET', k, v]),
  smKeyArb.map((k) => ['GETDEL', k]),
  fc.tuple(smKeyArb, fc.constantFrom(['PERSIST'], ['PX', '800'], ['PXAT', '@-10'], ['EX', '3'])).map(([k, o]) => ['GETEX', k, ...o]),
  fc.tuple(smKeyArb, smValueArb, smKeyArb, smValueArb).map(([a, x, b, y]) => ['MSET', a, x, b, y]),
  fc.tuple(smKeyArb, smValueArb).map(([k, v]) => ['MSETNX', k, v]),
  smKeyArb.map((k) => ['INCR', k]),
  fc.tuple(smKeyArb, fc.integer({ min: -20, max: 20 })).map(([k, n]) => ['INCRBY', k, String(n)]),
  smKeyArb.map((k) => ['DECR', k]),
  smKeyArb.map((k) => ['INCRBYFLOAT', k, '1.5']),
  fc.tuple(smKeyArb, smValueArb).map(([k, v]) => ['APPEND', k, v]),
  fc.tuple(smKeyArb, fc.integer({ min: 0, max: 8 }), smValueArb).map(([k, o, v]) => ['SETRANGE', k, String(o), v]),
  fc.array(smKeyArb, { minLength: 1, maxLength: 3 }).map((ks) => ['DEL', ...ks]),
  fc.tuple(smKeyArb, smKeyArb).map(([a, b]) => ['RENAME', a, b]),
  fc.tuple(smKeyArb, smKeyArb).map(([a, b]) => ['RENAMENX', a, b]),
  fc.tuple(smKeyArb, secondsArb).map(([k, s]) => ['EXPIRE', k, s]),
  fc.tuple(smKeyArb, msArb, fc.constantFrom([], ['NX'], ['XX'], ['GT'], ['LT'])).map(([k, ms, f]) => ['PEXPIRE', k, ms, ...f]),
  fc.tuple(smKeyArb, atArb).map(([k, at]) => ['PEXPIREAT', k, at]),
  smKeyArb.map((k) => ['PERSIST', k]),
  fc.constantFrom('FLUSHALL', 'FLUSHDB').map((name) => [name]),
  fc.array(smKeyArb, { minLength: 1, maxLength: 3 }).map((ks) => ['qkv.expire-keys', ...ks]),
);

const writeArb: fc.Arbitrary<Write> = fc.record({
  kind: fc.constant('write' as const),
  words: wordsArb,
  requestId: fc.option(fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5', 'r6'), { nil: null }),
});
const smStepArb = (pulls: boolean): fc.Arbitrary<SmStep> =>
  fc.oneof(
    { weight: 8, arbitrary: writeArb },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
    { weight: pulls ? 4 : 0, arbitrary: fc.record({ kind: fc.constant('pull' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  );

class Replica {
  readonly sm = new KvStateMachine({ newKeyspace: () => new Keyspace(), resolveWrite: (name) => commandCatalog.resolveWrite(name) });
  private index = 0;

  /** As the leader proposes it (prepare at `nowMs`), then as every replica applies it. */
  write(step: Write, nowMs: number): void {
    const args = step.words.map((word) => Buffer.from(word.startsWith('@') ? String(nowMs + Number(word.slice(1))) : word, 'latin1'));
    const spec = lookupAppliedCommand(args[0]!);
    if (spec?.kind !== 'write') throw new Error(`not a write: ${step.words[0]}`);
    const prepared = spec.prepare(args, nowMs);
    if (!Array.isArray(prepared)) return; // rejected before the log (a syntax error)
    const writer = writeEntryWriter({ flags: step.requestId === null ? 0 : WriteFlags.dedup, timeMs: nowMs, args: prepared as readonly Buffer[] });
    const payload = Buffer.allocUnsafe(writer.size);
    writer.writeTo(payload, 0);
    this.sm.apply(++this.index, payload, step.requestId ?? `once-${this.index}`);
  }
}

describe('beginSnapshot through the command table', () => {
  test('writes applied while the image is written do not reach it; it restores into a fresh state machine equal to a twin stopped at the snapshot', async () => {
    const { seed, numRuns } = propertyParameters('keyspace image through KvStateMachine', 300);
    await fc.assert(
      fc.asyncProperty(fc.array(smStepArb(false), { maxLength: 40 }), fc.array(smStepArb(true), { maxLength: 60 }), async (before, during) => {
        let now = START;
        const replica = new Replica();
        const twin = new Replica();
        for (const step of before) {
          if (step.kind === 'advance') now += step.ms;
          else if (step.kind === 'write') {
            replica.write(step, now);
            twin.write(step, now);
          }
        }

        const image: KeyspaceImage = replica.sm.keyspace.beginSnapshot();
        const expectedRecords = twin.sm.keyspace.snapshot().map(describeRecord).sort();
        expect(image.size).toBe(expectedRecords.length);
        const encoded = stateImageRecords(image, Array.from(replica.sm.dedup.records()));
        const { pulled, pull } = puller(encoded);
        for (const step of during) {
          if (step.kind === 'advance') now += step.ms;
          else if (step.kind === 'pull') pull(step.count);
          else replica.write(step, now);
        }
        pull(Number.MAX_SAFE_INTEGER);
        expect(tracking(replica.sm.keyspace)).toBe(false);

        const keys = keysOf(pulled);
        expect(keys.sort()).toEqual(expectedRecords);
        const restored = await loadFresh(pulled);
        expect(canonical(restored)).toEqual(canonical({ keyspace: twin.sm.keyspace, dedup: twin.sm.dedup }));
        // What reads see at a few instants, TTLs included.
        for (const at of [now, now + 1000, now + 10_000]) {
          for (const name of ['a', 'b', 'c', 'n', '\u0000\u00ff']) {
            expect(restored.keyspace.get(key(name), at)).toEqual(twin.sm.keyspace.get(key(name), at));
            expect(restored.keyspace.expireAtOf(key(name), at)).toBe(twin.sm.keyspace.expireAtOf(key(name), at));
          }
        }
      }),
      { seed, numRuns },
    );
  });
});

// -------------------------------------------------------------------------------------------------
// The lifecycle, case by case

describe('KeyspaceImage lifecycle', () => {
  const fill = (ks: Keyspace, names: string[]): void => {
    for (const name of names) ks.set(key(name), str(`v-${name}`), name === 'b' ? START + 5 : NO_EXPIRY);
  };
  const names = (records: Iterable<KeyRecord>): string[] => Array.from(records, (r) => `${r.key.toString('latin1')}=${r.value.value.toString('latin1')}`);

  test('a second image while one is active is refused; after release (or the end of the iteration) one may begin', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b']);
    const first = ks.beginSnapshot();
    expect(() => ks.beginSnapshot()).toThrow(expect.objectContaining({ code: 'KEYSPACE_IMAGE_ACTIVE' }));
    first.release();
    const second = ks.beginSnapshot();
    expect(names(second).sort()).toEqual(['a=v-a', 'b=v-b']);
    expect(tracking(ks)).toBe(false);
    expect(names(ks.beginSnapshot()).sort()).toEqual(['a=v-a', 'b=v-b']);
  });

  test('delete then recreate, of a key already yielded and of one not yet: the old value, once', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b', 'c']);
    const iterator = ks.beginSnapshot()[Symbol.iterator]();
    const first = iterator.next().value!;
    const yielded = first.key.toString('latin1');
    const notYet = yielded === 'c' ? 'a' : 'c';
    for (const name of [yielded, notYet]) {
      ks.delete(key(name), START);
      ks.set(key(name), str(`new-${name}`));
    }
    ks.set(key('d'), str('new-d'));
    const rest: KeyRecord[] = [];
    for (let next = iterator.next(); !next.done; next = iterator.next()) rest.push(next.value);
    expect(names([first, ...rest]).sort()).toEqual(['a=v-a', 'b=v-b', 'c=v-c']);
    expect([first, ...rest].find((r) => r.key.toString('latin1') === 'b')!.expireAt).toBe(START + 5);
  });

  test('rename during the image: both keys as they were', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b', 'c']);
    const image = ks.beginSnapshot();
    ks.rename(key('b'), key('z'));
    ks.rename(key('c'), key('a'));
    expect(names(image).sort()).toEqual(['a=v-a', 'b=v-b', 'c=v-c']);
  });

  test('clear during the image detaches it: it still yields the old state, and writes are no longer tracked', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b', 'c']);
    const image = ks.beginSnapshot();
    ks.overwrite(key('a'), str('changed'));
    ks.clear();
    expect(tracking(ks)).toBe(false);
    ks.set(key('b'), str('after'));
    const next = ks.beginSnapshot();
    expect(names(image).sort()).toEqual(['a=v-a', 'b=v-b', 'c=v-c']);
    expect(names(next)).toEqual(['b=after']);
  });

  test('adopt during the image detaches it; the adopted state is not tracked by it; statistics stay', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b']);
    ks.get(key('a'), START);
    const image = ks.beginSnapshot();
    const fresh = new Keyspace();
    fill(fresh, ['x', 'y']);
    ks.adopt(fresh);
    ks.set(key('x'), str('changed'));
    ks.delete(key('y'), START);
    expect(names(image).sort()).toEqual(['a=v-a', 'b=v-b']);
    expect(names(ks.snapshot())).toEqual(['x=changed']);
    expect(ks.readHits).toBe(1);
    expect(fresh.size).toBe(0);
    expect(() => new Keyspace().adopt((() => (fresh.beginSnapshot(), fresh))())).toThrow(KeyspaceImageError);
  });

  test('an abandoned image stops tracking and cannot be iterated further', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b', 'c']);
    const image = ks.beginSnapshot();
    const iterator = image[Symbol.iterator]();
    iterator.next();
    image.release();
    expect(tracking(ks)).toBe(false);
    expect(() => iterator.next()).toThrow(KeyspaceImageError);
    expect(() => image[Symbol.iterator]()).toThrow(expect.objectContaining({ code: 'KEYSPACE_IMAGE_INVALID_STATE' }));
    ks.set(key('a'), str('after'));
    expect(names(ks.beginSnapshot()).sort()).toEqual(['a=after', 'b=v-b', 'c=v-c']);
  });

  test('breaking off a for-of releases the image; an image is iterated once', () => {
    const ks = new Keyspace();
    fill(ks, ['a', 'b']);
    const image = ks.beginSnapshot();
    for (const _ of image) break;
    expect(tracking(ks)).toBe(false);
    const again = ks.beginSnapshot();
    expect(Array.from(again)).toHaveLength(2);
    expect(() => Array.from(again)).toThrow(KeyspaceImageError);
  });

  test('while nothing writes, an image yields the keys in the order snapshot() lists them (SCAN order), across grows and shrinks', () => {
    const ks = new Keyspace();
    for (let i = 0; i < 300; i++) ks.set(key(`k${i}`), str(`v${i}`));
    for (let i = 0; i < 290; i += 1) if (i % 7 !== 0) ks.delete(key(`k${i}`), START);
    const listed = names(ks.snapshot());
    expect(names(ks.beginSnapshot())).toEqual(listed);
    expect(listed).toHaveLength(ks.size);
  });

  test('snapshot() works while an image is active and gives the live state', () => {
    const ks = new Keyspace();
    fill(ks, ['a']);
    const image = ks.beginSnapshot();
    ks.set(key('a'), str('live'));
    expect(names(ks.snapshot())).toEqual(['a=live']);
    expect(names(image)).toEqual(['a=v-a']);
  });
});
