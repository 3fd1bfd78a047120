import { error, integer, ok, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { keyAt, keyRange } from '../key_specs.js';
import { one, zero } from '../replies.js';
import {
  HllEditor,
  REGISTERS,
  cachedCardinality,
  emptyHll,
  estimate,
  histogramOf,
  histogramOfRegisters,
  isDenseHll,
  isHll,
  mergeRegisters,
  withCachedCardinality,
} from './hll.js';

/**
 * PFADD, PFCOUNT, PFMERGE over Redis's own HLL strings (hll.ts).
 *
 * PFCOUNT is a write here, although Redis flags it read-only: PFCOUNT of one key whose cached
 * cardinality is stale stores the fresh one in the value, and that changes the bytes GET (and
 * later DUMP) returns. A read changes nothing, and on one replica only, so to give Redis's
 * replies and Redis's bytes PFCOUNT goes through the log like any write and every replica
 * updates the cache as it applies it. The cost is a log entry per PFCOUNT, also when the cache
 * is valid or the command names several keys (which only merge, without writing); telling those
 * apart before proposing would need the gateway to route by the key's state. COMMAND INFO still
 * shows Redis's flags.
 */

/** Redis words it as a WRONGTYPE error of its own, with a final period. */
const notAnHll: Reply = Object.freeze(error('WRONGTYPE Key is not a valid HyperLogLog string value.'));
const corruptHll: Reply = Object.freeze(error('INVALIDOBJ Corrupted HLL object detected'));

/**
 * The HLL at `key` for a write (lookupWrite): undefined when missing, a reply when it is not an
 * HLL (another type, or a string that does not look like one).
 */
function lookupHll(ks: Keyspace, key: Buffer, entryTimeMs: number): Buffer | Reply | undefined {
  const value = ks.lookupWrite(key, entryTimeMs);
  if (value === undefined) return undefined;
  if (value.type !== 'string' || !isHll(value.value)) return notAnHll;
  return value.value;
}

/** The registers of the HLLs at args[1..] merged (hllMerge), one per byte. */
class Union {
  readonly max = new Uint8Array(REGISTERS);
  /** Whether any of them is dense (PFMERGE's destination then is too). */
  dense = false;
  /** The HLL at args[1], if it exists: PFMERGE's destination. */
  first: Buffer | undefined;
}

/** The union of the HLLs at args[1..]; a reply when one is not an HLL or is corrupt. */
function unionOf(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Union | Reply {
  const union = new Union();
  for (let i = 1; i < args.length; i++) {
    const found = lookupHll(ks, args[i]!, entryTimeMs);
    if (found === undefined) continue;
    if (!Buffer.isBuffer(found)) return found;
    if (i === 1) union.first = found;
    if (isDenseHll(found)) union.dense = true;
    if (!mergeRegisters(found, union.max)) return corruptHll;
  }
  return union;
}

function applyPfAdd(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const found = lookupHll(ks, key, entryTimeMs);
  if (found !== undefined && !Buffer.isBuffer(found)) return found;
  const editor = new HllEditor(found ?? emptyHll());
  // A new key is a change even with no elements.
  let updated = found === undefined;
  for (let i = 2; i < args.length; i++) {
    const result = editor.add(args[i]!);
    if (result === -1) {
      // Redis changes the value in place, so what the elements before did stays.
      if (updated) ks.overwrite(key, { type: 'string', value: editor.value() });
      return corruptHll;
    }
    if (result === 1) updated = true;
  }
  if (!updated) return zero;
  editor.invalidateCache();
  ks.overwrite(key, { type: 'string', value: editor.value() });
  return one;
}

function applyPfCount(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  if (args.length > 2) {
    // The union of several HLLs, nothing written.
    const union = unionOf(ks, args, entryTimeMs);
    if (!(union instanceof Union)) return union;
    return integer(BigInt.asIntN(64, estimate(histogramOfRegisters(union.max))));
  }
  const key = args[1]!;
  const found = lookupHll(ks, key, entryTimeMs);
  if (found === undefined) return zero;
  if (!Buffer.isBuffer(found)) return found;
  const cached = cachedCardinality(found);
  if (cached !== null) return integer(cached);
  const histogram = histogramOf(found);
  if (histogram === null) return corruptHll;
  const cardinality = estimate(histogram);
  ks.overwrite(key, { type: 'string', value: withCachedCardinality(found, cardinality) });
  return integer(BigInt.asIntN(64, cardinality));
}

function applyPfMerge(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  // Every key, the destination first, is a source.
  const union = unionOf(ks, args, entryTimeMs);
  if (!(union instanceof Union)) return union;
  const { max } = union;
  const editor = new HllEditor(union.first ?? emptyHll());
  if (union.dense && !editor.toDense()) return corruptHll;
  for (let i = 0; i < REGISTERS; i++) if (max[i]! > 0) editor.set(i, max[i]!);
  editor.invalidateCache();
  ks.overwrite(args[1]!, { type: 'string', value: editor.value() });
  return ok;
}

export const pfadd = {
  name: 'pfadd',
  kind: 'write',
  arity: -2,
  flags: ['write', 'denyoom', 'fast'],
  firstKey: 1,
  lastKey: 1,
  keyStep: 1,
  categories: ['write', 'hyperloglog', 'fast'],
  summary: 'Adds the specified elements to the specified HyperLogLog.',
  since: '2.8.9',
  group: 'hyperloglog',
  complexity: 'O(1) to add every element.',
  keySpecs: [keyAt(1, ['RW', 'insert'])],
  prepare: asIs,
  apply: applyPfAdd,
} as const satisfies WriteCommandSpec;

export const pfcount = {
  name: 'pfcount',
  kind: 'write',
  arity: -2,
  flags: ['readonly'],
  firstKey: 1,
  lastKey: -1,
  keyStep: 1,
  categories: ['read', 'hyperloglog', 'slow'],
  summary: 'Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).',
  since: '2.8.9',
  group: 'hyperloglog',
  complexity:
    'O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.',
  keySpecs: [
    keyRange(1, -1, 1, ['RW', 'access'], 'RW because it may change the internal representation of the key, and propagate to replicas'),
  ],
  prepare: asIs,
  apply: applyPfCount,
} as const satisfies WriteCommandSpec;

export const pfmerge = {
  name: 'pfmerge',
  kind: 'write',
  arity: -2,
  flags: ['write', 'denyoom'],
  firstKey: 1,
  lastKey: -1,
  keyStep: 1,
  categories: ['write', 'hyperloglog', 'slow'],
  summary: 'Merge N different HyperLogLogs into a single one.',
  since: '2.8.9',
  group: 'hyperloglog',
  complexity: 'O(N) to merge N HyperLogLogs, but with high constant times.',
  keySpecs: [keyAt(1, ['RW', 'access', 'insert']), keyRange(2, -1, 1, ['RO', 'access'])],
  prepare: asIs,
  apply: applyPfMerge,
} as const satisfies WriteCommandSpec;
