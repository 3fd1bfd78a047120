/**
 * The data dir's lock is a kernel lock on <data-dir>/LOCK, not the pid written in it: a holder
 * that died (even one nobody has reaped yet) or a pid now used by an unrelated process never
 * keeps a server out, while a live holder always does, in this process or another. Servers here
 * run in this process (NodeHost.start); test/integration/data_dir_lock.test.ts runs them as
 * real processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { closeSync, constants, openSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryLock } from 'fs-native-extensions';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseServerConfig } from '../../src/config/config.js';
import { commandCatalog } from '../../src/node/catalog.js';
import { dataDirLockPath, lockDataDir, nodeMetaPath } from '../../src/node/data_dir.js';
import { NodeHost, ServerStartError } from '../../src/node/node_host.js';
import { createLogger } from '../../src/observability/logger.js';
import { acquireLockFile, LockHeldError, tryAcquireLockFile } from '../../src/storage/lock_file.js';
import { processState, spawnUnreaped, waitForState } from '../support/unreaped.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'qkv-lock-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const logger = createLogger({ level: 'silent', pretty: false, node: 'n1' });

function startServer(dataDir: string): Promise<NodeHost> {
  const config = parseServerConfig(['--id', 'n1', '--host', '127.0.0.1', '--resp-port', '0', '--grpc-port', '0', '--data-dir', dataDir, '--tick-ms', '10']);
  return NodeHost.start(config, logger, commandCatalog);
}

/** Starts a server on `dataDir`, checks that it answers a write and a read, and stops it. */
async function startServesAndStop(dataDir: string): Promise<void> {
  const server = await startServer(dataDir);
  const client = new Redis({ port: server.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true });
  client.on('error', () => {});
  try {
    // LOCK now names this process; a write needs the single node to have elected itself.
    expect(await lockPid(dataDir)).toBe(process.pid);
    await client.connect();
    expect(await retryUntilServing(() => client.set('k', 'v'))).toBe('OK');
    expect(await client.get('k')).toBe('v');
  } finally {
    client.disconnect();
    await server.stop();
  }
}

/** A new node answers LOADING or CLUSTERDOWN-like errors until it has replayed and elected itself. */
async function retryUntilServing<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A process that takes the lock as a server does (the same call), writes its pid and waits. */
function holderScript(lockPath: string): string {
  const lib = createRequire(import.meta.url).resolve('fs-native-extensions');
  return `
    const fs = require('node:fs');
    const { tryLock } = require(${JSON.stringify(lib)});
    const fd = fs.openSync(${JSON.stringify(lockPath)}, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    if (!tryLock(fd)) { console.log('refused'); process.exit(3); }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, process.pid + '\\n', 0);
    console.log('locked');
    setInterval(() => {}, 60_000);
  `;
}

describe('a server starts on a data dir whose LOCK names', () => {
  it('a holder that was killed and is a zombie, not yet reaped by its parent', async () => {
    const dataDir = join(root, 'n1');
    await mkdir(dataDir);
    const holder = await spawnUnreaped(process.execPath, ['-e', holderScript(dataDirLockPath(dataDir))]);
    try {
      await holder.waitForOutput('locked');
      // While the holder lives its lock keeps a server out, and the refusal names it.
      await expect(startServer(dataDir)).rejects.toThrow(new ServerStartError(`data dir ${dataDir} is in use by process ${holder.pid}`));

      process.kill(holder.pid, 'SIGKILL');
      await waitForState(holder.pid, 'Z');
      // A zombie still counts as alive for kill(pid, 0), which is what the old pid check asked.
      expect(() => process.kill(holder.pid, 0)).not.toThrow();
      expect(await lockPid(dataDir)).toBe(holder.pid);

      await startServesAndStop(dataDir);
      expect(processState(holder.pid)).toBe('Z');
    } finally {
      await holder.stop();
    }
  });

  it('the pid of a live process that does not hold the lock (a pid reused after a reboot)', async () => {
    const dataDir = join(root, 'n1');
    await mkdir(dataDir);
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await waitForState(other.pid!, 'S');
      await writeFile(dataDirLockPath(dataDir), `${other.pid}\n`);
      await startServesAndStop(dataDir);
      expect(processState(other.pid!)).toBe('S');
    } finally {
      await killAndWait(other);
    }
  });
});

describe('while a server runs, its lock', () => {
  it('keeps a second server out, in the same process too; stop() releases it and removes LOCK', async () => {
    const dataDir = join(root, 'n1');
    const server = await startServer(dataDir);
    let stopped = false;
    try {
      await expect(startServer(dataDir)).rejects.toThrow(new ServerStartError(`data dir ${dataDir} is in use by process ${process.pid}`));
      // The refused start must not have taken the running server's LOCK away with it.
      expect(await lockPid(dataDir)).toBe(process.pid);
      await expect(lockDataDir(dataDir, (m) => new Error(m))).rejects.toThrow(`${dataDir} is in use by process ${process.pid}`);
      await server.stop();
      stopped = true;
      expect(await exists(dataDirLockPath(dataDir))).toBe(false);
      (await lockDataDir(dataDir, (m) => new Error(m))).release();
    } finally {
      if (!stopped) await server.stop();
    }
  });

  it('is released by a start that fails after taking it', async () => {
    const dataDir = join(root, 'n1');
    await mkdir(dataDir);
    await writeFile(nodeMetaPath(dataDir), JSON.stringify({ id: 'n7', peers: {} }));
    await expect(startServer(dataDir)).rejects.toThrow(new ServerStartError(`data dir ${dataDir} belongs to node 'n7', not 'n1'`));
    expect(await exists(dataDirLockPath(dataDir))).toBe(false);
    (await lockDataDir(dataDir, (m) => new Error(m))).release();
  });
});

describe('acquireLockFile', () => {
  // A holder that stops removes LOCK, still holding it, then closes it. These two put that
  // removal between a starter's open of LOCK and its lock call, the one place it matters.
  it('does not keep a lock on a file that LOCK no longer names, but locks the new one', async () => {
    const path = join(root, 'LOCK');
    const stopping = openSync(path, constants.O_RDWR | constants.O_CREAT);
    let stoppingOpen = true;
    try {
      expect(tryLock(stopping)).toBe(true);
      let once = true;
      const lock = tryAcquireLockFile(path, () => {
        if (!once) return;
        once = false;
        unlinkSync(path);
        closeSync(stopping);
        stoppingOpen = false;
      });
      try {
        // We hold the file LOCK names now (not the removed one): it has our pid, and a third
        // starter is refused.
        expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
        expect(() => tryAcquireLockFile(path)).toThrow(new LockHeldError(path, process.pid));
      } finally {
        lock.release();
      }
    } finally {
      if (stoppingOpen) closeSync(stopping);
    }
  });

  it('does not refuse because of a holder that has already removed LOCK', async () => {
    const path = join(root, 'LOCK');
    const stopping = openSync(path, constants.O_RDWR | constants.O_CREAT);
    try {
      expect(tryLock(stopping)).toBe(true);
      expect(() => tryAcquireLockFile(path)).toThrow(LockHeldError);
      let once = true;
      const lock = tryAcquireLockFile(path, () => {
        if (!once) return;
        once = false;
        unlinkSync(path);
      });
      expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
      lock.release();
    } finally {
      closeSync(stopping);
    }
  });

  it('release() leaves alone a LOCK that someone put in place of ours', async () => {
    const path = join(root, 'LOCK');
    const lock = tryAcquireLockFile(path);
    await unlink(path);
    await writeFile(path, 'not ours\n');
    lock.release();
    expect(await readFile(path, 'utf8')).toBe('not ours\n');
  });

  it('reports an unusable path as the system error, not as a held lock', async () => {
    const path = join(root, 'missing-dir', 'LOCK');
    await expect(acquireLockFile(path)).rejects.toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  describe('while the file names a zombie (a holder whose last threads are still exiting)', () => {
    // The lock is held by a file this test opens, the file names a real zombie: what a start sees
    // in the moments after kill -9 of a server, before the kernel has closed the dead one's files.
    async function heldNamingAZombie(path: string): Promise<{ fd: number; zombie: Awaited<ReturnType<typeof spawnUnreaped>> }> {
      const zombie = await spawnUnreaped('true', []);
      await waitForState(zombie.pid, 'Z');
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT);
      expect(tryLock(fd)).toBe(true);
      await writeFile(path, `${zombie.pid}\n`);
      return { fd, zombie };
    }

    it('waits for the lock, and takes it once the file is closed', async () => {
      const path = join(root, 'LOCK');
      const { fd, zombie } = await heldNamingAZombie(path);
      let closed = false;
      try {
        const started = Date.now();
        const timer = setTimeout(() => {
          closeSync(fd);
          closed = true;
        }, 300);
        const lock = await acquireLockFile(path, { exitingHolderWaitMs: 5_000 }).finally(() => clearTimeout(timer));
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        expect(closed).toBe(true);
        expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
        lock.release();
      } finally {
        if (!closed) closeSync(fd);
        await zombie.stop();
      }
    });

    it('refuses once the wait is over if the lock is still held', async () => {
      const path = join(root, 'LOCK');
      const { fd, zombie } = await heldNamingAZombie(path);
      try {
        const started = Date.now();
        await expect(acquireLockFile(path, { exitingHolderWaitMs: 300 })).rejects.toThrow(new LockHeldError(path, zombie.pid));
        expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      } finally {
        closeSync(fd);
        await zombie.stop();
      }
    });
  });

  it('refuses at once while the holder the file names is alive, whatever the wait', async () => {
    const path = join(root, 'LOCK');
    const held = tryAcquireLockFile(path);
    try {
      const started = Date.now();
      await expect(acquireLockFile(path, { exitingHolderWaitMs: 5_000 })).rejects.toThrow(new LockHeldError(path, process.pid));
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      held.release();
    }
  });
});

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return exited;
}

/** The pid LOCK names (for people; the lock itself is the kernel's). */
async function lockPid(dataDir: string): Promise<number> {
  return Number((await readFile(dataDirLockPath(dataDir), 'utf8')).trim());
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
