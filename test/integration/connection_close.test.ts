/**
 * How a node process closes a client connection, side by side with a redis-server started alike
 * (`maxclients 8`): after a protocol error, QUIT, CLIENT KILL (of itself or of another client)
 * and a refusal at maxclients, a client that keeps writing is released at once (reset or
 * close) instead of blocking, and the connection leaves CLIENT LIST and connected_clients, so
 * that such clients never use up maxclients. The parser's other refusals, which no node meets,
 * are run in-process by test/node/resp_server_close.test.ts.
 */
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeStallMs } from '../../src/node/resp_server.js';
import type { RedisClient } from '../commands/support/use_redis.js';
import { RedisServer } from '../support/redis_server.js';
import {
  clientAddrs,
  connectedClients,
  nodeProtocolErrorCodes,
  observer,
  protocolErrorCases,
  sendUntilClosed,
  trailingBytes,
  words,
  writeUntilClosed,
  type ProbeTarget,
} from '../support/close_probes.js';
import { TestCluster, until } from './cluster_harness.js';

const maxClients = 8;

let cluster: TestCluster | undefined;
let redis: RedisServer | undefined;
/** Each server, and one connection to it that stays open through the file: the one client left. */
const servers = new Map<string, { target: ProbeTarget; watch: RedisClient }>();

beforeAll(async () => {
  try {
    cluster = await TestCluster.start({ nodes: 1, extraArgs: ['--maxclients', String(maxClients)] });
    redis = await RedisServer.start({ extraArgs: ['--maxclients', String(maxClients)] });
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

/**
 * A writer that sends `first` then keeps writing is released within a second, and is gone from
 * CLIENT LIST and connected_clients by the time it is.
 */
async function expectWriterReleased(
  server: { target: ProbeTarget; watch: RedisClient },
  first: Buffer | ((localPort: number) => Buffer),
  replies: readonly string[],
): Promise<void> {
  const outcome = await writeUntilClosed(server.target.port, first, 3_000);
  expect(outcome.ended, `still open after 3 s: ${JSON.stringify(outcome)}`).not.toBeNull();
  expect(outcome.ms).toBeLessThan(1_000);
  // A reset can overtake the reply (Redis closes with the client's bytes unread).
  expect([...replies, '']).toContain(outcome.reply);
  expect(await clientAddrs(server.watch)).not.toContain(`127.0.0.1:${outcome.localPort}`);
  expect(await connectedClients(server.watch)).toBe(1);
}

/** A client that connects and sends nothing; resolves once the server lists it. */
async function idleClient(server: { target: ProbeTarget; watch: RedisClient }): Promise<{ socket: net.Socket; addr: string; closed: Promise<number> }> {
  const socket = net.connect(server.target.port, '127.0.0.1');
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const addr = `127.0.0.1:${socket.localPort}`;
  await until(`${addr} listed`, async () => (await clientAddrs(server.watch)).includes(addr), 5_000);
  return { socket, addr, closed };
}

describe.each(['quorumkv', 'redis-server'])('%s', (name) => {
  const server = (): { target: ProbeTarget; watch: RedisClient } => servers.get(name)!;

  it.each(nodeProtocolErrorCodes)('%s: releases a client that keeps writing, and forgets it at once', async (code) => {
    await expectWriterReleased(server(), protocolErrorCases[code].request, [protocolErrorCases[code].reply]);
  });

  it.each(nodeProtocolErrorCodes)('%s: answers then closes, over and over without using up maxclients', async (code) => {
    const { request, reply } = protocolErrorCases[code];
    const port = server().target.port;
    expect(await sendUntilClosed(port, request)).toBe(reply);
    for (let i = 0; i < maxClients + 2; i++) {
      expect([reply, '']).toContain(await sendUntilClosed(port, Buffer.concat([request, trailingBytes])));
    }
    const fresh = await observer(server().target);
    try {
      expect(await connectedClients(server().watch)).toBe(2);
    } finally {
      fresh.close();
    }
  });

  it('answers the commands pipelined before a protocol error or QUIT, then that, then closes', async () => {
    const port = server().target.port;
    expect(await sendUntilClosed(port, Buffer.from("PING\r\nSET a b\r\nGET a\r\n*1\r\n?3\r\nPING\r\n"))).toBe(
      "+PONG\r\n+OK\r\n$1\r\nb\r\n-ERR Protocol error: expected '$', got '?'\r\n",
    );
    expect(await sendUntilClosed(port, Buffer.from('PING\r\nGET a\r\nQUIT\r\nPING\r\n'))).toBe('+PONG\r\n$1\r\nb\r\n+OK\r\n');
  });

  it('QUIT releases a client that keeps writing, and forgets it at once', async () => {
    await expectWriterReleased(server(), Buffer.from('QUIT\r\n'), ['+OK\r\n']);
  });

  it('CLIENT KILL of itself releases a client that keeps writing, and forgets it at once', async () => {
    await expectWriterReleased(server(), (localPort) => Buffer.from(`CLIENT KILL 127.0.0.1:${localPort}\r\n`), ['+OK\r\n']);
  });

  it('CLIENT KILL of another client drops it before the next command, and closes its socket', async () => {
    const victim = await idleClient(server());
    try {
      const killedAt = Date.now();
      const [killed, list, info] = await server().watch.sendAll([
        words('CLIENT', 'KILL', 'ADDR', victim.addr),
        words('CLIENT', 'LIST'),
        words('INFO', 'clients'),
      ]);
      expect(killed!.toString()).toBe(':1\r\n');
      expect(list!.toString()).not.toContain(`addr=${victim.addr} `);
      expect(info!.toString()).toContain('\r\nconnected_clients:1\r\n');
      expect((await victim.closed) - killedAt).toBeLessThan(1_000);
    } finally {
      victim.socket.destroy();
    }
  });

  it('refuses a client past maxclients with an error and closes it at once, even while it writes', async () => {
    const idle: net.Socket[] = [];
    try {
      // With the observer, every slot is taken.
      for (let i = 0; i < maxClients - 1; i++) idle.push((await idleClient(server())).socket);
      const outcome = await writeUntilClosed(server().target.port, Buffer.from('PING\r\n'), 3_000);
      expect(outcome.ended, `still open after 3 s: ${JSON.stringify(outcome)}`).not.toBeNull();
      expect(outcome.ms).toBeLessThan(1_000);
      expect(['-ERR max number of clients reached\r\n', '']).toContain(outcome.reply);
      expect(await connectedClients(server().watch)).toBe(maxClients);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});

describe('quorumkv', () => {
  it('closes a client that quit but reads none of its pending replies, within the stall bound', async () => {
    const { target, watch } = servers.get('quorumkv')!;
    const value = Buffer.alloc(4 * 1024 * 1024, 'v');
    expect((await watch.send([Buffer.from('SET'), Buffer.from('big'), value])).toString()).toBe('+OK\r\n');
    // 32 MB of replies, more than the kernel buffers of both ends hold, then QUIT; never read.
    const socket = net.connect(target.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.pause();
    try {
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const addr = `127.0.0.1:${socket.localPort}`;
      socket.write(`${'GET big\r\n'.repeat(8)}QUIT\r\n`);
      await until(`${addr} listed`, async () => (await clientAddrs(watch)).includes(addr), 5_000);
      await until(`${addr} closed`, async () => !(await clientAddrs(watch)).includes(addr), closeStallMs + 5_000);
    } finally {
      socket.destroy();
    }
  }, 30_000);
});
