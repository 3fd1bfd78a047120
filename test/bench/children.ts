/**
 * Every load-client process the benchmark has running, so that a failure or Ctrl-C stops them
 * with the servers instead of leaving them hammering a port.
 */
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

/** Registers `child`; returns the function that forgets it (call it once it has exited). */
export function trackChild(child: ChildProcess): () => void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return () => running.delete(child);
}

/** SIGKILLs every tracked child that is still running. */
export function killTrackedChildren(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
}

/** Runs a bench's main: exit 0 when it is done; on failure its load clients killed, the stack printed, exit 1. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      killTrackedChildren();
      console.error(err.stack ?? err.message);
      process.exit(1);
    },
  );
}
