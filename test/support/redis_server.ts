/**
 * The one way the tests and the benchmark start a real `redis-server`: on a free port, bound to
 * 127.0.0.1, in a temporary directory of its own, ready once it answers PING. `stop()` kills it
 * and removes the directory. None outlives the process that started it: one still running at a
 * normal exit is killed and its directory removed then, and where util-linux's `setpriv` is
 * there (Linux), the kernel kills the server when its parent dies however it dies (a vitest
 * worker is ended with SIGTERM, which runs no exit handler).
 *
 * `QKV_REDIS_SERVER` names the binary, else `redis-server` from PATH. A missing binary is an
 * error, never a skip: CI installs it (apt-get install redis-server), and a skipped differential
 * test would hide every difference from Redis.
 *
 * Not a vitest module (the benchmark, built with tsc, starts its reference Redis here too).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../jepsen-lite/node_probe.js';

export interface RedisServerOptions {
  /**
   * 'none' (the default): nothing written, for tests. 'aof-always': every write fsynced before
   * its reply (`--appendonly yes --appendfsync always`), the durability quorumkv is compared at.
   */
  readonly persistence?: 'none' | 'aof-always';
  /** `--databases N` (quorumkv has one database, so the connection tests start Redis with 1). */
  readonly databases?: number;
  /** A version the caller depends on, e.g. '7.0': another one is refused at start. */
  readonly version?: string;
  /** Prefix of the temporary directory's name, to tell whose it is. */
  readonly dirPrefix?: string;
  /** How long to wait for the first PONG. */
  readonly startTimeoutMs?: number;
  /** Further redis-server options (`--maxclients 8`, `--requirepass p`). */
  readonly extraArgs?: readonly string[];
}

/** The binary the tests run. */
export function redisServerBinary(): string {
  return process.env.QKV_REDIS_SERVER ?? 'redis-server';
}

/** `redis-server --version`'s line, or null when the binary is not there. */
export function redisServerVersion(): string | null {
  const probe = spawnSync(redisServerBinary(), ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return null;
  return probe.stdout.trim();
}

const running = new Set<RedisServer>();
let exitHookInstalled = false;

export class RedisServer {
  private stopped = false;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
    /** The server's last output lines, for an error report. */
    readonly output: string[],
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  static installed(): boolean {
    return redisServerVersion() !== null;
  }

  /** Starts a server; retries on a new port if another process took the port before the bind. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const version = redisServerVersion();
    if (version === null) {
      throw new Error(
        `${redisServerBinary()} not found: these tests compare quorumkv with a real Redis. ` +
          'Install it (apt-get install -y redis-server) or point QKV_REDIS_SERVER at one.',
      );
    }
    if (options.version !== undefined && !version.includes(`v=${options.version}.`)) {
      throw new Error(`Redis ${options.version} is needed, found: ${version}`);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await RedisServer.startOnce(options);
      } catch (error) {
        if (attempt >= 3 || !String((error as Error).message).includes('Address already in use')) throw error;
      }
    }
  }

  private static async startOnce(options: RedisServerOptions): Promise<RedisServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), options.dirPrefix ?? 'qkv-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', ''];
    if (options.persistence === 'aof-always') args.push('--appendonly', 'yes', '--appendfsync', 'always');
    else args.push('--appendonly', 'no');
    if (options.databases !== undefined) args.push('--databases', String(options.databases));
    if (options.extraArgs !== undefined) args.push(...options.extraArgs);
    const [command, argv] = withParentDeathSignal(redisServerBinary(), args);
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (chunk: Buffer): void => {
      output.push(chunk.toString());
      if (output.length > 100) output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const server = new RedisServer(port, dir, child, output);
    server.track();
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (!(await answersPing(port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        await server.stop();
        const why = child.exitCode !== null ? `exited with ${child.exitCode}` : `did not answer PING on ${port}`;
        throw new Error(`redis-server ${why}:\n${output.join('')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return server;
  }

  /** Kills the server (it holds nothing worth a clean shutdown) and removes its directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }

  private track(): void {
    running.add(this);
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    // A test file that never reached its afterAll (or a benchmark interrupted) must not leave a
    // server behind: 'exit' handlers run synchronously, so kill and remove without waiting.
    process.once('exit', () => {
      for (const server of running) {
        server.child.kill('SIGKILL');
        rmSync(server.dir, { recursive: true, force: true });
      }
    });
  }
}

let setprivAvailable: boolean | null = null;

/** `command args` run so that the kernel SIGKILLs it when this process dies, where it can. */
function withParentDeathSignal(command: string, args: string[]): [string, string[]] {
  setprivAvailable ??= spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
  // setpriv sets PR_SET_PDEATHSIG and then execs the server: same pid, nothing in between.
  return setprivAvailable ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
}

/** Whether a server on `port` answers PING with PONG (not just accepts: it may be loading). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      // A server started with --requirepass answers -NOAUTH: it is up, and it is ours (the port is).
      if (reply.includes('\r\n')) done(reply === '+PONG\r\n' || reply.startsWith('-NOAUTH'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}
