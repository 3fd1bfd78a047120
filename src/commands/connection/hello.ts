import { array, bulk, error, integer, map, type Reply } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';
import { cString, parseInteger } from '../arguments.js';
import { optionName } from './command_errors.js';
import { clientNameError } from './client_info.js';

/**
 * HELLO [protover [AUTH username password] [SETNAME clientname]], in helloCommand's order:
 * the version (`NOPROTO` unless 2 or 3), then the options left to right (a syntax error names
 * the first bad one; a bad client name is refused as soon as it is read), then AUTH, then the
 * name is set and the protocol switched, then the reply: a map of server, version, proto, id,
 * mode (`cluster` with --cluster-mode, as Redis with cluster support), role, modules (a flat array
 * in RESP2).
 *
 * Authentication: quorumkv has no ACL yet, so it answers as Redis with no password set: the
 * `default` user accepts any password, any other user name is WRONGPASS.
 */
export const hello: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'hello',
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    ...noKeys,
    categories: ['fast', 'connection'],
    summary: 'Handshake with Redis',
    since: '6.0.0',
    group: 'connection',
    complexity: 'O(1)',
    history: [
      [
        '6.2.0',
        "`protover` made optional; when called without arguments the command reports the current connection's context.",
      ],
    ],
    arguments: [
      {
        name: 'arguments',
        type: 'block',
        flags: ['optional'],
        arguments: [
          { name: 'protover', type: 'integer' },
          {
            name: 'username_password',
            type: 'block',
            token: 'AUTH',
            flags: ['optional'],
            arguments: [
              { name: 'username', type: 'string' },
              { name: 'password', type: 'string' },
            ],
          },
          { name: 'clientname', type: 'string', token: 'SETNAME', flags: ['optional'] },
        ],
      },
    ],
  },
  handler: (ctx, args) => {
    let protocol: 2 | 3 | null = null;
    if (args.length >= 2) {
      const version = parseInteger(args[1]!);
      if (version === null) return error('ERR Protocol version is not an integer or out of range');
      if (version !== 2 && version !== 3) return error('NOPROTO unsupported protocol version');
      protocol = version;
    }

    let username: Buffer | null = null;
    let clientName: Buffer | null = null;
    for (let j = 2; j < args.length; j++) {
      const moreArgs = args.length - 1 - j;
      const option = optionName(args[j]!);
      if (option === 'auth' && moreArgs >= 2) {
        username = args[j + 1]!;
        j += 2;
      } else if (option === 'setname' && moreArgs >= 1) {
        clientName = args[j + 1]!;
        const refused = clientNameError(clientName);
        if (refused !== null) return refused;
        j += 1;
      } else {
        return error(`ERR Syntax error in HELLO option '${cString(args[j]!)}'`);
      }
    }

    if (username !== null && username.toString('latin1') !== 'default') {
      return error('WRONGPASS invalid username-password pair or user is disabled.');
    }
    if (clientName !== null) ctx.client.name = clientName.toString('latin1');
    if (protocol !== null) ctx.client.protocol = protocol;

    const field = (name: string, value: Reply): readonly [Reply, Reply] => [bulk(name), value];
    return map([
      field('server', bulk(ctx.server.serverName)),
      field('version', bulk(ctx.server.redisVersion)),
      field('proto', integer(ctx.client.protocol)),
      field('id', integer(ctx.client.id)),
      field('mode', bulk(ctx.server.cluster.enabled ? 'cluster' : 'standalone')),
      field('role', bulk(ctx.server.role())),
      field('modules', array([])),
    ]);
  },
};
