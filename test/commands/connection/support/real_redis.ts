import net from 'node:net';
import { ReplyCounter } from '../../../bench/reply_counter.js';
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

  /**
   * Sends raw bytes on a new connection; see exchange. With `replies`, the exchange ends when
   * that many replies are complete (a silence must then last 10 s to end it).
   */
  send(bytes: Buffer, idleMs = 250, replies?: number): Promise<Exchange> {
    return exchange(this.port, bytes, replies === undefined ? idleMs : 10_000, replies);
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

/**
 * Everything the server writes back until it closes, or until `replies` complete RESP replies
 * have arrived (when given), or until it stays silent for idleMs after the request was written.
 *
 * Silence is measured from the write, not from the call: a batch of hundreds of connections
 * opened at once on a loaded machine can take longer than idleMs to connect. And a silence is
 * only believed after the poll phase had its turn (setImmediate): when this process was not
 * scheduled for longer than idleMs, Node runs the expired timer BEFORE reading the reply that
 * waits in the socket, and the reply was cut short (seen: COMMAND INFO replies missing under
 * load, in differential.test.ts).
 */
export function exchange(port: number, bytes: Buffer, idleMs: number, replies?: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const counter = new ReplyCounter();
    let complete = 0;
    let timer: NodeJS.Timeout | undefined;
    let lastData = 0;
    let done = false;
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes, () => armIdle()));
    function armIdle(): void {
      clearTimeout(timer);
      const armedAt = ++lastData;
      timer = setTimeout(() => setImmediate(() => armedAt === lastData && finish(false)), idleMs);
    }
    function finish(closed: boolean): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed });
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (replies !== undefined && (complete += counter.feed(chunk)) >= replies) return finish(false);
      armIdle();
    });
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
  });
}
