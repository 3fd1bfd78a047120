/**
 * Real gRPC on 127.0.0.1 for transport and admin tests. Everything opened through a `Resources`
 * is closed by `closeAll()` (call it in afterEach), whether or not the test passed.
 */
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Message } from '../../src/raft/types.js';
import { GrpcPeerTransport, peerServerOptions } from '../../src/transport/grpc_transport.js';
import type { GrpcPeerTransportOptions } from '../../src/transport/grpc_transport.js';

export interface Received {
  readonly groupId: string;
  readonly message: Message;
}

export interface TestPeer {
  readonly id: string;
  readonly transport: GrpcPeerTransport;
  readonly server: grpc.Server;
  readonly address: string;
  readonly received: Received[];
  readonly unreachable: string[];
}

export class Resources {
  private readonly closers: (() => Promise<void>)[] = [];

  /** Binds `server` on 127.0.0.1 (port 0: any free port) and returns host:port. */
  async bind(server: grpc.Server, port = 0): Promise<string> {
    this.closers.push(() => shutdown(server));
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return `127.0.0.1:${bound}`;
  }

  /** A node: a transport registered on its own server. */
  async peer(id: string, options: Partial<GrpcPeerTransportOptions> = {}, port = 0): Promise<TestPeer> {
    const received: Received[] = [];
    const unreachable: string[] = [];
    const transport = new GrpcPeerTransport({
      nodeId: id,
      onMessage: (groupId, message) => received.push({ groupId, message }),
      onUnreachable: (peerId) => unreachable.push(peerId),
      ...options,
    });
    this.track(() => transport.close());
    const server = new grpc.Server(peerServerOptions);
    transport.register(server);
    const address = await this.bind(server, port);
    return { id, transport, server, address, received, unreachable };
  }

  track(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Closes in reverse order of opening; collects failures instead of stopping at the first. */
  async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    while (this.closers.length > 0) {
      try {
        await this.closers.pop()!();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'closing test resources failed');
  }
}

/** Stops accepting and cancels the calls still open (a peer's long-lived stream would wait forever). */
export async function shutdown(server: grpc.Server): Promise<void> {
  server.forceShutdown();
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Polls `done` every 5 ms until it holds; fails with `what` after timeoutMs. */
export async function waitFor(what: string, done: () => boolean, timeoutMs = 5_000): Promise<number> {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
}
