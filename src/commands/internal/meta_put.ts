import { ok, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { noKeys } from '../key_specs.js';

/**
 * `qkv.meta-put NAME VALUE [NAME VALUE ...]`: sets records of the meta group (the node directory,
 * the groups and their slots: src/cluster/meta_records.ts), all in one entry. The names are the
 * meta group's own, not client keys: the command declares no key positions, so the meta group,
 * which owns no slot, runs it, and no client can ever name it.
 */
function applyMetaPut(ks: Keyspace, args: readonly Buffer[]): Reply {
  for (let i = 1; i + 1 < args.length; i += 2) ks.set(args[i]!, { type: 'string', value: args[i + 1]! });
  return ok;
}

export const META_PUT_COMMAND = 'qkv.meta-put';

export const metaPut = {
  name: META_PUT_COMMAND,
  kind: 'write',
  arity: -3,
  flags: ['write', 'admin'],
  ...noKeys,
  categories: ['admin', 'write'],
  summary: 'Set records of the meta group (internal: node directory, groups, slot map)',
  since: '0.2.0',
  group: 'cluster',
  complexity: 'O(N) where N is the number of records.',
  keySpecs: [],
  prepare: asIs,
  apply: applyMetaPut,
} as const satisfies WriteCommandSpec;

export function metaPutArgs(records: readonly (readonly [string, string])[]): Buffer[] {
  return [Buffer.from(META_PUT_COMMAND), ...records.flatMap(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'utf8')])];
}
