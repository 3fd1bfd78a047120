import fc from 'fast-check';
import { expect, test } from 'vitest';
import { expireKeysArgs } from '../../src/commands/internal/expire_keys.js';
import { lookupAppliedCommand } from '../../src/commands/command_table.js';
import { encodeReply } from '../../src/resp/encoder.js';
import { bulk, integer, nullReply, ok, type Reply } from '../../src/resp/reply.js';
import { KEY_MISSING, Keyspace, NO_EXPIRY, type KeyRecord } from '../../src/state/keyspace.js';
import { Executor, seededRandom } from '../commands/support/executor.js';

/**
 * fast-check model run: the keyspace behind the command layer against a plain Map, with a
 * controlled clock. The model encodes the state machine's rules independently:
 *   - a key with expireAt <= now is invisible to reads but still counted by DBSIZE;
 *   - a write touching such a key removes it first;
 *   - only DEL-like commands and the leader's qkv.expire-keys entry remove keys otherwise.
 * Replay a failure with QKV_SEED=<seed printed below>.
 */

const seed = Number(process.env.QKV_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`keyspace_model: seed=${seed} (replay with QKV_SEED=${seed})`);

const START = 1_700_000_000_000;

interface ModelEntry {
  value: Buffer;
  expireAt: number | null;
}

class Model {
  now = START;
  readonly entries = new Map<string, ModelEntry>();

  private expired(entry: ModelEntry): boolean {
    return entry.expireAt !== null && entry.expireAt <= this.now;
  }

  live(key: string): ModelEntry | undefined {
    const entry = this.entries.get(key);
    return entry === undefined || this.expired(entry) ? undefined : entry;
  }

  lookupWrite(key: string): ModelEntry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && this.expired(entry)) this.entries.delete(key);
    return this.live(key);
  }

  liveKeys(): string[] {
    return [...this.entries.keys()].filter((key) => this.live(key) !== undefined).sort();
  }
}

class Real {
  readonly executor: Executor;
  constructor(readonly model: Model) {
    this.executor = new Executor(() => model.now, seededRandom(seed));
  }
  get keyspace(): Keyspace {
    return this.executor.keyspace;
  }
  run(...words: string[]): Reply {
    return this.executor.execute(words.map((word) => Buffer.from(word, 'latin1')));
  }
}

function same(actual: Reply, expected: Reply): void {
  expect(encodeReply(actual, 2).toString('latin1')).toBe(encodeReply(expected, 2).toString('latin1'));
}

const KEYS = ['a', 'b', 'c', '\u0000\u00ff'];
const keyArb = fc.constantFrom(...KEYS);
const valueArb = fc.oneof(fc.constantFrom('', 'x', 'hello'), fc.integer({ min: -5, max: 5 }).map(String));

type Cmd = fc.Command<Model, Real>;

class SetCommand implements Cmd {
  constructor(
    readonly key: string,
    readonly value: string,
    readonly condition: '' | 'NX' | 'XX',
    readonly get: boolean,
    readonly ttl: { kind: 'none' } | { kind: 'keepttl' } | { kind: 'px'; ms: number } | { kind: 'pxat'; offset: number },
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const words = ['SET', this.key, this.value];
    if (this.condition !== '') words.push(this.condition);
    if (this.get) words.push('GET');
    if (this.ttl.kind === 'keepttl') words.push('KEEPTTL');
    if (this.ttl.kind === 'px') words.push('PX', String(this.ttl.ms));
    if (this.ttl.kind === 'pxat') words.push('PXAT', String(model.now + this.ttl.offset));
    const actual = real.run(...words);

    const current = model.lookupWrite(this.key);
    const old: Reply = current === undefined ? nullReply : bulk(current.value);
    let expected: Reply = this.get ? old : ok;
    if ((this.condition === 'NX' && current !== undefined) || (this.condition === 'XX' && current === undefined)) {
      expected = this.get ? old : nullReply;
    } else {
      let expireAt: number | null = null;
      if (this.ttl.kind === 'keepttl') expireAt = current?.expireAt ?? null;
      if (this.ttl.kind === 'px') expireAt = model.now + this.ttl.ms;
      if (this.ttl.kind === 'pxat') expireAt = model.now + this.ttl.offset;
      model.entries.set(this.key, { value: Buffer.from(this.value, 'latin1'), expireAt });
    }
    same(actual, expected);
  }
  toString(): string {
    return `SET ${JSON.stringify(this)}`;
  }
}

class GetCommand implements Cmd {
  constructor(readonly key: string) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const entry = model.live(this.key);
    same(real.run('GET', this.key), entry === undefined ? nullReply : bulk(entry.value));
  }
  toString = () => `GET ${JSON.stringify(this.key)}`;
}

class DelCommand implements Cmd {
  constructor(readonly keys: string[]) {}
  check = () => true;
  run(model: Model, real: Real): void {
    let count = 0;
    for (const key of this.keys) {
      if (model.lookupWrite(key) !== undefined) {
        model.entries.delete(key);
        count++;
      }
    }
    same(real.run('DEL', ...this.keys), integer(count));
  }
  toString = () => `DEL ${JSON.stringify(this.keys)}`;
}

class ExistsCommand implements Cmd {
  constructor(readonly keys: string[]) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const count = this.keys.filter((key) => model.live(key) !== undefined).length;
    same(real.run('EXISTS', ...this.keys), integer(count));
  }
  toString = () => `EXISTS ${JSON.stringify(this.keys)}`;
}

class PexpireCommand implements Cmd {
  constructor(
    readonly key: string,
    readonly ms: number,
    readonly flag: '' | 'NX' | 'XX' | 'GT' | 'LT',
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const actual = real.run('PEXPIRE', this.key, String(this.ms), ...(this.flag === '' ? [] : [this.flag]));
    const entry = model.lookupWrite(this.key);
    const when = model.now + this.ms;
    let result = 1;
    if (entry === undefined) result = 0;
    else if (this.flag === 'NX' && entry.expireAt !== null) result = 0;
    else if (this.flag === 'XX' && entry.expireAt === null) result = 0;
    else if (this.flag === 'GT' && (entry.expireAt === null || when <= entry.expireAt)) result = 0;
    else if (this.flag === 'LT' && entry.expireAt !== null && when >= entry.expireAt) result = 0;
    else if (when <= model.now) model.entries.delete(this.key);
    else entry.expireAt = when;
    same(actual, integer(result));
  }
  toString = () => `PEXPIRE ${JSON.stringify(this)}`;
}

class PersistCommand implements Cmd {
  constructor(readonly key: string) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const entry = model.lookupWrite(this.key);
    const result = entry !== undefined && entry.expireAt !== null ? 1 : 0;
    if (entry !== undefined) entry.expireAt = null;
    same(real.run('PERSIST', this.key), integer(result));
  }
  toString = () => `PERSIST ${JSON.stringify(this.key)}`;
}

class PttlCommand implements Cmd {
  constructor(readonly key: string) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const entry = model.live(this.key);
    const expected = entry === undefined ? -2 : entry.expireAt === null ? -1 : entry.expireAt - model.now;
    same(real.run('PTTL', this.key), integer(expected));
    same(real.run('PEXPIRETIME', this.key), integer(entry?.expireAt ?? (entry === undefined ? -2 : -1)));
  }
  toString = () => `PTTL ${JSON.stringify(this.key)}`;
}

class IncrByCommand implements Cmd {
  constructor(
    readonly key: string,
    readonly by: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const actual = real.run('INCRBY', this.key, String(this.by));
    const entry = model.lookupWrite(this.key);
    const text = entry === undefined ? '0' : entry.value.toString('latin1');
    if (!/^(0|-?[1-9][0-9]{0,14})$/.test(text)) {
      same(actual, { kind: 'error', message: 'ERR value is not an integer or out of range' });
      return;
    }
    const result = Number(text) + this.by;
    model.entries.set(this.key, { value: Buffer.from(String(result)), expireAt: entry?.expireAt ?? null });
    same(actual, integer(result));
  }
  toString = () => `INCRBY ${JSON.stringify(this)}`;
}

class AppendCommand implements Cmd {
  constructor(
    readonly key: string,
    readonly value: string,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const entry = model.lookupWrite(this.key);
    const value = Buffer.concat([entry?.value ?? Buffer.alloc(0), Buffer.from(this.value, 'latin1')]);
    model.entries.set(this.key, { value, expireAt: entry?.expireAt ?? null });
    same(real.run('APPEND', this.key, this.value), integer(value.length));
  }
  toString = () => `APPEND ${JSON.stringify(this)}`;
}

class RenameCommand implements Cmd {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const actual = real.run('RENAME', this.from, this.to);
    const entry = model.lookupWrite(this.from);
    if (entry === undefined) {
      same(actual, { kind: 'error', message: 'ERR no such key' });
      return;
    }
    model.lookupWrite(this.to);
    model.entries.delete(this.from);
    model.entries.set(this.to, entry);
    same(actual, ok);
  }
  toString = () => `RENAME ${JSON.stringify(this)}`;
}

class GetExCommand implements Cmd {
  constructor(
    readonly key: string,
    readonly option: { kind: 'persist' } | { kind: 'pxat'; offset: number } | { kind: 'del' },
  ) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const actual =
      this.option.kind === 'del'
        ? real.run('GETDEL', this.key)
        : this.option.kind === 'persist'
          ? real.run('GETEX', this.key, 'PERSIST')
          : real.run('GETEX', this.key, 'PXAT', String(model.now + this.option.offset));
    const entry = model.lookupWrite(this.key);
    if (entry !== undefined) {
      if (this.option.kind === 'del') model.entries.delete(this.key);
      if (this.option.kind === 'persist') entry.expireAt = null;
      if (this.option.kind === 'pxat') {
        if (this.option.offset <= 0) model.entries.delete(this.key);
        else entry.expireAt = model.now + this.option.offset;
      }
    }
    same(actual, entry === undefined ? nullReply : bulk(entry.value));
  }
  toString = () => `GETEX ${JSON.stringify(this)}`;
}

class AdvanceClock implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  run(model: Model): void {
    model.now += this.ms;
  }
  toString = () => `advance ${this.ms}ms`;
}

/** The leader's active expiry: sample keys with a TTL, propose qkv.expire-keys, apply it. */
class ActiveExpire implements Cmd {
  constructor(readonly count: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const withTtl = [...model.entries].filter(([, entry]) => entry.expireAt !== null);
    const sample = real.keyspace.sampleKeysWithTtl(this.count, seededRandom(this.count));
    const names = sample.map((key) => key.toString('latin1'));
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(Math.min(this.count, withTtl.length));
    for (const name of names) expect(model.entries.get(name)?.expireAt ?? null).not.toBeNull();
    const spec = lookupAppliedCommand(Buffer.from('qkv.expire-keys'));
    if (spec?.kind !== 'write') throw new Error('qkv.expire-keys is missing');
    const reply = spec.apply(real.keyspace, expireKeysArgs(sample), model.now);
    let deleted = 0;
    for (const name of names) {
      const entry = model.entries.get(name)!;
      if (entry.expireAt! <= model.now) {
        model.entries.delete(name);
        deleted++;
      }
    }
    same(reply, integer(deleted));
  }
  toString = () => `active expiry of ${this.count}`;
}

/** DBSIZE, KEYS *, a full SCAN, RANDOMKEY and the TTL count against the model. */
class Inspect implements Cmd {
  constructor(readonly scanCount: number) {}
  check = () => true;
  run(model: Model, real: Real): void {
    same(real.run('DBSIZE'), integer(model.entries.size));
    expect(real.keyspace.countWithTtl).toBe([...model.entries.values()].filter((e) => e.expireAt !== null).length);
    const live = model.liveKeys();
    const keys = real.run('KEYS', '*');
    if (keys.kind !== 'array') throw new Error('KEYS did not reply an array');
    expect(keys.items.map((item) => (item.kind === 'bulk' ? item.value.toString('latin1') : '?')).sort()).toEqual(live);
    const scanned = new Set<string>();
    let cursor = '0';
    do {
      const reply = real.run('SCAN', cursor, 'COUNT', String(this.scanCount));
      if (reply.kind !== 'array') throw new Error('SCAN did not reply an array');
      const [next, items] = reply.items;
      if (next?.kind !== 'bulk' || items?.kind !== 'array') throw new Error('bad SCAN reply');
      for (const item of items.items) if (item.kind === 'bulk') scanned.add(item.value.toString('latin1'));
      cursor = next.value.toString();
    } while (cursor !== '0');
    expect([...scanned].sort()).toEqual(live);
    const random = real.run('RANDOMKEY');
    if (live.length === 0) same(random, nullReply);
    else expect(random.kind === 'bulk' && live.includes(random.value.toString('latin1'))).toBe(true);
  }
  toString = () => `inspect (SCAN COUNT ${this.scanCount})`;
}

const commandArbs = [
  fc
    .tuple(
      keyArb,
      valueArb,
      fc.constantFrom<'' | 'NX' | 'XX'>('', '', 'NX', 'XX'),
      fc.boolean(),
      fc.oneof(
        fc.constant({ kind: 'none' as const }),
        fc.constant({ kind: 'keepttl' as const }),
        fc.integer({ min: 1, max: 5000 }).map((ms) => ({ kind: 'px' as const, ms })),
        fc.integer({ min: -2000, max: 5000 }).map((offset) => ({ kind: 'pxat' as const, offset })),
      ),
    )
    .map(([k, v, c, g, t]) => new SetCommand(k, v, c, g, t)),
  keyArb.map((k) => new GetCommand(k)),
  fc.array(keyArb, { minLength: 1, maxLength: 3 }).map((ks) => new DelCommand(ks)),
  fc.array(keyArb, { minLength: 1, maxLength: 3 }).map((ks) => new ExistsCommand(ks)),
  fc
    .tuple(keyArb, fc.integer({ min: -1000, max: 5000 }), fc.constantFrom<'' | 'NX' | 'XX' | 'GT' | 'LT'>('', 'NX', 'XX', 'GT', 'LT'))
    .map(([k, ms, f]) => new PexpireCommand(k, ms, f)),
  keyArb.map((k) => new PersistCommand(k)),
  keyArb.map((k) => new PttlCommand(k)),
  fc.tuple(keyArb, fc.integer({ min: -100, max: 100 })).map(([k, n]) => new IncrByCommand(k, n)),
  fc.tuple(keyArb, valueArb).map(([k, v]) => new AppendCommand(k, v)),
  fc.tuple(keyArb, keyArb).map(([a, b]) => new RenameCommand(a, b)),
  fc
    .tuple(
      keyArb,
      fc.oneof(
        fc.constant({ kind: 'persist' as const }),
        fc.constant({ kind: 'del' as const }),
        fc.integer({ min: -1000, max: 5000 }).map((offset) => ({ kind: 'pxat' as const, offset })),
      ),
    )
    .map(([k, o]) => new GetExCommand(k, o)),
  fc.integer({ min: 1, max: 3000 }).map((ms) => new AdvanceClock(ms)),
  fc.integer({ min: 1, max: 5 }).map((n) => new ActiveExpire(n)),
  fc.integer({ min: 1, max: 3 }).map((n) => new Inspect(n)),
];

test('keyspace and commands behave as the Map model, TTLs and active expiry included', () => {
  fc.assert(
    fc.property(fc.commands(commandArbs, { maxCommands: 80, size: '+1' }), (commands) => {
      const model = new Model();
      fc.modelRun(() => ({ model, real: new Real(model) }), commands);
    }),
    { seed, numRuns: 400 },
  );
});

function recordsOf(ks: Keyspace): string[] {
  return ks
    .snapshot()
    .map((record: KeyRecord) => `${record.key.toString('hex')}=${record.value.type}:${record.value.value.toString('hex')}@${record.expireAt}`)
    .sort();
}

test('snapshot() then restore() into a fresh Keyspace gives the same observable state', () => {
  fc.assert(
    fc.property(fc.commands(commandArbs, { maxCommands: 60 }), fc.integer({ min: 0, max: 10_000 }), (commands, later) => {
      const model = new Model();
      const real = new Real(model);
      fc.modelRun(() => ({ model, real }), commands);
      const restored = new Keyspace();
      restored.set(Buffer.from('stale'), { type: 'string', value: Buffer.from('gone after restore') });
      restored.restore(real.keyspace.snapshot());
      expect(recordsOf(restored)).toEqual(recordsOf(real.keyspace));
      expect(restored.size).toBe(real.keyspace.size);
      expect(restored.countWithTtl).toBe(real.keyspace.countWithTtl);
      expect(restored.usedMemoryBytes).toBe(real.keyspace.usedMemoryBytes);
      for (const now of [model.now, model.now + later]) {
        for (const name of KEYS) {
          const key = Buffer.from(name, 'latin1');
          expect(restored.get(key, now)).toEqual(real.keyspace.get(key, now));
          expect(restored.expireAtOf(key, now)).toBe(real.keyspace.expireAtOf(key, now));
        }
        expect(restored.liveKeyNames(now).sort()).toEqual(real.keyspace.liveKeyNames(now).sort());
      }
    }),
    { seed, numRuns: 200 },
  );
});

test('a snapshot is a point-in-time copy: later writes do not change it', () => {
  const ks = new Keyspace();
  ks.set(Buffer.from('a'), { type: 'string', value: Buffer.from('1') }, START + 1000);
  const records = ks.snapshot();
  ks.set(Buffer.from('a'), { type: 'string', value: Buffer.from('2') }, NO_EXPIRY);
  ks.set(Buffer.from('b'), { type: 'string', value: Buffer.from('3') });
  expect(records).toEqual([{ key: Buffer.from('a'), value: { type: 'string', value: Buffer.from('1') }, expireAt: START + 1000 }]);
  expect(ks.expireAtOf(Buffer.from('zz'), START)).toBe(KEY_MISSING);
});
