import { array, bulk, error, nullReply, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { isOption, parseInteger } from '../arguments.js';
import type { ReadCommandSpec } from '../command_spec.js';
import { noKeys } from '../key_specs.js';
import { notAnInteger, syntaxError } from '../replies.js';
import { GlobPattern } from './glob.js';

/**
 * SCAN, KEYS, RANDOMKEY: the commands that walk the keyspace. They hide expired keys and, unlike
 * Redis on a primary, never delete them ('Leader-decided expiry'); their order is unspecified.
 */

const invalidCursor: Reply = Object.freeze(error('ERR invalid cursor'));

interface ScanRequest {
  readonly cursor: number;
  readonly count: number;
  readonly pattern: GlobPattern | null;
  /** The TYPE filter's argument (compared case-insensitively as a C string), or null. */
  readonly type: Buffer | null;
}

const ULONG_MAX = 18446744073709551615n;
const CURSOR_BITS = 32n;

/**
 * parseScanCursorOrReply: strtoul in base 10 over the argument as a C string. Leading
 * whitespace is refused; an optional sign is accepted ('-' negates modulo 2^64, as strtoul);
 * no digits at all is cursor 0 only for an empty string. Only the low 32 bits address this
 * keyspace's table (higher bits cannot name a bucket; Redis's dictScan ignores them the same way).
 */
function parseCursor(arg: Buffer): number | null {
  let end = arg.indexOf(0);
  if (end === -1) end = arg.length;
  if (end === 0) return 0;
  let i = 0;
  const first = arg[0]!;
  if (first === 0x20 || (first >= 0x09 && first <= 0x0d)) return null;
  const negative = first === 0x2d;
  if (negative || first === 0x2b) i++;
  if (i === end) return null;
  let value = 0n;
  for (; i < end; i++) {
    const digit = arg[i]! - 0x30;
    if (digit < 0 || digit > 9) return null;
    value = value * 10n + BigInt(digit);
    if (value > ULONG_MAX) return null;
  }
  if (negative) value = BigInt.asUintN(64, -value);
  return Number(BigInt.asUintN(Number(CURSOR_BITS), value));
}

function parseScan(args: readonly Buffer[]): ScanRequest | Reply {
  const cursor = parseCursor(args[1]!);
  if (cursor === null) return invalidCursor;
  let count = 10;
  let pattern: GlobPattern | null = null;
  let type: Buffer | null = null;
  for (let i = 2; i < args.length; i += 2) {
    const option = args[i]!;
    const hasValue = i + 1 < args.length;
    if (hasValue && isOption(option, 'count')) {
      const value = parseInteger(args[i + 1]!);
      if (value === null) return notAnInteger;
      if (value < 1) return syntaxError;
      count = value;
    } else if (hasValue && isOption(option, 'match')) {
      const text = args[i + 1]!.toString('latin1');
      pattern = text === '*' ? null : new GlobPattern(text);
    } else if (hasValue && isOption(option, 'type')) {
      type = args[i + 1]!;
    } else {
      return syntaxError;
    }
  }
  return { cursor, count, pattern, type };
}

function validateScan(args: readonly Buffer[]): Reply | null {
  const request = parseScan(args);
  return 'kind' in request ? request : null;
}

function readScan(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const request = parseScan(args);
  if ('kind' in request) return request;
  const { cursor, keys } = ks.scan(request.cursor, request.count);
  const items: Reply[] = [];
  for (const name of keys) {
    if (request.pattern !== null && !request.pattern.matches(name)) continue;
    const value = ks.getByName(name, nowMs);
    if (value === undefined) continue;
    if (request.type !== null && !isOption(request.type, value.type)) continue;
    items.push(bulk(Buffer.from(name, 'latin1')));
  }
  return array([bulk(String(cursor)), array(items)]);
}

function readKeys(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const text = args[1]!.toString('latin1');
  const pattern = text === '*' ? null : new GlobPattern(text);
  const items: Reply[] = [];
  for (const name of ks.liveKeyNames(nowMs)) {
    if (pattern === null || pattern.matches(name)) items.push(bulk(Buffer.from(name, 'latin1')));
  }
  return array(items);
}

function readRandomKey(ks: Keyspace, _args: readonly Buffer[], nowMs: number, random: () => number): Reply {
  const key = ks.randomKey(nowMs, random);
  return key === null ? nullReply : bulk(key);
}

const walkMetadata = {
  kind: 'read',
  flags: ['readonly'],
  ...noKeys,
  group: 'generic',
  keySpecs: [],
} as const;

export const scan = {
  ...walkMetadata,
  name: 'scan',
  arity: -2,
  categories: ['keyspace', 'read', 'slow'],
  summary: 'Incrementally iterate the keys space',
  since: '2.8.0',
  complexity:
    'O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.',
  tips: ['nondeterministic_output', 'request_policy:special'],
  history: [['6.0.0', 'Added the `TYPE` subcommand.']],
  validate: validateScan,
  read: readScan,
} as const satisfies ReadCommandSpec;

export const keys = {
  ...walkMetadata,
  name: 'keys',
  arity: 2,
  categories: ['keyspace', 'read', 'slow', 'dangerous'],
  summary: 'Find all keys matching the given pattern',
  since: '1.0.0',
  complexity:
    'O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.',
  tips: ['request_policy:all_shards', 'nondeterministic_output_order'],
  validate: () => null,
  read: readKeys,
} as const satisfies ReadCommandSpec;

export const randomkey = {
  ...walkMetadata,
  name: 'randomkey',
  arity: 1,
  categories: ['keyspace', 'read', 'slow'],
  summary: 'Return a random key from the keyspace',
  since: '1.0.0',
  complexity: 'O(1)',
  tips: ['request_policy:all_shards', 'nondeterministic_output'],
  validate: () => null,
  read: readRandomKey,
} as const satisfies ReadCommandSpec;
