import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplyCounter } from '../../../bench/reply_counter.js';

/**
 * A real redis-server 7.0 for raw-byte differential tests of the connection layer, started as
 * quorumkv presents itself: one database (`--databases 1`, so SELECT 1 is refused as here).
 * `QKV_REDIS_SERVER` names the binary, else `redis-server` from PATH. A missing binary is a
 * failure, not a skip: CI installs it, and a skipped differential test hides every difference.
 */
export class RawRedis {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(): Promise<RawRedis> {
    const binary = process.env.QKV_REDIS_SERVER ?? 'redis-server';
    const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(
        `${binary} not found: the connection differential tests compare byte for byte with a real Redis 7.0. ` +
          'Install it (apt-get install -y redis-server) or point QKV_REDIS_SERVER at one.',
      );
    }
    if (!/v=7\.0\./.test(probe.stdout)) throw new Error(`these tests need Redis 7.0, found: ${probe.stdout.trim()}`);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'qkv-conn-redis-'));
    const child = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--databases', '1', '--dir', dir],
      { stdio: 'ignore' },
    );
    const server = new RawRedis(port, child, dir);
    const deadline = Date.now() + 10_000;
    while ((await exchange(port, Buffer.from('PING\r\n'), 100)).bytes.toString() !== '+PONG\r\n') {
      if (child.exitCode !== null || Date.now() > deadline) {
        await server.stop();
        throw new Error(`redis-server did not start on port ${port}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return server;
  }

  /**
   * Sends raw bytes on a new connection; see exchange. With `replies`, the exchange ends when
   * that many replies are complete (a silence must then last 10 s to end it).
   */
  send(bytes: Buffer, idleMs = 250, replies?: number): Promise<Exchange> {
    return exchange(this.port, bytes, replies === undefined ? idleMs : 10_000, replies);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
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
function exchange(port: number, bytes: Buffer, idleMs: number, replies?: number): Promise<Exchange> {
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
