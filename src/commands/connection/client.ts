import type { ConnectionCommandSpec } from '../command_spec.js';
import type { ClientState, ConnectionContext } from '../connection_context.js';
import { bulk, error, integer, nullReply, ok, verbatim, type Reply } from '../../resp/reply.js';
import { noKeys, type ArgumentDoc, type CommandDocs, type ConnectionCommand } from './command_docs.js';
import { cString, parseInteger } from '../arguments.js';
import { syntaxError } from '../replies.js';
import { optionName } from './command_errors.js';
import { clientInfoLine, setClientName } from './client_info.js';
import { containerCommand, helpReply } from './container.js';

/**
 * CLIENT ID | GETNAME | SETNAME | INFO | LIST | KILL | HELP, as Redis 7.0's clientCommand.
 * The other subcommands (PAUSE, REPLY, TRACKING, NO-EVICT, ...) are not offered: they answer
 * `unknown subcommand`, and COMMAND does not list them.
 */

type Spec = ConnectionCommandSpec & CommandDocs;

/** What CLIENT's subcommands share in metadata, as Redis's commands/client-*.json. */
function subcommandSpec(spec: Pick<Spec, 'name' | 'arity' | 'summary' | 'since'> & Partial<Spec>): Spec {
  return {
    kind: 'connection',
    flags: ['noscript', 'loading', 'stale'],
    ...noKeys,
    categories: ['slow', 'connection'],
    group: 'connection',
    complexity: 'O(1)',
    ...spec,
  };
}

const adminFlags = { flags: ['admin', 'noscript', 'loading', 'stale'], categories: ['admin', 'slow', 'dangerous', 'connection'] } as const;

const id: ConnectionCommand = {
  spec: subcommandSpec({ name: 'client|id', arity: 2, summary: 'Returns the client ID for the current connection', since: '5.0.0' }),
  handler: (ctx) => integer(ctx.client.id),
};

const getname: ConnectionCommand = {
  spec: subcommandSpec({ name: 'client|getname', arity: 2, summary: 'Get the current connection name', since: '2.6.9' }),
  handler: (ctx) => (ctx.client.name === '' ? nullReply : bulk(Buffer.from(ctx.client.name, 'latin1'))),
};

const setname: ConnectionCommand = {
  spec: subcommandSpec({
    name: 'client|setname',
    arity: 3,
    summary: 'Set the current connection name',
    since: '2.6.9',
    arguments: [{ name: 'connection-name', type: 'string' }],
  }),
  handler: (ctx, args) => setClientName(ctx.client, args[2]!) ?? ok,
};

const info: ConnectionCommand = {
  spec: subcommandSpec({
    name: 'client|info',
    arity: 2,
    summary: 'Returns information about the current client connection.',
    since: '6.2.0',
    tips: ['nondeterministic_output'],
  }),
  handler: (ctx) => verbatim(`${clientInfoLine(ctx.client, ctx.server.nowMs())}\n`),
};

const clientTypeNames: readonly string[] = ['normal', 'master', 'slave', 'replica', 'pubsub'];
const pureToken = (name: string, since?: string): ArgumentDoc => ({
  name,
  type: 'pure-token',
  token: name.toUpperCase(),
  ...(since === undefined ? {} : { since }),
});

/**
 * The client type Redis's getClientTypeByName names, or null for an unknown name. Every
 * quorumkv client is `normal`: there are no replicas or pub/sub clients on the RESP port.
 */
function clientTypeMatches(arg: Buffer): boolean | null {
  const name = optionName(arg);
  if (!clientTypeNames.includes(name)) return null;
  return name === 'normal';
}

const list: ConnectionCommand = {
  spec: subcommandSpec({
    name: 'client|list',
    arity: -2,
    ...adminFlags,
    summary: 'Get the list of client connections',
    since: '2.4.0',
    complexity: 'O(N) where N is the number of client connections',
    tips: ['nondeterministic_output'],
    history: [
      ['2.8.12', 'Added unique client `id` field.'],
      ['5.0.0', 'Added optional `TYPE` filter.'],
      ['6.0.0', 'Added `user` field.'],
      ['6.2.0', 'Added `argv-mem`, `tot-mem`, `laddr` and `redir` fields and the optional `ID` filter.'],
      ['7.0.0', 'Added `resp`, `multi-mem`, `rbs` and `rbp` fields.'],
      ['7.0.3', 'Added `ssub` field.'],
    ],
    arguments: [
      {
        name: 'normal_master_replica_pubsub',
        type: 'oneof',
        token: 'TYPE',
        since: '5.0.0',
        flags: ['optional'],
        arguments: [pureToken('normal'), pureToken('master'), pureToken('replica'), pureToken('pubsub')],
      },
      {
        name: 'id',
        type: 'block',
        token: 'ID',
        since: '6.2.0',
        flags: ['optional'],
        arguments: [{ name: 'client-id', type: 'integer', flags: ['multiple'] }],
      },
    ],
  }),
  handler: (ctx, args) => {
    const now = ctx.server.nowMs();
    let clients: readonly ClientState[];
    if (args.length === 4 && optionName(args[2]!) === 'type') {
      const matches = clientTypeMatches(args[3]!);
      if (matches === null) return error(`ERR Unknown client type '${cString(args[3]!)}'`);
      clients = matches ? ctx.server.clients() : [];
    } else if (args.length > 3 && optionName(args[2]!) === 'id') {
      const all = ctx.server.clients();
      const picked: ClientState[] = [];
      for (const arg of args.slice(3)) {
        const wanted = parseInteger(arg);
        if (wanted === null) return error('ERR Invalid client ID');
        const client = all.find((candidate) => candidate.id === wanted);
        if (client !== undefined) picked.push(client);
      }
      clients = picked;
    } else if (args.length !== 2) {
      return syntaxError;
    } else {
      clients = ctx.server.clients();
    }
    return verbatim(clients.map((client) => `${clientInfoLine(client, now)}\n`).join(''));
  },
};

const kill: ConnectionCommand = {
  spec: subcommandSpec({
    name: 'client|kill',
    arity: -3,
    ...adminFlags,
    summary: 'Kill the connection of a client',
    since: '2.4.0',
    complexity: 'O(N) where N is the number of client connections',
    history: [
      ['2.8.12', 'Added new filter format.'],
      ['2.8.12', '`ID` option.'],
      ['3.2.0', 'Added `master` type in for `TYPE` option.'],
      ['5.0.0', 'Replaced `slave` `TYPE` with `replica`. `slave` still supported for backward compatibility.'],
      ['6.2.0', '`LADDR` option.'],
    ],
    arguments: [
      {
        name: 'filter',
        type: 'oneof',
        arguments: [
          { name: 'ip:port', type: 'string', deprecatedSince: '2.8.12' },
          {
            name: 'new-format',
            type: 'oneof',
            flags: ['multiple'],
            arguments: [
              { name: 'client-id', type: 'integer', token: 'ID', since: '2.8.12', flags: ['optional'] },
              {
                name: 'normal_master_slave_pubsub',
                type: 'oneof',
                token: 'TYPE',
                since: '2.8.12',
                flags: ['optional'],
                arguments: [
                  pureToken('normal'),
                  pureToken('master', '3.2.0'),
                  pureToken('slave'),
                  pureToken('replica', '5.0.0'),
                  pureToken('pubsub'),
                ],
              },
              { name: 'username', type: 'string', token: 'USER', flags: ['optional'] },
              { name: 'ip:port', type: 'string', token: 'ADDR', flags: ['optional'] },
              { name: 'ip:port', type: 'string', token: 'LADDR', since: '6.2.0', flags: ['optional'] },
              { name: 'yes/no', type: 'string', token: 'SKIPME', flags: ['optional'] },
            ],
          },
        ],
      },
    ],
  }),
  handler: (ctx, args) => killClients(ctx, args),
};

interface KillFilter {
  id: number | null;
  addr: string | null;
  laddr: string | null;
  typeMatches: boolean;
  skipMe: boolean;
}

/**
 * CLIENT KILL addr (old form: +OK or `No such client`, and it may kill the caller) or
 * CLIENT KILL <filter> <value> ... (new form: the number killed; SKIPME yes by default).
 * The caller is never killed through the server: it gets closeAfterReply, so that it still
 * receives this reply, as in Redis.
 */
function killClients(ctx: ConnectionContext, args: readonly Buffer[]): Reply {
  const filter: KillFilter = { id: null, addr: null, laddr: null, typeMatches: true, skipMe: true };
  if (args.length === 3) {
    filter.addr = cString(args[2]!);
    filter.skipMe = false;
  } else if (args.length > 3 && args.length % 2 === 0) {
    for (let i = 2; i < args.length; i += 2) {
      const option = optionName(args[i]!);
      const value = args[i + 1]!;
      if (option === 'id') {
        const wanted = parseInteger(value);
        if (wanted === null || wanted < 1) return error('ERR client-id should be greater than 0');
        filter.id = wanted;
      } else if (option === 'type') {
        const matches = clientTypeMatches(value);
        if (matches === null) return error(`ERR Unknown client type '${cString(value)}'`);
        filter.typeMatches = matches;
      } else if (option === 'addr') {
        filter.addr = cString(value);
      } else if (option === 'laddr') {
        filter.laddr = cString(value);
      } else if (option === 'user') {
        if (cString(value) !== 'default') return error(`ERR No such user '${cString(value)}'`);
      } else if (option === 'skipme') {
        const answer = optionName(value);
        if (answer !== 'yes' && answer !== 'no') return syntaxError;
        filter.skipMe = answer === 'yes';
      } else {
        return syntaxError;
      }
    }
  } else {
    return syntaxError;
  }

  let killed = 0;
  for (const client of ctx.server.clients()) {
    if (!filter.typeMatches) break;
    if (filter.addr !== null && client.addr !== filter.addr) continue;
    if (filter.laddr !== null && client.laddr !== filter.laddr) continue;
    if (filter.id !== null && client.id !== filter.id) continue;
    if (client.id === ctx.client.id) {
      if (filter.skipMe) continue;
      ctx.client.closeAfterReply = true;
      killed++;
    } else if (ctx.server.killClient(client.id)) {
      killed++;
    }
  }
  if (args.length === 3) return killed === 0 ? error('ERR No such client') : ok;
  return integer(killed);
}

const help: ConnectionCommand = {
  spec: subcommandSpec({
    name: 'client|help',
    arity: 2,
    flags: ['loading', 'stale'],
    summary: 'Show helpful text about the different subcommands',
    since: '5.0.0',
  }),
  handler: (_ctx, args) =>
    helpReply(args, [
      'GETNAME',
      '    Return the name of the current connection.',
      'ID',
      '    Return the ID of the current connection.',
      'INFO',
      '    Return information about the current client connection.',
      'KILL <ip:port>',
      '    Kill connection made from <ip:port>.',
      'KILL <option> <value> [<option> <value> [...]]',
      '    Kill connections. Options are:',
      '    * ADDR (<ip:port>|<unixsocket>:0)',
      '      Kill connections made from the specified address',
      '    * LADDR (<ip:port>|<unixsocket>:0)',
      '      Kill connections made to specified local address',
      '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
      '      Kill connections by type.',
      '    * USER <username>',
      '      Kill connections authenticated by <username>.',
      '    * SKIPME (YES|NO)',
      '      Skip killing current connection (default: yes).',
      'LIST [options ...]',
      '    Return information about client connections. Options:',
      '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
      '      Return clients of specified type.',
      'SETNAME <name>',
      '    Assign the name <name> to the current connection.',
    ]),
};

export const client: ConnectionCommand = containerCommand(
  {
    kind: 'connection',
    name: 'client',
    arity: -2,
    flags: [],
    ...noKeys,
    categories: ['slow'],
    summary: 'A container for client connection commands',
    since: '2.4.0',
    group: 'connection',
    complexity: 'Depends on subcommand.',
  },
  [getname, id, info, kill, setname, list, help],
);
