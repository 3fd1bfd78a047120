import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { encodeCommand, readReply } from './resp_frames.js';

/**
 * A throwaway real `redis-server` for differential tests: a free port, no persistence, its own
 * temporary directory; `stop()` always kills it. Fails loudly when redis-server is not
 * installed: CI installs it (apt-get install redis-server), and a skipped differential test
 * would hide every incompatibility.
 */
export class RedisServer {
  private constructor(
    readonly port: number,
    private readonly process: ChildProcess,
    private readonly dir: string,
  ) {}

  /**
   * Starts on a free port; retries if another process took the port between probe and bind.
   * `extraArgs` are further redis-server options (`--maxclients 8`).
   */
  static async start(extraArgs: readonly string[] = []): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await RedisServer.startOnce(extraArgs);
      } catch (error) {
        if (attempt >= 3 || !String((error as Error).message).includes('Address already in use')) throw error;
      }
    }
  }

  private static async startOnce(extraArgs: readonly string[]): Promise<RedisServer> {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(
        'redis-server is not installed: the differential tests compare quorumkv with a real Redis 7.0. ' +
          'Install it (apt-get install -y redis-server) and run again.',
      );
    }
    if (!/v=7\.0\./.test(probe.stdout)) {
      throw new Error(`the differential tests need Redis 7.0, found: ${probe.stdout.trim()}`);
    }
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'qkv-redis-'));
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const server = new RedisServer(port, child, dir);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited at start:\n${output}`);
      try {
        const client = await RedisClient.connect(port);
        client.close();
        return server;
      } catch (error) {
        if (Date.now() > deadline) {
          await server.stop();
          throw new Error(`redis-server did not accept connections on ${port}:\n${output}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exited = new Promise((resolve) => this.process.once('exit', resolve));
      this.process.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

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
 * A redis-server and one connection for the calling test file: started in beforeAll, stopped in
 * afterAll (which vitest runs even when tests failed). If it cannot start (redis-server missing),
 * `client()` throws the reason, so every test of the file FAILS with it instead of being skipped.
 */
export function useRedis(): { client(): RedisClient } {
  let server: RedisServer | undefined;
  let connection: RedisClient | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      server = await RedisServer.start();
      connection = await RedisClient.connect(server.port);
    } catch (error) {
      failure = error;
    }
  });
  afterAll(async () => {
    connection?.close();
    await server?.stop();
  });
  return {
    client() {
      if (failure !== undefined) throw failure;
      if (connection === undefined) throw new Error('redis-server is not running');
      return connection;
    },
  };
}
