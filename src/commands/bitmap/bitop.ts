import { error, integer, type Reply } from '../../resp/reply.js';
import { NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import { isOption } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { keyAt, keyRange } from '../key_specs.js';
import { syntaxError, wrongType, zero } from '../replies.js';

/**
 * BITOP AND | OR | XOR | NOT destkey key [key ...]: one write over several keys, as MSET and
 * RENAME are (all its keys are in one group, or the router refused it with CROSSSLOT). Missing
 * sources are empty strings, shorter ones are padded with zeros; an empty result deletes the
 * destination instead of storing "", and a stored result has no TTL (Redis's setKey).
 */

type BitOperation = 'and' | 'or' | 'xor' | 'not';

const notTakesOneKey: Reply = Object.freeze(error('ERR BITOP NOT must be called with a single source key.'));

function operationOf(arg: Buffer): BitOperation | null {
  for (const operation of ['and', 'or', 'xor', 'not'] as const) if (isOption(arg, operation)) return operation;
  return null;
}

function prepareBitOp(args: readonly Buffer[]): readonly Buffer[] | Reply {
  const operation = operationOf(args[1]!);
  if (operation === null) return syntaxError;
  return operation === 'not' && args.length !== 4 ? notTakesOneKey : args;
}

function applyBitOp(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const operation = operationOf(args[1]!)!;
  const destination = args[2]!;
  const sources: Buffer[] = [];
  let maxLength = 0;
  for (let i = 3; i < args.length; i++) {
    const value = ks.lookupWrite(args[i]!, entryTimeMs);
    if (value === undefined) {
      sources.push(Buffer.alloc(0));
      continue;
    }
    if (value.type !== 'string') return wrongType;
    sources.push(value.value);
    maxLength = Math.max(maxLength, value.value.length);
  }
  if (maxLength === 0) {
    ks.delete(destination, entryTimeMs);
    return zero;
  }
  const result = Buffer.alloc(maxLength);
  const first = sources[0]!;
  if (operation === 'not') {
    for (let j = 0; j < maxLength; j++) result[j] = ~(first[j] ?? 0) & 0xff;
  } else {
    first.copy(result, 0);
    for (let i = 1; i < sources.length; i++) {
      const source = sources[i]!;
      // Bytes past a source's end are zeros: AND clears them, OR and XOR leave them.
      if (operation === 'and') {
        for (let j = 0; j < maxLength; j++) result[j] = result[j]! & (source[j] ?? 0);
      } else if (operation === 'or') {
        for (let j = 0; j < source.length; j++) result[j] = result[j]! | source[j]!;
      } else {
        for (let j = 0; j < source.length; j++) result[j] = result[j]! ^ source[j]!;
      }
    }
  }
  ks.set(destination, { type: 'string', value: result }, NO_EXPIRY);
  return integer(maxLength);
}

export const bitop = {
  name: 'bitop',
  kind: 'write',
  arity: -4,
  flags: ['write', 'denyoom'],
  firstKey: 2,
  lastKey: -1,
  keyStep: 1,
  categories: ['write', 'bitmap', 'slow'],
  summary: 'Perform bitwise operations between strings',
  since: '2.6.0',
  group: 'bitmap',
  complexity: 'O(N)',
  keySpecs: [keyAt(2, ['OW', 'update']), keyRange(3, -1, 1, ['RO', 'access'])],
  prepare: prepareBitOp,
  apply: applyBitOp,
} as const satisfies WriteCommandSpec;
