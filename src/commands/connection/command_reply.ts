import type { CommandFlag, CommandSpec, KeySpec } from '../command_spec.js';
import { keyRange } from '../key_specs.js';
import { array, bulk, integer, map, set, simple, type Reply } from '../../resp/reply.js';
import type { ArgumentDoc, DocumentedSpec } from './command_docs.js';

/**
 * COMMAND INFO and COMMAND DOCS entries for any spec, in Redis 7.0's shapes
 * (addReplyCommandInfo, addReplyCommandDocs in server.c):
 *
 *   INFO  [name, arity, ~flags, first, last, step, ~@categories, ~tips, ~key specs, subcommands]
 *   DOCS  {summary, since, group, complexity, doc_flags, deprecated_since, replaced_by,
 *          ~history, arguments, subcommands}
 *
 * (~ is a set in RESP3 and an array in RESP2; subcommands are an array of INFO entries, a map
 * of DOCS entries, and an empty set when there are none.)
 */
export function commandInfoReply(spec: DocumentedSpec): Reply {
  return array([
    bulk(spec.name),
    integer(spec.arity),
    set(printedFlags(spec.flags).map(simple)),
    integer(spec.firstKey),
    integer(spec.lastKey),
    integer(spec.keyStep),
    set(ordered(spec.categories, ACL_CATEGORY_ORDER).map((category) => simple(`@${category}`))),
    set(tips(spec).map(bulk)),
    set(keySpecs(spec).map(keySpecReply)),
    spec.subcommands === undefined ? set([]) : array(spec.subcommands.map(commandInfoReply)),
  ]);
}

export function commandDocsReply(spec: DocumentedSpec): Reply {
  const fields: [string, Reply][] = [];
  if (spec.summary) fields.push(['summary', bulk(spec.summary)]);
  if (spec.since) fields.push(['since', bulk(spec.since)]);
  fields.push(['group', bulk(spec.group)]);
  if (spec.complexity) fields.push(['complexity', bulk(spec.complexity)]);
  if (spec.docFlags?.length) fields.push(['doc_flags', set(spec.docFlags.map(simple))]);
  if (spec.deprecatedSince) fields.push(['deprecated_since', bulk(spec.deprecatedSince)]);
  if (spec.replacedBy) fields.push(['replaced_by', bulk(spec.replacedBy)]);
  if (spec.history?.length) {
    fields.push(['history', set(spec.history.map(([version, change]) => array([bulk(version), bulk(change)])))]);
  }
  if (spec.arguments?.length) fields.push(['arguments', argumentsReply(spec.arguments)]);
  if (spec.subcommands !== undefined) {
    fields.push(['subcommands', map(spec.subcommands.map((sub) => [bulk(sub.name), commandDocsReply(sub)] as const))]);
  }
  return fieldMap(fields);
}

function argumentsReply(args: readonly ArgumentDoc[]): Reply {
  return array(
    args.map((arg) => {
      const fields: [string, Reply][] = [
        ['name', bulk(arg.name)],
        ['type', bulk(arg.type)],
      ];
      if (arg.keySpecIndex !== undefined) fields.push(['key_spec_index', integer(arg.keySpecIndex)]);
      if (arg.token !== undefined) fields.push(['token', bulk(arg.token)]);
      if (arg.summary !== undefined) fields.push(['summary', bulk(arg.summary)]);
      if (arg.since !== undefined) fields.push(['since', bulk(arg.since)]);
      if (arg.deprecatedSince !== undefined) fields.push(['deprecated_since', bulk(arg.deprecatedSince)]);
      if (arg.flags?.length) fields.push(['flags', set(arg.flags.map(simple))]);
      if (arg.type === 'oneof' || arg.type === 'block') fields.push(['arguments', argumentsReply(arg.arguments ?? [])]);
      return fieldMap(fields);
    }),
  );
}

function fieldMap(fields: readonly (readonly [string, Reply])[]): Reply {
  return map(fields.map(([name, value]) => [bulk(name), value] as const));
}

/**
 * Flags in the order Redis prints them. `may_replicate` is hidden by Redis on purpose, and
 * `random` is no flag in 7.0 (it became the `nondeterministic_output` tip).
 */
const FLAG_ORDER: readonly string[] = [
  'write',
  'readonly',
  'denyoom',
  'module',
  'admin',
  'pubsub',
  'noscript',
  'blocking',
  'loading',
  'stale',
  'skip_monitor',
  'skip_slowlog',
  'asking',
  'fast',
  'no_auth',
  'no_mandatory_keys',
  'no_async_loading',
  'no_multi',
  'movablekeys',
  'allow_busy',
];

function printedFlags(flags: readonly CommandFlag[]): string[] {
  return ordered(
    flags.filter((flag) => FLAG_ORDER.includes(flag)),
    FLAG_ORDER,
  );
}

function tips(spec: DocumentedSpec): readonly string[] {
  if (spec.tips !== undefined) return spec.tips;
  return spec.flags.includes('random') ? ['nondeterministic_output'] : [];
}

/** ACL categories in the order of Redis's category bits (acl.c), which is how it prints them. */
const ACL_CATEGORY_ORDER: readonly string[] = [
  'keyspace',
  'read',
  'write',
  'set',
  'sortedset',
  'list',
  'hash',
  'string',
  'bitmap',
  'hyperloglog',
  'geo',
  'stream',
  'pubsub',
  'admin',
  'fast',
  'slow',
  'blocking',
  'dangerous',
  'connection',
  'transaction',
  'scripting',
];

/** names sorted by their place in `order`; names not in it keep their order, after the others. */
function ordered(names: readonly string[], order: readonly string[]): string[] {
  const rank = (name: string): number => {
    const index = order.indexOf(name);
    return index < 0 ? order.length : index;
  };
  return [...names].sort((a, b) => rank(a) - rank(b));
}

/**
 * The spec's key specs; for a spec without them, one derived from the legacy (first, last,
 * step) range: begin at index `first`, then a range whose `lastkey` is relative to it (-1: to
 * the end), with the coarse access flags that the write/readonly flag implies.
 */
function keySpecs(spec: CommandSpec): readonly KeySpec[] {
  if (spec.keySpecs !== undefined) return spec.keySpecs;
  if (spec.firstKey <= 0) return [];
  const lastKey = spec.lastKey >= 0 ? spec.lastKey - spec.firstKey : spec.lastKey;
  return [keyRange(spec.firstKey, lastKey, spec.keyStep, spec.flags.includes('write') ? ['RW'] : ['RO', 'access'])];
}

/** addReplyCommandKeySpecs: [notes], flags, begin_search {type, spec}, find_keys {type, spec}. */
function keySpecReply(keySpec: KeySpec): Reply {
  const { beginSearch, findKeys } = keySpec;
  const begin =
    beginSearch.type === 'index'
      ? fieldMap([['index', integer(beginSearch.index)]])
      : fieldMap([
          ['keyword', bulk(beginSearch.keyword)],
          ['startfrom', integer(beginSearch.startFrom)],
        ]);
  const find =
    findKeys.type === 'range'
      ? fieldMap([
          ['lastkey', integer(findKeys.lastKey)],
          ['keystep', integer(findKeys.keyStep)],
          ['limit', integer(findKeys.limit)],
        ])
      : fieldMap([
          ['keynumidx', integer(findKeys.keyNumIdx)],
          ['firstkey', integer(findKeys.firstKey)],
          ['keystep', integer(findKeys.keyStep)],
        ]);
  const fields: [string, Reply][] = [];
  if (keySpec.notes !== undefined) fields.push(['notes', bulk(keySpec.notes)]);
  fields.push(
    ['flags', set(keySpec.flags.map(simple))],
    ['begin_search', fieldMap([['type', bulk(beginSearch.type)], ['spec', begin]])],
    ['find_keys', fieldMap([['type', bulk(findKeys.type)], ['spec', find]])],
  );
  return fieldMap(fields);
}
