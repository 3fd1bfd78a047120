import { error, ok } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';
import { parseInteger } from '../arguments.js';
import { notAnInteger } from '../replies.js';

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

/**
 * SELECT index. quorumkv has one database, so it answers as Redis configured with
 * `databases 1`: 0 is +OK, any other int is `DB index is out of range`. Before that, the index
 * is read as Redis's getIntFromObjectOrReply does (strict integer, then the int range). In cluster
 * mode any index but 0 is refused as Redis Cluster refuses it.
 */
export const select: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'select',
    arity: 2,
    flags: ['loading', 'stale', 'fast'],
    ...noKeys,
    categories: ['fast', 'connection'],
    summary: 'Change the selected database for the current connection',
    since: '1.0.0',
    group: 'connection',
    complexity: 'O(1)',
    arguments: [{ name: 'index', type: 'integer' }],
  },
  handler: (ctx, args) => {
    const index = parseInteger(args[1]!);
    if (index === null) return notAnInteger;
    if (index < INT_MIN || index > INT_MAX) {
      return error(`ERR value is out of range, value must between ${INT_MIN} and ${INT_MAX}`);
    }
    // Redis Cluster has one database, and says so before any range check.
    if (index !== 0 && ctx.server.cluster.enabled) return error('ERR SELECT is not allowed in cluster mode');
    if (index !== 0) return error('ERR DB index is out of range');
    ctx.client.db = 0;
    return ok;
  },
};
