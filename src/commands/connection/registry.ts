import { checkArity } from '../command_table.js';
import type { ConnectionCommand } from './command_docs.js';
import { client } from './client.js';
import { asking, cluster, readonly, readwrite } from './cluster.js';
import { command } from './command.js';
import { echo } from './echo.js';
import { hello } from './hello.js';
import { info } from './info.js';
import { ping } from './ping.js';
import { quit } from './quit.js';
import { select } from './select.js';
import { time } from './time.js';

/**
 * The connection commands by lower-case name. The gateway runs one as:
 *
 *   resolveCommand(lookup, args)       unknown command / subcommand, arity (Redis's first checks)
 *   client.lastCommand = fullName      so that CLIENT LIST/INFO show cmd=client|list as Redis does
 *   reply = handler(ctx, args)         checks arity again, so never throws for any arguments
 *   write reply; close if client.closeAfterReply (QUIT, CLIENT KILL of itself)
 *
 * and puts their specs in ServerContext.commandTable(), which COMMAND describes.
 */
export const connectionCommands: ReadonlyMap<string, ConnectionCommand> = new Map(
  [ping, echo, select, quit, hello, client, command, info, time, cluster, readonly, readwrite, asking].map(({ spec, handler }) => [
    spec.name,
    { spec, handler: (ctx, args) => checkArity(spec, args.length) ?? handler(ctx, args) },
  ]),
);

export type { ArgumentDoc, CommandDocs, ConnectionCommand, DocumentedSpec } from './command_docs.js';
export { resolveCommand, commandLookup, type CommandResolution } from './resolve_command.js';
export { unknownCommandError, unknownSubcommandError } from './command_errors.js';
