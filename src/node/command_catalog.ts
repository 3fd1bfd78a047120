import type { CommandSpec, ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import type { Keyspace } from '../state/keyspace.js';
import type { CommandResolution } from './command_classifier.js';

/**
 * The command table and the keyspace operations the node uses, as one object (catalog.ts builds
 * it from src/commands and src/state), so that the host and its replicas are wired to one table.
 */
export interface CommandCatalog {
  /** Redis's unknown-command / unknown-subcommand and arity checks, then the spec to run. */
  resolve(args: readonly Buffer[]): CommandResolution;
  /** Every replicated command, the internal ones included (what apply may meet in the log). */
  resolveWrite(lowerCaseName: string): WriteCommandSpec | undefined;
  /** A public read command (what another node may send to be read here). */
  resolveRead(lowerCaseName: string): ReadCommandSpec | undefined;
  /** What COMMAND lists: the public commands. */
  publicTable(): readonly CommandSpec[];
  /** The internal command the leader's active expiry proposes: args are keys. */
  readonly expireKeysCommand: string;
  newKeyspace(): Keyspace;
  /** Keys with a TTL, sampled at random (for active expiry). */
  sampleKeysWithTtl(ks: Keyspace, count: number, random: () => number): Buffer[];
  isExpired(ks: Keyspace, key: Buffer, nowMs: number): boolean;
  keysWithTtl(ks: Keyspace): number;
  usedMemoryBytes(ks: Keyspace): number;
}
