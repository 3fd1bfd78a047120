import { array, error, integer, nullReply, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { isOption, parseLongLong } from '../arguments.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { notAnInteger, syntaxError, wrongType } from '../replies.js';
import { signedOverflow, unsignedOverflow, type OverflowMode } from './bitfield_overflow.js';
import {
  bitOffsetError,
  bitfieldTypeError,
  getSignedBits,
  getUnsignedBits,
  parseBitOffset,
  parseBitfieldType,
  setBits,
  type BitfieldType,
} from './bits.js';

/**
 * BITFIELD and BITFIELD_RO (bitfieldGeneric). Every subcommand is parsed before anything runs,
 * so a bad one anywhere answers only its error; the parse needs no state, so BITFIELD checks it
 * in prepare. OVERFLOW applies to the INCRBY and SET subcommands after it.
 *
 * A BITFIELD with a SET or INCRBY first makes room for the farthest bit any of them writes
 * (creating the key, or padding it with zeros), even when every write then FAILs, as Redis does.
 * The new value is built in a copy (stored values are never mutated: keyspace.ts, "Ownership"),
 * O(length of the string), and stored only when the command changed or grew it; an existing key
 * keeps its TTL.
 */

interface BitfieldOp {
  readonly opcode: 'get' | 'set' | 'incrby';
  readonly type: BitfieldType;
  readonly offset: number;
  /** SET's value or INCRBY's increment (int64). */
  readonly value: bigint;
  readonly overflow: OverflowMode;
}

const invalidOverflow: Reply = Object.freeze(error('ERR Invalid OVERFLOW type specified'));
const readOnlyGetOnly: Reply = Object.freeze(error('ERR BITFIELD_RO only supports the GET subcommand'));

function parseOverflow(arg: Buffer): OverflowMode | null {
  for (const mode of ['wrap', 'sat', 'fail'] as const) if (isOption(arg, mode)) return mode;
  return null;
}

function parseBitfield(args: readonly Buffer[]): BitfieldOp[] | Reply {
  const ops: BitfieldOp[] = [];
  let overflow: OverflowMode = 'wrap';
  for (let j = 2; j < args.length; j++) {
    const remaining = args.length - j - 1;
    const subcommand = args[j]!;
    let opcode: BitfieldOp['opcode'];
    if (isOption(subcommand, 'get') && remaining >= 2) opcode = 'get';
    else if (isOption(subcommand, 'set') && remaining >= 3) opcode = 'set';
    else if (isOption(subcommand, 'incrby') && remaining >= 3) opcode = 'incrby';
    else if (isOption(subcommand, 'overflow') && remaining >= 1) {
      const mode = parseOverflow(args[++j]!);
      if (mode === null) return invalidOverflow;
      overflow = mode;
      continue;
    } else {
      return syntaxError;
    }
    const type = parseBitfieldType(args[j + 1]!);
    if (type === null) return bitfieldTypeError;
    const offset = parseBitOffset(args[j + 2]!, type.bits);
    if (offset === null) return bitOffsetError;
    let value = 0n;
    if (opcode !== 'get') {
      const parsed = parseLongLong(args[j + 3]!);
      if (parsed === null) return notAnInteger;
      value = parsed;
    }
    ops.push({ opcode, type, offset, value, overflow });
    j += opcode === 'get' ? 2 : 3;
  }
  return ops;
}

function getReply(bytes: Uint8Array, op: BitfieldOp): Reply {
  const { signed, bits } = op.type;
  return integer(signed ? getSignedBits(bytes, op.offset, bits) : getUnsignedBits(bytes, op.offset, bits));
}

/** One SET or INCRBY on `bytes` (long enough): its reply, and whether it changed a bit. */
function writeField(bytes: Uint8Array, op: BitfieldOp): { reply: Reply; changed: boolean } {
  const { signed, bits } = op.type;
  const old = signed ? getSignedBits(bytes, op.offset, bits) : getUnsignedBits(bytes, op.offset, bits);
  const check = signed ? signedOverflow : unsignedOverflow;
  const incrby = op.opcode === 'incrby';
  // SET checks its value with no increment; the value is the uint64_t an unsigned field's C code sees.
  const base = incrby ? old : signed ? op.value : BigInt.asUintN(64, op.value);
  const increment = incrby ? op.value : 0n;
  const overflow = check(base, increment, bits, op.overflow);
  // Without overflow the sum is within the field's range.
  const stored = overflow === null ? base + increment : overflow.limit;
  // FAIL: nothing written, and a null in the reply.
  if (stored === null) return { reply: nullReply, changed: false };
  setBits(bytes, op.offset, bits, stored);
  return {
    reply: integer(incrby ? stored : old),
    changed: BigInt.asUintN(bits, stored) !== BigInt.asUintN(bits, old),
  };
}

function applyBitfield(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  const key = args[1]!;
  const ops = parseBitfield(args) as BitfieldOp[];
  const current = ks.lookupWrite(key, entryTimeMs);
  if (current !== undefined && current.type !== 'string') return wrongType;
  const old = current?.value ?? Buffer.alloc(0);
  let farthestBit = -1;
  for (const op of ops) if (op.opcode !== 'get') farthestBit = Math.max(farthestBit, op.offset + op.type.bits - 1);
  if (farthestBit < 0) return array(ops.map((op) => getReply(old, op)));
  const bytes = Buffer.alloc(Math.max(old.length, Math.floor(farthestBit / 8) + 1));
  old.copy(bytes, 0);
  let changed = current === undefined || bytes.length !== old.length;
  const replies = ops.map((op) => {
    if (op.opcode === 'get') return getReply(bytes, op);
    const written = writeField(bytes, op);
    changed ||= written.changed;
    return written.reply;
  });
  if (changed) ks.overwrite(key, { type: 'string', value: bytes });
  return array(replies);
}

function prepareBitfield(args: readonly Buffer[]): readonly Buffer[] | Reply {
  const ops = parseBitfield(args);
  return Array.isArray(ops) ? args : (ops as Reply);
}

function validateBitfieldRo(args: readonly Buffer[]): Reply | null {
  const ops = parseBitfield(args);
  if (!Array.isArray(ops)) return ops as Reply;
  return ops.some((op) => op.opcode !== 'get') ? readOnlyGetOnly : null;
}

function readBitfieldRo(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const ops = parseBitfield(args) as BitfieldOp[];
  const value = ks.get(args[1]!, nowMs);
  if (value !== undefined && value.type !== 'string') return wrongType;
  const bytes = value?.value ?? Buffer.alloc(0);
  return array(ops.map((op) => getReply(bytes, op)));
}

export const bitfield = {
  name: 'bitfield',
  kind: 'write',
  arity: -2,
  flags: ['write', 'denyoom'],
  ...oneKey,
  categories: ['write', 'bitmap', 'slow'],
  summary: 'Perform arbitrary bitfield integer operations on strings',
  since: '3.2.0',
  group: 'bitmap',
  complexity: 'O(1) for each subcommand specified',
  keySpecs: [keyAt(1, ['RW', 'access', 'update', 'variable_flags'], 'This command allows both access and modification of the key')],
  prepare: prepareBitfield,
  apply: applyBitfield,
} as const satisfies WriteCommandSpec;

export const bitfieldRo = {
  name: 'bitfield_ro',
  kind: 'read',
  arity: -2,
  flags: ['readonly', 'fast'],
  ...oneKey,
  categories: ['read', 'bitmap', 'fast'],
  summary: 'Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD',
  since: '6.0.0',
  group: 'bitmap',
  complexity: 'O(1) for each subcommand specified',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  validate: validateBitfieldRo,
  read: readBitfieldRo,
} as const satisfies ReadCommandSpec;
