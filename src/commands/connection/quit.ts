import { ok } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';

/** QUIT: +OK, then the gateway closes the connection (and runs nothing after it). */
export const quit: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'quit',
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    ...noKeys,
    categories: ['fast', 'connection'],
    summary: 'Close the connection',
    since: '1.0.0',
    group: 'connection',
    complexity: 'O(1)',
  },
  handler: (ctx) => {
    ctx.client.closeAfterReply = true;
    return ok;
  },
};
