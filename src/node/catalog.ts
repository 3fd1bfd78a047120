import type { CommandSpec, ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import { commandTable, lookupCommand, lookupInternalCommand } from '../commands/command_table.js';
import { EXPIRE_KEYS_COMMAND } from '../commands/internal/expire_keys.js';
import { connectionCommands, resolveCommand } from '../commands/connection/registry.js';
import { KEY_MISSING, Keyspace } from '../state/keyspace.js';
import type { CommandResolution } from './command_classifier.js';
import type { CommandCatalog } from './command_catalog.js';

/** Every public command by lower-case name: the connection commands and the keyspace commands. */
function lookupPublic(lowerCaseName: string): CommandSpec | undefined {
  return connectionCommands.get(lowerCaseName)?.spec ?? lookupCommand(lowerCaseName);
}

const publicTable: readonly CommandSpec[] = [...[...connectionCommands.values()].map((c) => c.spec), ...commandTable];

/** The command table and keyspace operations the server uses, from src/commands and src/state. */
export const commandCatalog: CommandCatalog = {
  resolve(args: readonly Buffer[]): CommandResolution {
    const r = resolveCommand(lookupPublic, args);
    if (!r.ok) return r;
    const connection = r.command.kind === 'connection' ? connectionCommands.get(r.command.name) : undefined;
    // Containers (CLIENT) run through their top-level handler, which dispatches subcommands.
    return connection
      ? { ok: true, spec: r.command, fullName: r.fullName, handler: connection.handler }
      : { ok: true, spec: r.spec, fullName: r.fullName };
  },
  resolveWrite(lowerCaseName: string): WriteCommandSpec | undefined {
    const spec = lookupCommand(lowerCaseName);
    if (spec?.kind === 'write') return spec;
    return lookupInternalCommand(lowerCaseName);
  },
  resolveRead(lowerCaseName: string): ReadCommandSpec | undefined {
    const spec = lookupCommand(lowerCaseName);
    return spec?.kind === 'read' ? spec : undefined;
  },
  publicTable: () => publicTable,
  expireKeysCommand: EXPIRE_KEYS_COMMAND,
  newKeyspace: () => new Keyspace(),
  sampleKeysWithTtl: (ks, count, random) => ks.sampleKeysWithTtl(count, random),
  // A sampled key that is no longer live at `now` has expired (it existed when sampled).
  isExpired: (ks, key, nowMs) => ks.expireAtOf(key, nowMs) === KEY_MISSING,
  keysWithTtl: (ks) => ks.countWithTtl,
  usedMemoryBytes: (ks) => ks.usedMemoryBytes,
};
