/**
 * A process whose parent does not reap it: once it dies it stays a zombie (state Z) until the
 * parent waits, as happens to servers in a container whose PID 1 never reaps. Node cannot be
 * that parent (libuv reaps its children as they exit), so a small perl parent forks the command,
 * prints its pid, and waits for it only when its stdin closes: when the test calls stop(), or
 * when the test process dies, so that no zombie outlives the test. (PID 1 on these machines
 * does not reap either: an orphaned zombie would stay until the machine stops.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const parentScript = `
  $| = 1;
  my $pid = fork() // die "fork: $!";
  if ($pid == 0) { exec @ARGV or die "exec: $!" }
  print "pid $pid\\n";
  1 while <STDIN>;
  kill 'KILL', $pid;
  waitpid($pid, 0);
`;

export interface Unreaped {
  /** The command's pid (a child of the perl parent, not of this process). */
  readonly pid: number;
  readonly parent: ChildProcess;
  /** What the command and the parent wrote to stdout and stderr. */
  readonly output: string[];
  /** Resolves once `text` has appeared in the output. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** Kills the command if it still runs, lets the parent reap it, and waits for the parent. */
  stop(): Promise<void>;
}

/** Starts `command args` under a parent that does not reap it until stop(). */
export async function spawnUnreaped(command: string, args: readonly string[]): Promise<Unreaped> {
  const parent = spawn('perl', ['-e', parentScript, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output: string[] = [];
  parent.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  parent.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<void>((resolve) => parent.once('exit', () => resolve()));
  const waitForOutput = async (text: string, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!output.join('').includes(text)) {
      if (parent.exitCode !== null || parent.signalCode !== null) throw new Error(`the parent exited before '${text}':\n${output.join('')}`);
      if (Date.now() > deadline) throw new Error(`no '${text}' after ${timeoutMs} ms:\n${output.join('')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async (): Promise<void> => {
    if (parent.exitCode === null && parent.signalCode === null) parent.stdin!.end();
    await exited;
  };
  try {
    await waitForOutput('pid ');
  } catch (err) {
    parent.kill('SIGKILL');
    await exited;
    throw err;
  }
  const pid = Number(/pid (\d+)/.exec(output.join(''))![1]);
  return { pid, parent, output, waitForOutput, stop };
}

/** The state letter of /proc/PID/stat (R, S, Z, ...), or null once there is no such process. */
export function processState(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** Resolves once `pid` is in state `state` (throws after `timeoutMs`). */
export async function waitForState(pid: number, state: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (processState(pid) === state) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} is in state ${processState(pid)}, not ${state}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
