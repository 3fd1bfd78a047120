/**
 * A connection command that answers later (CLUSTER COUNTKEYSINSLOT reads after a barrier) holds
 * its connection's turn: what was pipelined after it runs only once it has answered, and the
 * replies go out in the order the commands came, as Redis runs a client's commands one by one.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/commands/connection_context.js';
import { RespServer } from '../../src/node/resp_server.js';
import { ServerStats } from '../../src/node/server_stats.js';
import { bulk, type Reply } from '../../src/resp/reply.js';

const servers: RespServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('a connection command that answers later', () => {
  it('runs what comes after it only once it has answered, and replies in order', async () => {
    const events: string[] = [];
    const later = (name: string): Promise<Reply> =>
      new Promise((resolve) =>
        setTimeout(() => {
          events.push(`${name} answered`);
          resolve(bulk(name));
        }, 30),
      );
    const resp = new RespServer({
      host: '127.0.0.1',
      port: 0,
      maxClients: 10,
      executor: {
        classify: (_ctx, args) => {
          const name = args[0]!.toString();
          return {
            kind: 'connection',
            run: () => {
              events.push(`${name} ran`);
              return name.startsWith('slow') ? later(name) : bulk(name);
            },
          };
        },
        readRun: async () => [],
        writeRun: async () => [],
      },
      server: {} as ServerContext,
      stats: new ServerStats(Date.now()),
      clock: () => Date.now(),
    });
    servers.push(resp);
    const port = await resp.listen();
    const replies = await new Promise<string>((resolve, reject) => {
      let got = '';
      // The rest arrives while slow1 is still answering: it must wait all the same.
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write('slow1\r\n');
        setTimeout(() => socket.write('fast\r\nslow2\r\nlast\r\n'), 5);
      });
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString();
        if (got.endsWith('$4\r\nlast\r\n')) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
    });
    expect(replies).toBe('$5\r\nslow1\r\n$4\r\nfast\r\n$5\r\nslow2\r\n$4\r\nlast\r\n');
    expect(events).toEqual(['slow1 ran', 'slow1 answered', 'fast ran', 'slow2 ran', 'slow2 answered', 'last ran']);
  });
});
