import type { Reply } from '../resp/reply.js';
import type { CommandSpec, WriteCommandSpec } from './command_spec.js';
import { bitfield, bitfieldRo } from './bitmap/bitfield.js';
import { bitop } from './bitmap/bitop.js';
import { bitcount, bitpos } from './bitmap/count.js';
import { getbit, setbit } from './bitmap/single_bit.js';
import { pfadd, pfcount, pfmerge } from './hyperloglog/pf.js';
import { expireKeys } from './internal/expire_keys.js';
import { metaNext, metaPut } from './internal/meta_put.js';
import { split } from './internal/split.js';
import { ownSlots } from './internal/own_slots.js';
import { del, unlink } from './keyspace/delete.js';
import { expire, expireat, persist, pexpire, pexpireat } from './keyspace/expire.js';
import { exists, type } from './keyspace/inspect.js';
import { rename, renamenx } from './keyspace/rename.js';
import { keys, randomkey, scan } from './keyspace/scan.js';
import { expiretime, pexpiretime, pttl, ttl } from './keyspace/ttl.js';
import { wrongArity } from './replies.js';
import { dbsize, flushall, flushdb } from './server/database.js';
import { decr, decrby, incr, incrby, incrbyfloat } from './string/counter.js';
import { get, getdel, getex } from './string/get.js';
import { lcs } from './string/lcs.js';
import { mget, mset, msetnx } from './string/multi.js';
import { append, getrange, setrange, strlen, substr } from './string/range.js';
import { getset, psetex, set, setex, setnx } from './string/set.js';

/**
 * The public command table of the keyspace commands (the connection commands live in
 * src/commands/connection/, the gateway merges both). Internal commands are kept apart in
 * `internalCommands`: a client can never name them.
 */
export const commandTable: readonly CommandSpec[] = [
  // string
  get,
  set,
  setnx,
  setex,
  psetex,
  getset,
  getdel,
  getex,
  mget,
  mset,
  msetnx,
  incr,
  decr,
  incrby,
  decrby,
  incrbyfloat,
  append,
  strlen,
  getrange,
  setrange,
  substr,
  lcs,
  // bitmap
  setbit,
  getbit,
  bitcount,
  bitpos,
  bitop,
  bitfield,
  bitfieldRo,
  // hyperloglog
  pfadd,
  pfcount,
  pfmerge,
  // generic
  del,
  unlink,
  exists,
  type,
  rename,
  renamenx,
  expire,
  pexpire,
  expireat,
  pexpireat,
  ttl,
  pttl,
  expiretime,
  pexpiretime,
  persist,
  scan,
  keys,
  randomkey,
  // server
  flushall,
  flushdb,
  dbsize,
];

export const internalCommands: readonly WriteCommandSpec[] = [expireKeys, ownSlots, metaPut, metaNext, split];

const byName = new Map<string, CommandSpec>(commandTable.map((spec) => [spec.name, spec]));
const internalByName = new Map<string, WriteCommandSpec>(internalCommands.map((spec) => [spec.name, spec]));

/** A public command by its lower-case name. */
export function lookupCommand(lowerCaseName: string): CommandSpec | undefined {
  return byName.get(lowerCaseName);
}

/** A public command by the name as a client sent it (ASCII case-insensitive). */
export function lookupCommandByArg(name: Buffer): CommandSpec | undefined {
  return byName.get(asciiLowerCase(name));
}

/** An internal command (log entries proposed by the node itself), by lower-case name. */
export function lookupInternalCommand(lowerCaseName: string): WriteCommandSpec | undefined {
  return internalByName.get(lowerCaseName);
}

/** The command that applies a logged entry: public or internal, named by its `args[0]`. */
export function lookupAppliedCommand(name: Buffer): CommandSpec | undefined {
  const lower = asciiLowerCase(name);
  return byName.get(lower) ?? internalByName.get(lower);
}

/** The arity check the gateway makes before anything else, with Redis 7.0's error. */
export function checkArity(spec: CommandSpec, argCount: number): Reply | null {
  const arity = spec.arity;
  if ((arity > 0 && argCount !== arity) || argCount < -arity) return wrongArity(spec.name);
  return null;
}

/** Folds only ASCII letters, as Redis's strcasecmp in the C locale. */
function asciiLowerCase(bytes: Buffer): string {
  let i = 0;
  while (i < bytes.length && !(bytes[i]! >= 0x41 && bytes[i]! <= 0x5a)) i++;
  if (i === bytes.length) return bytes.toString('latin1');
  const lower = Buffer.from(bytes);
  for (; i < lower.length; i++) {
    if (lower[i]! >= 0x41 && lower[i]! <= 0x5a) lower[i] = lower[i]! | 0x20;
  }
  return lower.toString('latin1');
}
