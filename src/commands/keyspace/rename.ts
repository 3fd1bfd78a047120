import { ok, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { keyAt } from '../key_specs.js';
import { noSuchKey, one, zero } from '../replies.js';

/**
 * RENAME and RENAMENX: one worker (renameGenericCommand). The value and its TTL move; whatever
 * the destination held is replaced. Renaming a key to itself checks only that it exists.
 */
function applyRename(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number, onlyIfAbsent: boolean): Reply {
  const from = args[1]!;
  const to = args[2]!;
  if (ks.lookupWrite(from, entryTimeMs) === undefined) return noSuchKey;
  if (from.equals(to)) return onlyIfAbsent ? zero : ok;
  if (ks.lookupWrite(to, entryTimeMs) !== undefined && onlyIfAbsent) return zero;
  ks.rename(from, to);
  return onlyIfAbsent ? one : ok;
}

const renameMetadata = {
  kind: 'write',
  arity: 3,
  firstKey: 1,
  lastKey: 2,
  keyStep: 1,
  group: 'generic',
  complexity: 'O(1)',
  prepare: asIs,
} as const;

export const rename = {
  ...renameMetadata,
  name: 'rename',
  flags: ['write'],
  categories: ['keyspace', 'write', 'slow'],
  summary: 'Rename a key',
  since: '1.0.0',
  keySpecs: [keyAt(1, ['RW', 'access', 'delete']), keyAt(2, ['OW', 'update'])],
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) => applyRename(ks, args, entryTimeMs, false),
} as const satisfies WriteCommandSpec;

export const renamenx = {
  ...renameMetadata,
  name: 'renamenx',
  flags: ['write', 'fast'],
  categories: ['keyspace', 'write', 'fast'],
  summary: 'Rename a key, only if the new key does not exist',
  since: '1.0.0',
  keySpecs: [keyAt(1, ['RW', 'access', 'delete']), keyAt(2, ['OW', 'insert'])],
  history: [['3.2.0', 'The command no longer returns an error when source and destination names are the same.']],
  apply: (ks: Keyspace, args: readonly Buffer[], entryTimeMs: number) => applyRename(ks, args, entryTimeMs, true),
} as const satisfies WriteCommandSpec;
