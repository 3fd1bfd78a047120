import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLock } from 'fs-native-extensions';

/**
 * An exclusive lock on a file that the kernel holds for us, for one process to own a directory.
 *
 * The lock is fcntl(F_OFD_SETLK) through fs-native-extensions: it belongs to the open file, so
 * it lasts as long as our fd does and no longer. A holder that dies (kill -9, a crash, a
 * reboot) loses it with its fds, before it is even reaped, so neither a zombie nor a pid that
 * the file names and that now belongs to some other process can keep anyone out. Unlike a
 * classic fcntl lock it does not go away when the process closes some other fd of the same
 * file, and a second open of the file conflicts with it even within the same process.
 *
 * The file also holds the holder's pid, for people: the lock decides, the pid only explains.
 *
 * Node opens every fd with O_CLOEXEC, so a child process never inherits the lock's fd (one that
 * did would keep the lock after we died).
 */

/** The file is locked by another open file, in this process or another. */
export class LockHeldError extends Error {
  readonly code = 'LOCK_HELD';
  constructor(
    readonly path: string,
    /** The pid the file names, if it names one: the holder's, unless it is still writing it. */
    readonly holderPid: number | null,
  ) {
    super(`${path} is locked by ${holderPid === null ? 'another process' : `process ${holderPid}`}`);
    this.name = 'LockHeldError';
  }
}

export interface HeldLock {
  readonly path: string;
  /** Removes the file and lets the lock go. Idempotent. */
  release(): void;
}

/** How often to try again when the file we locked was removed or replaced meanwhile. */
const maxAttempts = 10;

export interface AcquireOptions {
  /** How long to keep trying while the holder is exiting (see acquireLockFile). */
  readonly exitingHolderWaitMs?: number;
}

/**
 * Creates `path` if needed, locks it and writes our pid into it. Throws LockHeldError if another
 * open file holds the lock, or the system's error if the file cannot be opened or locked.
 *
 * A process killed with kill -9 shows as a zombie as soon as its main thread is gone, but its
 * files, and so the lock, go only with its last thread, which may take a while (one blocked in
 * an fsync finishes it first). Refusing then would turn "kill -9, restart at once" into a failed
 * start, so while the pid that the file names is a zombie (Linux's /proc says so) we keep trying
 * for up to `exitingHolderWaitMs`. The pid only makes us wait: the lock alone decides.
 */
export async function acquireLockFile(path: string, options: AcquireOptions = {}): Promise<HeldLock> {
  const deadline = Date.now() + (options.exitingHolderWaitMs ?? 10_000);
  for (;;) {
    try {
      return tryAcquireLockFile(path);
    } catch (err) {
      if (!(err instanceof LockHeldError) || err.holderPid === null || !isExiting(err.holderPid) || Date.now() >= deadline) throw err;
    }
    await sleep(20);
  }
}

/**
 * acquireLockFile without the wait: refuses at once if the lock is held. `betweenOpenAndLock`
 * lets a test put another process's removal of the file where a real one can fall.
 */
export function tryAcquireLockFile(path: string, betweenOpenAndLock?: () => void): HeldLock {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    let locked: boolean;
    try {
      betweenOpenAndLock?.();
      locked = tryLock(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    // A holder that stops removes the file while it still holds the lock, then closes it. If we
    // opened the file before that removal and locked it after the close, we would hold a lock on
    // a file that no longer has the name while the next starter creates a new one and locks
    // that: two holders. So a lock counts only if the path still names the file we locked; and
    // a refusal only if it does too, since a holder that removed its file is on its way out.
    // Either way the next attempt opens whatever the path names now.
    if (!sameFile(fstatSync(fd), statOrNull(path))) {
      closeSync(fd);
      continue;
    }
    if (!locked) {
      const holderPid = readPid(fd);
      closeSync(fd);
      throw new LockHeldError(path, holderPid);
    }
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch (err) {
      unlinkIfSame(path, fd);
      closeSync(fd);
      throw err;
    }
    let released = false;
    return {
      path,
      release(): void {
        if (released) return;
        released = true;
        // Unlink first, close second: see the check above for why a removed file is safe.
        unlinkIfSame(path, fd);
        closeSync(fd);
      },
    };
  }
  throw new Error(`${path} was removed or replaced each time it was locked (${maxAttempts} tries)`);
}

/** Whether `pid` is a zombie: its main thread has exited, and the rest of it is going. */
function isExiting(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

function readPid(fd: number): number | null {
  const buf = Buffer.alloc(32);
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } catch {
    return null;
  }
  const pid = Number(buf.subarray(0, n).toString('utf8').trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function sameFile(a: Stats, b: Stats | null): boolean {
  return b !== null && a.dev === b.dev && a.ino === b.ino;
}

/** Removes `path` if it still names the file open as `fd` (someone may have replaced it by hand). */
function unlinkIfSame(path: string, fd: number): void {
  try {
    if (sameFile(fstatSync(fd), statOrNull(path))) unlinkSync(path);
  } catch {
    // Already gone, or the directory refuses: the lock itself still goes with the close.
  }
}
