import { integer, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { asIs } from '../arguments.js';
import type { WriteCommandSpec } from '../command_spec.js';
import { everyArgumentIsAKey, keyRange } from '../key_specs.js';

/**
 * `qkv.expire-keys key [key ...]`: the leader's active-expiry cycle, replicated ('Leader-decided
 * expiry' in docs/design.md). The leader samples keys with a TTL (Keyspace.sampleKeysWithTtl), and proposes
 * this for those it sees expired; each replica deletes a key only if it has expired at the
 * entry's time, so a key whose TTL was extended or removed in between survives. Replies with
 * the number of keys deleted.
 *
 * Internal: not in the public command table, never listed by COMMAND, not callable by clients
 * (the gateway resolves client commands through the public table only).
 */
function applyExpireKeys(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply {
  let deleted = 0;
  for (let i = 1; i < args.length; i++) {
    if (ks.deleteIfExpired(args[i]!, entryTimeMs)) deleted++;
  }
  return integer(deleted);
}

export const EXPIRE_KEYS_COMMAND = 'qkv.expire-keys';

export const expireKeys = {
  name: EXPIRE_KEYS_COMMAND,
  kind: 'write',
  arity: -2,
  flags: ['write', 'fast'],
  ...everyArgumentIsAKey,
  categories: ['keyspace', 'write', 'fast'],
  summary: 'Delete the given keys that have expired at the entry time (internal: active expiry)',
  since: '0.1.0',
  group: 'generic',
  complexity: 'O(N) where N is the number of keys.',
  keySpecs: [keyRange(1, -1, 1, ['RM', 'delete'])],
  prepare: asIs,
  apply: applyExpireKeys,
} as const satisfies WriteCommandSpec;

/** The arguments of the expiry proposal for `keys` (the leader's active-expiry cycle). */
export function expireKeysArgs(keys: readonly Buffer[]): Buffer[] {
  return [Buffer.from(EXPIRE_KEYS_COMMAND), ...keys];
}
