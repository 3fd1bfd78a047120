import { array, bulk } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';

/**
 * TIME: seconds and microseconds as two bulk strings. ServerContext.nowMicros() is read as
 * microseconds since the epoch; a value below one second is taken as the microseconds part
 * of nowMs()'s second instead, so either reading of that contract gives the right answer.
 */
export const time: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'time',
    arity: 1,
    flags: ['loading', 'stale', 'fast'],
    ...noKeys,
    categories: ['fast'],
    summary: 'Return the current server time',
    since: '2.6.0',
    group: 'server',
    complexity: 'O(1)',
    tips: ['nondeterministic_output'],
  },
  handler: (ctx) => {
    const micros = ctx.server.nowMicros();
    const [seconds, part] =
      micros >= 1_000_000n
        ? [micros / 1_000_000n, micros % 1_000_000n]
        : [BigInt(Math.floor(ctx.server.nowMs() / 1000)), micros];
    return array([bulk(seconds.toString()), bulk(part.toString())]);
  },
};
