import { integer, ok, type Reply } from '../../resp/reply.js';
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

/**
 * `qkv.meta-next NAME`: increments the meta group's counter NAME and replies with its new value:
 * how a new group gets an id no other group ever had, whoever asks at the same moment.
 */
function applyMetaNext(ks: Keyspace, args: readonly Buffer[]): Reply {
  const name = args[1]!;
  const current = ks.get(name, 0);
  const next = (current === undefined ? 0 : Number(current.value.toString('latin1'))) + 1;
  ks.set(name, { type: 'string', value: Buffer.from(String(next), 'latin1') });
  return integer(next);
}

export const META_NEXT_COMMAND = 'qkv.meta-next';

export const metaNext = {
  name: META_NEXT_COMMAND,
  kind: 'write',
  arity: 2,
  flags: ['write', 'admin'],
  ...noKeys,
  categories: ['admin', 'write'],
  summary: 'Increment a counter of the meta group and return it (internal: new group ids)',
  since: '0.2.0',
  group: 'cluster',
  complexity: 'O(1)',
  keySpecs: [],
  prepare: asIs,
  apply: applyMetaNext,
} as const satisfies WriteCommandSpec;

export function metaNextArgs(name: string): Buffer[] {
  return [Buffer.from(META_NEXT_COMMAND), Buffer.from(name, 'latin1')];
}
