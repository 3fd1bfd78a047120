/**
 * How a node process closes a client connection, side by side with a redis-server started alike
 * (`maxclients 8`).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RedisClient, RedisServer } from '../commands/support/redis_server.js';
import { connectedClients, observer, sendUntilClosed, type ProbeTarget } from '../support/close_probes.js';
import { TestCluster, until } from './cluster_harness.js';

const maxClients = 8;

let cluster: TestCluster | undefined;
let redis: RedisServer | undefined;
/** Each server, and one connection to it that stays open through the file: the one client left. */
const servers = new Map<string, { target: ProbeTarget; watch: RedisClient }>();

beforeAll(async () => {
  try {
    cluster = await TestCluster.start({ nodes: 1, extraArgs: ['--maxclients', String(maxClients)] });
    redis = await RedisServer.start(['--maxclients', String(maxClients)]);
    for (const target of [
      { name: 'quorumkv', port: cluster.nodes[0]!.respPort },
      { name: 'redis-server', port: redis.port },
    ]) {
      servers.set(target.name, { target, watch: await observer(target) });
    }
  } catch (err) {
    await cluster?.stop();
    await redis?.stop();
    throw err;
  }
}, 60_000);

afterAll(async () => {
  for (const { watch } of servers.values()) watch.close();
  await cluster?.stop();
  await redis?.stop();
});

// A connection a test closed from the client side leaves when the server reads its EOF, a little
// later: that is not what these tests look at, so each starts once only the observer is left.
beforeEach(async () => {
  for (const { watch } of servers.values()) await until('only the observer connected', async () => (await connectedClients(watch)) === 1, 3_000);
});

describe.each(['quorumkv', 'redis-server'])('%s', (name) => {
  const server = (): { target: ProbeTarget; watch: RedisClient } => servers.get(name)!;

  it('answers the commands pipelined before a protocol error or QUIT, then that, then closes', async () => {
    const port = server().target.port;
    expect(await sendUntilClosed(port, Buffer.from("PING\r\nSET a b\r\nGET a\r\n*1\r\n?3\r\nPING\r\n"))).toBe(
      "+PONG\r\n+OK\r\n$1\r\nb\r\n-ERR Protocol error: expected '$', got '?'\r\n",
    );
    expect(await sendUntilClosed(port, Buffer.from('PING\r\nGET a\r\nQUIT\r\nPING\r\n'))).toBe('+PONG\r\n$1\r\nb\r\n+OK\r\n');
  });
});
