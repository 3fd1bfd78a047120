import type { Reply } from '../resp/reply.js';
import type { Keyspace } from '../state/keyspace.js';

/**
 * One command of the command table: metadata as data (as redis/src/commands/*.json), plus the
 * functions of its family. The gateway routes by `kind`:
 *
 *   write:      prepare(args, now) on the node that received it ─▶ Raft ─▶ apply(ks, args, entryTime) on every node
 *   read:       ReadIndex barrier ─▶ read(ks, args, now) on the serving node
 *   connection: handled by the gateway with the connection's context (PING, HELLO, CLIENT, ...)
 */
export type CommandKind = 'write' | 'read' | 'connection';

/** Redis's command flags, lower-case, as COMMAND INFO prints them. */
export type CommandFlag =
  | 'write'
  | 'readonly'
  | 'denyoom'
  | 'admin'
  | 'pubsub'
  | 'noscript'
  | 'random'
  | 'blocking'
  | 'loading'
  | 'stale'
  | 'skip_monitor'
  | 'skip_slowlog'
  | 'fast'
  | 'no_auth'
  | 'may_replicate'
  | 'no_mandatory_keys'
  | 'no_multi'
  | 'allow_busy';

export interface CommandSpecBase {
  /** Lower-case name, e.g. `set`. Subcommands (CLIENT SETNAME) live inside their container. */
  readonly name: string;
  /** Redis arity: N means exactly N arguments including the name; -N means at least N. */
  readonly arity: number;
  readonly flags: readonly CommandFlag[];
  /** Key positions as COMMAND INFO reports them (1-based; lastKey -1 = up to the end). */
  readonly firstKey: number;
  readonly lastKey: number;
  readonly keyStep: number;
  /** ACL categories without the '@', e.g. `string`, `keyspace`, `read`, `write`, `fast`. */
  readonly categories: readonly string[];
  /** One line for COMMAND DOCS. */
  readonly summary: string;
  readonly since: string;
  readonly group: string;
  readonly complexity: string;
  /** Command tips as COMMAND INFO prints them (`nondeterministic_output`, `request_policy:...`). */
  readonly tips?: readonly string[];
  /** Redis 7 key specifications, in COMMAND INFO order; absent or empty for keyless commands. */
  readonly keySpecs?: readonly KeySpec[];
  /** COMMAND DOCS `history`: [version, what changed]. */
  readonly history?: readonly (readonly [string, string])[];
  /** COMMAND DOCS `doc_flags` (e.g. `deprecated`), with `deprecated_since` and `replaced_by`. */
  readonly docFlags?: readonly string[];
  readonly deprecatedSince?: string;
  readonly replacedBy?: string;
}

/** Key-spec flags, as COMMAND INFO prints them. */
export type KeySpecFlag =
  | 'RO'
  | 'RW'
  | 'OW'
  | 'RM'
  | 'access'
  | 'update'
  | 'insert'
  | 'delete'
  | 'not_key'
  | 'incomplete'
  | 'variable_flags';

/** One Redis 7 key specification: where the search for keys begins, and how keys are found. */
export interface KeySpec {
  readonly notes?: string;
  readonly flags: readonly KeySpecFlag[];
  readonly beginSearch:
    | { readonly type: 'index'; readonly index: number }
    | { readonly type: 'keyword'; readonly keyword: string; readonly startFrom: number };
  readonly findKeys:
    | { readonly type: 'range'; readonly lastKey: number; readonly keyStep: number; readonly limit: number }
    | { readonly type: 'keynum'; readonly keyNumIdx: number; readonly firstKey: number; readonly keyStep: number };
}

export interface WriteCommandSpec extends CommandSpecBase {
  readonly kind: 'write';
  /**
   * Runs on the node that received the command, before proposing: validates the arguments
   * (returning the error reply Redis would give, with nothing proposed) and rewrites anything
   * relative to now into absolute form (EX 10 ─▶ PXAT now+10000), so that apply is deterministic.
   * `args[0]` is the command name as the client sent it.
   *
   * The result is a complete command whose `args[0]` names a command that applies it (SETEX and
   * `SET ... EX` become `SET ... PXAT`, EXPIRE becomes PEXPIREAT); this spec's own `apply` accepts
   * it too, so the gateway may log either the name or the spec. The returned array may be `args`
   * itself when nothing needs rewriting: never mutate it.
   */
  prepare(args: readonly Buffer[], nowMs: number): readonly Buffer[] | Reply;
  /**
   * Applies the prepared command on every replica. Deterministic: depends only on the keyspace,
   * the arguments and `entryTimeMs` (the leader's clock stamped on the entry). Errors that depend
   * on state (WRONGTYPE, not an integer) are returned as replies, never thrown.
   */
  apply(ks: Keyspace, args: readonly Buffer[], entryTimeMs: number): Reply;
}

export interface ReadCommandSpec extends CommandSpecBase {
  readonly kind: 'read';
  /** Validates the arguments before the read barrier: an error reply, or null when valid. */
  validate(args: readonly Buffer[]): Reply | null;
  /** Reads the local state once the barrier passed; `nowMs` hides expired keys. */
  read(ks: Keyspace, args: readonly Buffer[], nowMs: number, random: () => number): Reply;
}

export interface ConnectionCommandSpec extends CommandSpecBase {
  readonly kind: 'connection';
}

export type CommandSpec = WriteCommandSpec | ReadCommandSpec | ConnectionCommandSpec;
