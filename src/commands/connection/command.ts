import type { CommandSpec } from '../command_spec.js';
import type { ConnectionContext } from '../connection_context.js';
import { array, integer, map, nullReply, bulk, type Reply } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand, type DocumentedSpec } from './command_docs.js';
import { commandDocsReply, commandInfoReply } from './command_reply.js';
import { commandName } from './command_errors.js';
import { containerCommand, helpReply } from './container.js';

/**
 * COMMAND [COUNT | INFO [name ...] | DOCS [name ...] | HELP], over ServerContext.commandTable().
 * Bare COMMAND and INFO/DOCS without names describe every command; a name may be
 * `container|subcommand`. INFO answers null for an unknown name; DOCS leaves it out.
 */

const base = {
  kind: 'connection',
  flags: ['loading', 'stale'],
  ...noKeys,
  categories: ['slow', 'connection'],
  group: 'server',
} as const;

/** A spec by name as Redis's lookupCommandBySds: case-insensitive, `a|b` for a subcommand. */
function findSpec(table: readonly CommandSpec[], arg: Buffer): DocumentedSpec | undefined {
  const [name, sub, ...rest] = commandName(arg).split('|');
  if (rest.length > 0) return undefined;
  const command = table.find((spec) => spec.name === name) as DocumentedSpec | undefined;
  if (sub === undefined) return command;
  return command?.subcommands?.find((spec) => spec.name === `${name}|${sub}`);
}

function allInfo(ctx: ConnectionContext): Reply {
  return array(ctx.server.commandTable().map(commandInfoReply));
}

const namesArgument = [{ name: 'command-name', type: 'string', flags: ['optional', 'multiple'] }] as const;

const count: ConnectionCommand = {
  spec: {
    ...base,
    name: 'command|count',
    arity: 2,
    summary: 'Get total number of Redis commands',
    since: '2.8.13',
    complexity: 'O(1)',
  },
  handler: (ctx) => integer(ctx.server.commandTable().length),
};

const info: ConnectionCommand = {
  spec: {
    ...base,
    name: 'command|info',
    arity: -2,
    summary: 'Get array of specific Redis command details, or all when no argument is given.',
    since: '2.8.13',
    complexity: 'O(N) where N is the number of commands to look up',
    tips: ['nondeterministic_output_order'],
    history: [['7.0.0', 'Allowed to be called with no argument to get info on all commands.']],
    arguments: namesArgument,
  },
  handler: (ctx, args) => {
    if (args.length === 2) return allInfo(ctx);
    const table = ctx.server.commandTable();
    return array(
      args.slice(2).map((arg) => {
        const spec = findSpec(table, arg);
        return spec === undefined ? nullReply : commandInfoReply(spec);
      }),
    );
  },
};

const docs: ConnectionCommand = {
  spec: {
    ...base,
    name: 'command|docs',
    arity: -2,
    summary: 'Get array of specific Redis command documentation',
    since: '7.0.0',
    complexity: 'O(N) where N is the number of commands to look up',
    tips: ['nondeterministic_output_order'],
    arguments: namesArgument,
  },
  handler: (ctx, args) => {
    const table = ctx.server.commandTable() as readonly DocumentedSpec[];
    const specs =
      args.length === 2
        ? table
        : args.slice(2).flatMap((arg) => {
            const spec = findSpec(table, arg);
            return spec === undefined ? [] : [spec];
          });
    return map(specs.map((spec) => [bulk(spec.name), commandDocsReply(spec)] as const));
  },
};

const help: ConnectionCommand = {
  spec: {
    ...base,
    name: 'command|help',
    arity: 2,
    summary: 'Show helpful text about the different subcommands',
    since: '5.0.0',
    complexity: 'O(1)',
  },
  handler: (_ctx, args) =>
    helpReply(args, [
      '(no subcommand)',
      '    Return details about all Redis commands.',
      'COUNT',
      '    Return the total number of commands in this Redis server.',
      'INFO [<command-name> ...]',
      '    Return details about multiple Redis commands.',
      '    If no command names are given, documentation details for all',
      '    commands are returned.',
      'DOCS [<command-name> ...]',
      '    Return documentation details about multiple Redis commands.',
      '    If no command names are given, documentation details for all',
      '    commands are returned.',
    ]),
};

const container = containerCommand(
  {
    ...base,
    name: 'command',
    arity: -1,
    summary: 'Get array of Redis command details',
    since: '2.8.13',
    complexity: 'O(N) where N is the total number of Redis commands',
    tips: ['nondeterministic_output_order'],
  },
  [info, count, docs, help],
);

export const command: ConnectionCommand = {
  spec: container.spec,
  // Bare COMMAND (arity -1 allows it) lists every command; anything else is a subcommand.
  handler: (ctx, args) => (args.length === 1 ? allInfo(ctx) : container.handler(ctx, args)),
};
