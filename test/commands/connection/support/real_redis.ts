import net from 'node:net';
import { RedisServer } from '../../../support/redis_server.js';

/**
 * A real redis-server 7.0 (test/support/redis_server.ts) for raw-byte differential tests of the
 * connection layer, started as quorumkv presents itself: one database (`--databases 1`, so
 * SELECT 1 is refused as here).
 */
export class RawRedis {
  private constructor(private readonly server: RedisServer) {}

  static async start(): Promise<RawRedis> {
    return new RawRedis(await RedisServer.start({ version: '7.0', databases: 1, dirPrefix: 'qkv-conn-redis-' }));
  }

  get port(): number {
    return this.server.port;
  }

  /** Sends raw bytes on a new connection; see exchange. */
  send(bytes: Buffer, idleMs = 250): Promise<Exchange> {
    return exchange(this.port, bytes, idleMs);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}

export interface Exchange {
  readonly bytes: Buffer;
  /** The server closed the connection (after a protocol error, QUIT, CLIENT KILL). */
  readonly closed: boolean;
}

/** Everything the server writes back until it closes, or stays silent for idleMs. */
export function exchange(port: number, bytes: Buffer, idleMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let timer = setTimeout(finish, idleMs, false);
    function finish(closed: boolean) {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed });
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs, false);
    });
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
  });
}
