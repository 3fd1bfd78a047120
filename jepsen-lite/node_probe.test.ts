/**
 * freePort against the races that made it hand one port to two nodes: the same random pick
 * twice in one process (a cluster chooses all its ports before any node binds one), and the same
 * pick in another process (another vitest worker, another test run on the machine) while the
 * first caller's node has not bound it yet. Math.random is forced to repeat itself to make both
 * certain instead of rare.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort, groupFieldsOf, parseInfo, spawnServer, waitForNode } from './node_probe.js';
import { binPath, repoRoot } from './cluster.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Math.random returns `values` in turn, then the last one for ever. */
function randomSequence(...values: number[]): void {
  let i = 0;
  vi.spyOn(Math, 'random').mockImplementation(() => values[Math.min(i++, values.length - 1)]!);
}

describe('freePort', () => {
  it('never hands out one port twice in a process, though nothing listens on it yet', async () => {
    randomSequence(0.25, 0.25, 0.25, 0.75);
    const first = await freePort();
    const second = await freePort();
    expect(second).not.toBe(first);
  });

  it('does not hand out a port another live process was given, though nothing listens on it yet', async () => {
    // The other process: picks with Math.random stuck at 0.5, prints its port, and keeps it
    // (without listening) until its stdin closes.
    const probe = join(repoRoot, 'dist/jepsen-lite/node_probe.js');
    const script = `Math.random = () => 0.5; const { freePort } = await import(${JSON.stringify(probe)}); console.log(await freePort()); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
    const other = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const theirs = await new Promise<number>((resolve, reject) => {
        other.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        other.once('exit', (code) => reject(new Error(`the other process exited (${code}) before choosing a port`)));
      });
      expect(theirs).toBeGreaterThanOrEqual(10_000);
      randomSequence(0.5, 0.5, 0.5, 0.125);
      expect(await freePort()).not.toBe(theirs);
    } finally {
      other.stdin.end();
      await new Promise((r) => other.once('exit', r));
    }
  });

  it('takes over the claim of a process that is gone', async () => {
    const probe = join(repoRoot, 'dist/jepsen-lite/node_probe.js');
    // Killed before it could remove its claim.
    const script = `Math.random = () => 0.375; const { freePort } = await import(${JSON.stringify(probe)}); console.log(await freePort()); process.kill(process.pid, 'SIGKILL');`;
    const other = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let theirs = NaN;
    other.stdout.on('data', (d: Buffer) => (theirs = Number(d.toString().trim())));
    await new Promise((r) => other.once('exit', r));
    expect(theirs).toBeGreaterThanOrEqual(10_000);
    randomSequence(0.375);
    expect(await freePort()).toBe(theirs);
  });
});

describe('waitForNode', () => {
  it("fails at once with the node's own reason when it cannot listen (its port taken)", async () => {
    const taken = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', () => r()));
    const dir = await mkdtemp(join(tmpdir(), 'qkv-probe-'));
    const output: string[] = [];
    const grpcPort = await freePort();
    const child = spawnServer({ binPath, id: 'n1', respPort: port, grpcPort, dataDir: join(dir, 'n1'), membership: ['--peers', `n1=127.0.0.1:${grpcPort}`], extraArgs: [], output });
    try {
      // Not the 15 s of waiting for a port that a dead process will never open.
      await expect(waitForNode(child, output, port, 60_000)).rejects.toThrow(/exited \(code 2[\s\S]*cannot listen for RESP/);
    } finally {
      child.kill('SIGKILL');
      taken.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('groupFieldsOf', () => {
  it("splits INFO raft into each group's fields: the unprefixed ones are the group they name", () => {
    const info = parseInfo(
      ['# Raft', 'raft_group_id:meta', 'raft_role:leader', 'raft_voters:n1,n2,n3', 'g1_raft_group_id:g1', 'g1_raft_role:follower', 'g1_raft_member_n4:match=7,lag=0,state=replicate', 'g12_raft_group_id:g12', 'g12_raft_role:leader', ''].join('\r\n'),
    );
    const groups = groupFieldsOf(info);
    expect([...groups.keys()].sort()).toEqual(['g1', 'g12', 'meta']);
    expect(groups.get('meta')).toEqual({ raft_group_id: 'meta', raft_role: 'leader', raft_voters: 'n1,n2,n3' });
    expect(groups.get('g1')).toEqual({ raft_group_id: 'g1', raft_role: 'follower', raft_member_n4: 'match=7,lag=0,state=replicate' });
    expect(groups.get('g12')!.raft_role).toBe('leader');
    // A node hosting no meta replica (a moved-to spare): its first data group is the unprefixed one.
    expect([...groupFieldsOf(parseInfo('raft_group_id:g3\r\nraft_role:learner\r\n')).keys()]).toEqual(['g3']);
  });
});
