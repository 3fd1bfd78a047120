import type { ConnectionCommandSpec } from '../command_spec.js';
import type { ConnectionHandler } from '../connection_context.js';
import { array, simple, type Reply } from '../../resp/reply.js';
import type { CommandDocs, ConnectionCommand } from './command_docs.js';
import { cString } from '../arguments.js';
import { checkArity } from '../command_table.js';
import { wrongArity } from '../replies.js';
import { asciiUpper, commandName, unknownSubcommandError } from './command_errors.js';

/**
 * A container command (CLIENT, COMMAND): its spec lists the subcommands' specs, and its
 * handler dispatches on the second argument. The handler checks existence and arity again, so
 * that it is safe however it is called; through resolveCommand those checks never fail here.
 */
export function containerCommand(
  spec: Omit<ConnectionCommandSpec & CommandDocs, 'subcommands'>,
  subcommands: readonly ConnectionCommand[],
): ConnectionCommand {
  const byName = new Map(subcommands.map((sub) => [sub.spec.name.slice(spec.name.length + 1), sub]));
  const handler: ConnectionHandler = (ctx, args) => {
    if (args.length < 2) return wrongArity(spec.name);
    const sub = byName.get(commandName(args[1]!));
    if (sub === undefined) return unknownSubcommandError(args);
    return checkArity(sub.spec, args.length) ?? sub.handler(ctx, args);
  };
  return { spec: { ...spec, subcommands: subcommands.map((sub) => sub.spec) }, handler };
}

/**
 * Redis's addReplyHelp: a header naming the command as typed (upper-cased), the given lines,
 * then HELP, all as simple strings.
 */
export function helpReply(args: readonly Buffer[], lines: readonly string[]): Reply {
  return array(
    [
      `${asciiUpper(cString(args[0]!))} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
      ...lines,
      'HELP',
      '    Prints this help.',
    ].map(simple),
  );
}
