import { describe, expect, test } from 'vitest';
import type { CommandSpec, KeySpec } from '../../src/commands/command_spec.js';
import {
  checkArity,
  commandTable,
  internalCommands,
  lookupAppliedCommand,
  lookupCommand,
  lookupCommandByArg,
} from '../../src/commands/command_table.js';
import { useRedis } from './support/use_redis.js';
import { readReply, type RespValue } from './support/resp_frames.js';

/**
 * The table's metadata is Redis 7.0's: every field COMMAND INFO and COMMAND DOCS print (except
 * the argument lists) is compared with what a real redis-server 7.0 says about the command.
 */

const redis = useRedis();

type Plain = string | number | null | Plain[];

function plain(value: RespValue): Plain {
  switch (value.type) {
    case 'simple':
    case 'error':
      return value.text;
    case 'integer':
      return Number(value.value);
    case 'bulk':
      return value.bytes === null ? null : value.bytes.toString();
    case 'array':
      return value.items === null ? null : value.items.map(plain);
  }
}

async function ask(...words: string[]): Promise<Plain> {
  const bytes = await redis.client().send(words.map((word) => Buffer.from(word)));
  return plain(readReply(bytes)!.value);
}

function keySpecInfo(spec: KeySpec): Plain {
  const begin =
    spec.beginSearch.type === 'index'
      ? ['type', 'index', 'spec', ['index', spec.beginSearch.index]]
      : ['type', 'keyword', 'spec', ['keyword', spec.beginSearch.keyword, 'startfrom', spec.beginSearch.startFrom]];
  const find =
    spec.findKeys.type === 'range'
      ? ['type', 'range', 'spec', ['lastkey', spec.findKeys.lastKey, 'keystep', spec.findKeys.keyStep, 'limit', spec.findKeys.limit]]
      : ['type', 'keynum', 'spec', ['keynumidx', spec.findKeys.keyNumIdx, 'firstkey', spec.findKeys.firstKey, 'keystep', spec.findKeys.keyStep]];
  return [...(spec.notes === undefined ? [] : ['notes', spec.notes]), 'flags', [...spec.flags], 'begin_search', begin, 'find_keys', find];
}

/** COMMAND INFO's reply for one command, as quorumkv's table describes it. */
function expectedInfo(spec: CommandSpec): Plain {
  return [
    spec.name,
    spec.arity,
    [...spec.flags],
    spec.firstKey,
    spec.lastKey,
    spec.keyStep,
    spec.categories.map((category) => `@${category}`),
    [...(spec.tips ?? [])],
    (spec.keySpecs ?? []).map(keySpecInfo),
    [],
  ];
}

/** COMMAND DOCS's fields for one command, without `arguments`. */
function expectedDocs(spec: CommandSpec): Plain {
  const docs: Plain[] = ['summary', spec.summary, 'since', spec.since, 'group', spec.group, 'complexity', spec.complexity];
  if (spec.docFlags !== undefined) docs.push('doc_flags', [...spec.docFlags]);
  if (spec.deprecatedSince !== undefined) docs.push('deprecated_since', spec.deprecatedSince);
  if (spec.replacedBy !== undefined) docs.push('replaced_by', spec.replacedBy);
  if (spec.history !== undefined) docs.push('history', spec.history.map(([version, change]) => [version, change]));
  return docs;
}

function withoutArguments(docs: Plain): Plain {
  if (!Array.isArray(docs)) return docs;
  const fields: Plain[] = [];
  for (let i = 0; i < docs.length; i += 2) {
    if (docs[i] !== 'arguments') fields.push(docs[i]!, docs[i + 1]!);
  }
  return fields;
}

describe('command table metadata equals redis-server 7.0 COMMAND INFO and COMMAND DOCS', () => {
  for (const spec of commandTable) {
    test(spec.name, async () => {
      const info = await ask('COMMAND', 'INFO', spec.name);
      expect(info).toEqual([expectedInfo(spec)]);
      const docs = (await ask('COMMAND', 'DOCS', spec.name)) as Plain[];
      expect(docs[0]).toBe(spec.name);
      expect(withoutArguments(docs[1]!)).toEqual(expectedDocs(spec));
    });
  }
});

describe('command table lookups', () => {
  test('names are unique and lower-case; lookups fold ASCII case only', () => {
    const names = commandTable.map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      expect(name).toBe(name.toLowerCase());
      expect(lookupCommand(name)?.name).toBe(name);
      expect(lookupCommandByArg(Buffer.from(name.toUpperCase()))?.name).toBe(name);
    }
    expect(lookupCommand('SET')).toBeUndefined();
    expect(lookupCommandByArg(Buffer.from('S\u00c9T', 'latin1'))).toBeUndefined();
  });

  test('internal commands are not in the public table but resolve for applying log entries', () => {
    for (const spec of internalCommands) {
      expect(lookupCommand(spec.name)).toBeUndefined();
      expect(lookupCommandByArg(Buffer.from(spec.name))).toBeUndefined();
      expect(lookupAppliedCommand(Buffer.from(spec.name.toUpperCase()))).toBe(spec);
    }
    expect(lookupAppliedCommand(Buffer.from('PEXPIREAT'))?.name).toBe('pexpireat');
  });

  test('arity check: exact for positive arity, a minimum for negative', () => {
    const get = lookupCommand('get')!;
    const set = lookupCommand('set')!;
    expect(checkArity(get, 2)).toBeNull();
    expect(checkArity(get, 3)).toEqual({ kind: 'error', message: "ERR wrong number of arguments for 'get' command" });
    expect(checkArity(set, 3)).toBeNull();
    expect(checkArity(set, 9)).toBeNull();
    expect(checkArity(set, 2)).toEqual({ kind: 'error', message: "ERR wrong number of arguments for 'set' command" });
  });

  test('every write prepares into args whose first word names a command that applies them', () => {
    const now = 1_700_000_000_000;
    const samples: Record<string, string[]> = {
      set: ['SET', 'k', 'v', 'EX', '10'],
      setex: ['SETEX', 'k', '10', 'v'],
      psetex: ['PSETEX', 'k', '10', 'v'],
      getex: ['GETEX', 'k', 'PX', '10'],
      expire: ['EXPIRE', 'k', '10', 'NX'],
      pexpire: ['PEXPIRE', 'k', '10'],
      expireat: ['EXPIREAT', 'k', '10'],
    };
    for (const [name, words] of Object.entries(samples)) {
      const spec = lookupCommand(name)!;
      if (spec.kind !== 'write') throw new Error(`${name} is not a write`);
      const prepared = spec.prepare(
        words.map((word) => Buffer.from(word)),
        now,
      );
      expect(Array.isArray(prepared)).toBe(true);
      const target = lookupAppliedCommand((prepared as Buffer[])[0]!);
      expect(target?.kind).toBe('write');
    }
  });
});
