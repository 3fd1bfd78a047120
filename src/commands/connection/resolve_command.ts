import type { CommandSpec } from '../command_spec.js';
import type { Reply } from '../../resp/reply.js';
import type { DocumentedSpec } from './command_docs.js';
import { checkArity } from '../command_table.js';
import { commandName, unknownCommandError, unknownSubcommandError } from './command_errors.js';

export type CommandResolution =
  | {
      readonly ok: true;
      /** The spec that runs: the subcommand's for a container with a known subcommand. */
      readonly spec: CommandSpec;
      /** The top-level command, for routing by family. */
      readonly command: CommandSpec;
      /** Redis's fullname (`get`, `client|setname`): what CLIENT LIST shows as cmd=. */
      readonly fullName: string;
    }
  | { readonly ok: false; readonly reply: Reply };

/**
 * The first two checks of Redis 7.0's processCommand, for any command table: does the command
 * exist (else `unknown command`, or `unknown subcommand` for a container such as CLIENT), and
 * does it get the number of arguments its arity allows (else `wrong number of arguments`,
 * naming the subcommand as `client|setname`). Names are matched without ASCII case.
 *
 * A container is a spec with `subcommands` (see CommandDocs); called with no subcommand it is
 * checked against its own arity, as Redis does (`CLIENT` alone: `... for 'client' command`).
 */
export function resolveCommand(
  lookup: (lowerCaseName: string) => CommandSpec | undefined,
  args: readonly Buffer[],
): CommandResolution {
  const command = lookup(commandName(args[0]!));
  if (command === undefined) return { ok: false, reply: unknownCommandError(args) };

  let spec: CommandSpec = command;
  const subcommands = (command as DocumentedSpec).subcommands;
  if (subcommands !== undefined && args.length >= 2) {
    const wanted = `${command.name}|${commandName(args[1]!)}`;
    const subcommand = subcommands.find((candidate) => candidate.name === wanted);
    if (subcommand === undefined) return { ok: false, reply: unknownSubcommandError(args) };
    spec = subcommand;
  }
  const arityError = checkArity(spec, args.length);
  if (arityError !== null) return { ok: false, reply: arityError };
  return { ok: true, spec, command, fullName: spec.name };
}

/** A lookup over a list of specs, for resolveCommand. */
export function commandLookup(specs: readonly CommandSpec[]): (lowerCaseName: string) => CommandSpec | undefined {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  return (name) => byName.get(name);
}
