import { integer, type Reply } from '../../resp/reply.js';
import { KEY_MISSING, NO_EXPIRY, type Keyspace } from '../../state/keyspace.js';
import type { ReadCommandSpec } from '../command_spec.js';
import { keyAt, oneKey } from '../key_specs.js';
import { minusOne, minusTwo } from '../replies.js';

/**
 * TTL, PTTL, EXPIRETIME, PEXPIRETIME: one worker (ttlGenericCommand). -2 for a missing key, -1
 * for a key without TTL; seconds are rounded to the nearest ((ms + 500) / 1000, as Redis).
 */
function readTtl(ks: Keyspace, key: Buffer, nowMs: number, inMs: boolean, absolute: boolean): Reply {
  const expireAt = ks.expireAtOf(key, nowMs);
  if (expireAt === KEY_MISSING) return minusTwo;
  if (expireAt === NO_EXPIRY) return minusOne;
  const ms = Math.max(absolute ? expireAt : expireAt - nowMs, 0);
  return integer(inMs ? ms : Math.floor((ms + 500) / 1000));
}

const ttlMetadata = {
  kind: 'read',
  arity: 2,
  flags: ['readonly', 'fast'],
  ...oneKey,
  categories: ['keyspace', 'read', 'fast'],
  group: 'generic',
  complexity: 'O(1)',
  keySpecs: [keyAt(1, ['RO', 'access'])],
  validate: () => null,
} as const;

export const ttl = {
  ...ttlMetadata,
  name: 'ttl',
  summary: 'Get the time to live for a key in seconds',
  since: '1.0.0',
  tips: ['nondeterministic_output'],
  history: [['2.8.0', 'Added the -2 reply.']],
  read: (ks: Keyspace, args: readonly Buffer[], nowMs: number) => readTtl(ks, args[1]!, nowMs, false, false),
} as const satisfies ReadCommandSpec;

export const pttl = {
  ...ttlMetadata,
  name: 'pttl',
  summary: 'Get the time to live for a key in milliseconds',
  since: '2.6.0',
  tips: ['nondeterministic_output'],
  history: [['2.8.0', 'Added the -2 reply.']],
  read: (ks: Keyspace, args: readonly Buffer[], nowMs: number) => readTtl(ks, args[1]!, nowMs, true, false),
} as const satisfies ReadCommandSpec;

export const expiretime = {
  ...ttlMetadata,
  name: 'expiretime',
  summary: 'Get the expiration Unix timestamp for a key',
  since: '7.0.0',
  read: (ks: Keyspace, args: readonly Buffer[], nowMs: number) => readTtl(ks, args[1]!, nowMs, false, true),
} as const satisfies ReadCommandSpec;

export const pexpiretime = {
  ...ttlMetadata,
  name: 'pexpiretime',
  summary: 'Get the expiration Unix timestamp for a key in milliseconds',
  since: '7.0.0',
  read: (ks: Keyspace, args: readonly Buffer[], nowMs: number) => readTtl(ks, args[1]!, nowMs, true, true),
} as const satisfies ReadCommandSpec;
