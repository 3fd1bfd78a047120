import { bulk, simple } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';
import { wrongArity } from '../replies.js';

const pong = simple('PONG');

/** PING [message]: +PONG, or the message as a bulk string (both protocols alike outside pub/sub). */
export const ping: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'ping',
    arity: -1,
    flags: ['fast'],
    ...noKeys,
    categories: ['fast', 'connection'],
    summary: 'Ping the server',
    since: '1.0.0',
    group: 'connection',
    complexity: 'O(1)',
    tips: ['request_policy:all_shards', 'response_policy:all_succeeded'],
    arguments: [{ name: 'message', type: 'string', flags: ['optional'] }],
  },
  handler: (_ctx, args) => {
    // Arity -1 lets any count through; pingCommand itself refuses more than one message.
    if (args.length > 2) return wrongArity('ping');
    return args.length === 1 ? pong : bulk(args[1]!);
  },
};
