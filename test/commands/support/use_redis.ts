/**
 * The differential tests' side of a real Redis: a connection that returns the raw bytes of each
 * reply, and useRedis() to have a server and a connection for a whole test file.
 */
import net from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { RedisServer } from '../../support/redis_server.js';
import { encodeCommand, readReply } from './resp_frames.js';

/** One connection sending a command at a time and returning the raw bytes of its reply. */
export class RedisClient {
  private pending: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.waiter?.();
    });
    socket.on('error', (error) => {
      this.failure = error;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.failure ??= new Error('connection closed');
      this.waiter?.();
    });
  }

  static connect(port: number): Promise<RedisClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new RedisClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one command; resolves with exactly the bytes of its reply. */
  async send(args: readonly Buffer[]): Promise<Buffer> {
    this.socket.write(encodeCommand(args));
    return this.nextReply();
  }

  /** Sends the commands in one write (one pipeline); resolves with the bytes of each reply. */
  async sendAll(commands: readonly (readonly Buffer[])[]): Promise<Buffer[]> {
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    const replies: Buffer[] = [];
    while (replies.length < commands.length) replies.push(await this.nextReply());
    return replies;
  }

  private async nextReply(): Promise<Buffer> {
    for (;;) {
      if (this.pending.length > 0) {
        const reply = readReply(this.pending);
        if (reply !== null) {
          const bytes = this.pending.subarray(0, reply.end);
          this.pending = this.pending.subarray(reply.end);
          return Buffer.from(bytes);
        }
      }
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A redis-server 7.0 (test/support/redis_server.ts) and one connection for the calling test file
 * (`connect()` opens more, closed with it): started in beforeAll, stopped in afterAll (which vitest runs even when tests failed). If it cannot start (redis-server missing),
 * `client()` throws the reason, so every test of the file FAILS with it instead of being skipped.
 */
export function useRedis(): { client(): RedisClient; connect(): Promise<RedisClient> } {
  let server: RedisServer | undefined;
  let connection: RedisClient | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      server = await RedisServer.start({ version: '7.0', dirPrefix: 'qkv-redis-' });
      connection = await RedisClient.connect(server.port);
    } catch (error) {
      failure = error;
    }
  });
  const extra: RedisClient[] = [];
  afterAll(async () => {
    connection?.close();
    for (const other of extra) other.close();
    await server?.stop();
  });
  return {
    client() {
      if (failure !== undefined) throw failure;
      if (connection === undefined) throw new Error('redis-server is not running');
      return connection;
    },
    /** One more connection to the same server (for a RESP3 session beside the RESP2 one). */
    async connect() {
      if (failure !== undefined) throw failure;
      if (server === undefined) throw new Error('redis-server is not running');
      const other = await RedisClient.connect(server.port);
      extra.push(other);
      return other;
    },
  };
}
