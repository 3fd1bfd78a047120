/**
 * The data dir's lock with real `quorumkv server` processes (the build in dist/):
 * - a second live server on the same dir is refused: exit 2, one line on stderr naming the dir
 *   and the first server's pid, and the first one keeps serving;
 * - a server killed with kill -9 whose parent does not reap it (a zombie, as under a container
 *   PID 1 that never reaps) does not keep the restarted server out: it starts at once on the
 *   same dir and serves what the killed one had acknowledged.
 * Every process is stopped by the test that started it, also when it fails.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnServer } from '../../jepsen-lite/node_probe.js';
import { processState, spawnUnreaped, waitForState, type Unreaped } from '../support/unreaped.js';
import { binPath, freePort, quorumkvWithin, until } from './cluster_harness.js';

let root: string;
const cleanups: (() => Promise<void>)[] = [];
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'qkv-lock-it-'));
});
afterEach(async () => {
  // Last registered, first stopped: clients before the servers they talk to.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

interface Ports {
  respPort: number;
  grpcPort: number;
}

async function ports(): Promise<Ports> {
  return { respPort: await freePort(), grpcPort: await freePort() };
}

function serverArgs(dataDir: string, p: Ports): string[] {
  return ['server', '--id', 'n1', '--resp-port', String(p.respPort), '--grpc-port', String(p.grpcPort), '--data-dir', dataDir, '--tick-ms', '20'];
}

/** A server process that is a child of this one (Node reaps it); stopped with SIGTERM after the test. */
function startChildServer(dataDir: string, p: Ports, output: string[]): ChildProcess {
  const child = spawnServer({ binPath, id: 'n1', ...p, dataDir, membership: [], extraArgs: ['--tick-ms', '20'], output });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  return child;
}

function client(p: Ports): Redis {
  const c = new Redis({ port: p.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, commandTimeout: 2_000, retryStrategy: () => 100 });
  c.on('error', () => {});
  cleanups.push(async () => c.disconnect());
  return c;
}

/** SET then GET through `p`, retried until the node has elected itself and serves. */
async function serves(p: Ports, key: string, value: string): Promise<void> {
  const c = client(p);
  await until(`a write through port ${p.respPort}`, async () => (await c.set(key, value)) === 'OK', 20_000);
  expect(await c.get(key)).toBe(value);
}

/** The pid LOCK names (for people; the lock itself is the kernel's). */
async function lockPid(dataDir: string): Promise<number> {
  return Number((await readFile(join(dataDir, 'LOCK'), 'utf8')).trim());
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('data dir lock, real processes', () => {
  it('refuses a second live server on the same dir: exit 2, one line naming the dir; the first keeps serving', async () => {
    const dataDir = join(root, 'n1');
    const first = await ports();
    const output: string[] = [];
    const child = startChildServer(dataDir, first, output);
    await serves(first, 'k', 'first').catch((err: Error) => {
      throw new Error(`${err.message}\n${output.join('')}`);
    });
    expect(await lockPid(dataDir)).toBe(child.pid);

    const second = await quorumkvWithin(30_000, serverArgs(dataDir, await ports()));
    expect(second.code).toBe(2);
    expect(second.stderr).toBe(`quorumkv server: data dir ${dataDir} is in use by process ${child.pid}\n`);

    // The refused start left the running server's lock and data alone.
    expect(await lockPid(dataDir)).toBe(child.pid);
    await serves(first, 'k', 'still');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await exists(join(dataDir, 'LOCK'))).toBe(false);
  });

  it('kill -9 of a server its parent does not reap, then an immediate restart on the same dir: it starts and serves', async () => {
    const dataDir = join(root, 'n1');
    const p = await ports();
    const killed: Unreaped = await spawnUnreaped(process.execPath, [binPath, ...serverArgs(dataDir, p)]);
    cleanups.push(() => killed.stop());
    await serves(p, 'acked', 'before-kill').catch((err: Error) => {
      throw new Error(`${err.message}\n${killed.output.join('')}`);
    });
    expect(await lockPid(dataDir)).toBe(killed.pid);

    process.kill(killed.pid, 'SIGKILL');
    await waitForState(killed.pid, 'Z');
    // The dead server left its LOCK naming a pid that kill(pid, 0) still finds.
    expect(await lockPid(dataDir)).toBe(killed.pid);
    expect(() => process.kill(killed.pid, 0)).not.toThrow();

    // Same dir, same ports, right away: what a supervisor restarting every node at once does.
    const output: string[] = [];
    const restarted = startChildServer(dataDir, p, output);
    const c = client(p);
    await until('the acknowledged write read back after the restart', async () => (await c.get('acked')) === 'before-kill', 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${output.join('')}`);
    });
    await serves(p, 'after', 'restart');
    expect(await lockPid(dataDir)).toBe(restarted.pid);
    expect(processState(killed.pid)).toBe('Z');
  });
});
