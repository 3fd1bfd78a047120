import { bulk } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';

export const echo: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'echo',
    arity: 2,
    flags: ['loading', 'stale', 'fast'],
    ...noKeys,
    categories: ['fast', 'connection'],
    summary: 'Echo the given string',
    since: '1.0.0',
    group: 'connection',
    complexity: 'O(1)',
    arguments: [{ name: 'message', type: 'string' }],
  },
  handler: (_ctx, args) => bulk(args[1]!),
};
