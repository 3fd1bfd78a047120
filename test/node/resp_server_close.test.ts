/**
 * Every way the request parser refuses a stream, through the RESP server on real sockets and side
 * by side with a redis-server configured alike: the reply goes out, a client that keeps writing
 * is released at once (reset or close) instead of blocking, and the connection leaves the client
 * list and connected_clients, so malformed requests never use up maxclients. In-process, because
 * a node reaches only some of these (no AUTH, a query buffer limit no request can fill; the node's
 * own are run by test/integration/connection_close.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/commands/connection_context.js';
import { commandLookup, connectionCommands, resolveCommand } from '../../src/commands/connection/registry.js';
import { RespServer } from '../../src/node/resp_server.js';
import { ServerStats } from '../../src/node/server_stats.js';
import type { ProtocolErrorCode } from '../../src/resp/errors.js';
import { RespParser } from '../../src/resp/parser.js';
import { error } from '../../src/resp/reply.js';
import type { RedisClient } from '../commands/support/use_redis.js';
import { RedisServer } from '../support/redis_server.js';
import {
  clientAddrs,
  connectedClients,
  observer,
  protocolErrorCases,
  sendUntilClosed,
  trailingBytes,
  writeUntilClosed,
  type ProbeTarget,
} from '../support/close_probes.js';

const maxClients = 8;
const queryBufferLimit = 1024 * 1024;
const password = 'secret';

/**
 * A RESP server with a 1 MiB query buffer limit whose connections start authenticated, or not
 * (then the pre-AUTH bounds apply), running the connection commands (CLIENT LIST, INFO clients).
 */
async function startRespServer(authenticated: boolean): Promise<RespServer> {
  const specs = [...connectionCommands.values()].map((c) => c.spec);
  const lookup = commandLookup(specs);
  let resp: RespServer | undefined;
  const server: ServerContext = {
    nowMs: () => Date.now(),
    nowMicros: () => BigInt(Date.now()) * 1000n,
    clients: () => resp!.clients(),
    killClient: (id) => resp!.kill(id),
    commandTable: () => specs,
    infoSectionNames: () => ['clients'],
    infoSection: (name) => (name === 'clients' ? [`connected_clients:${resp!.clients().length}`, `maxclients:${maxClients}`] : []),
    serverName: 'redis',
    redisVersion: '7.0.15',
    role: () => 'master',
    cluster: { enabled: false, view: () => { throw new Error('not a cluster'); }, keysInSlot: async () => ({ error: 'ERR not a cluster' }) },
  };
  resp = new RespServer({
    host: '127.0.0.1',
    port: 0,
    maxClients,
    newParser: () => Object.assign(new RespParser({ maxQueryBuffer: queryBufferLimit }), { authenticated }),
    executor: {
      classify: (ctx, args) => {
        const resolution = resolveCommand(lookup, args);
        if (!resolution.ok) return { kind: 'immediate', reply: resolution.reply };
        const handler = connectionCommands.get(resolution.command.name)!.handler;
        return { kind: 'connection', run: () => handler(ctx, args) };
      },
      readRun: async (items) => items.map(() => error('ERR not served here')),
      writeRun: async (items) => items.map(() => error('ERR not served here')),
    },
    server,
    stats: new ServerStats(Date.now()),
    clock: () => Date.now(),
  });
  return resp;
}

const respServers: RespServer[] = [];
const redisServers: RedisServer[] = [];
interface Watched {
  readonly target: ProbeTarget;
  /** A connection that stays open through the file: the one client left between tests. */
  readonly watch: RedisClient;
}
/** By implementation, then by whether a new connection is authenticated. */
const servers = new Map<string, { authenticated: Watched; unauthenticated: Watched }>();

const watched = async (target: ProbeTarget): Promise<Watched> => ({ target, watch: await observer(target) });

beforeAll(async () => {
  const resp = async (authenticated: boolean): Promise<Watched> => {
    const server = await startRespServer(authenticated);
    respServers.push(server);
    return watched({ name: `RespServer${authenticated ? '' : ' (unauthenticated)'}`, port: await server.listen() });
  };
  const redis = async (extraArgs: string[]): Promise<RedisServer> => {
    const server = await RedisServer.start({ extraArgs: ['--maxclients', String(maxClients), '--client-query-buffer-limit', String(queryBufferLimit), ...extraArgs] });
    redisServers.push(server);
    return server;
  };
  servers.set('RespServer', { authenticated: await resp(true), unauthenticated: await resp(false) });
  const open = await redis([]);
  const guarded = await redis(['--requirepass', password]);
  servers.set('redis-server', {
    authenticated: await watched({ name: 'redis-server', port: open.port }),
    // The observer authenticates; the malformed requests come before any AUTH.
    unauthenticated: await watched({ name: 'redis-server --requirepass', port: guarded.port, password }),
  });
});

afterAll(async () => {
  for (const pair of servers.values()) for (const { watch } of [pair.authenticated, pair.unauthenticated]) watch.close();
  await Promise.all([...respServers.map((s) => s.close()), ...redisServers.map((s) => s.stop())]);
});

// A connection a test closed from the client side leaves when the server reads its EOF, a little
// later: that is not what these tests look at, so each starts once only the observer is left.
beforeEach(async () => {
  for (const pair of servers.values()) {
    for (const { watch } of [pair.authenticated, pair.unauthenticated]) {
      await until('only the observer connected', async () => (await connectedClients(watch)) === 1);
    }
  }
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const codes = Object.keys(protocolErrorCases) as ProtocolErrorCode[];

describe.each(['RespServer', 'redis-server'])('%s', (name) => {
  /** Only a connection that has not authenticated meets the pre-AUTH bounds. */
  const server = (code: ProtocolErrorCode): Watched => {
    const pair = servers.get(name)!;
    return code.startsWith('UNAUTHENTICATED_') ? pair.unauthenticated : pair.authenticated;
  };

  it.each(codes)('%s: releases a client that keeps writing, and forgets it at once', async (code) => {
    const { request, reply } = protocolErrorCases[code];
    const { target, watch } = server(code);
    const outcome = await writeUntilClosed(target.port, request, 3_000);
    expect(outcome.ended, `still open after 3 s: ${JSON.stringify(outcome)}`).not.toBeNull();
    expect(outcome.ms).toBeLessThan(1_000);
    // A reset can overtake the reply (Redis closes with the client's bytes unread).
    expect([reply, '']).toContain(outcome.reply);
    expect(await clientAddrs(watch)).not.toContain(`127.0.0.1:${outcome.localPort}`);
    expect(await connectedClients(watch)).toBe(1);
  });

  it.each(codes)('%s: answers then closes, over and over without using up maxclients', async (code) => {
    const { request, reply } = protocolErrorCases[code];
    const { target, watch } = server(code);
    expect(await sendUntilClosed(target.port, request)).toBe(reply);
    for (let i = 0; i < maxClients + 2; i++) {
      expect([reply, '']).toContain(await sendUntilClosed(target.port, Buffer.concat([request, trailingBytes])));
    }
    const fresh = await observer(target);
    try {
      expect(await connectedClients(watch)).toBe(2);
    } finally {
      fresh.close();
    }
  });
});
