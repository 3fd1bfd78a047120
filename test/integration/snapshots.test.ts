/**
 * Snapshots against real processes: taken as the log grows (small --snapshot-entries), the log
 * compacted behind them, restarts from them, a dead node replaced by one caught up from a
 * snapshot under write load, and kill -9 (failpoints: QKV_FAILPOINTS) at every step of writing
 * and installing one, after which the node restarts and converges.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster, admin, replaceMember, startWriters, until, type NodeProcess } from './cluster_harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

// A snapshot every ~30 KB of applied writes (pipelined writes of a connection are one log entry,
// so entries alone would rarely reach a threshold here).
const snapshotArgs = ['--snapshot-entries', '400', '--snapshot-bytes', '30000', '--snapshot-catchup-entries', '20'];
/** Followers that fall a little behind stay on the log (the crash tests are about the node's own snapshots). */
const ownSnapshotArgs = ['--snapshot-entries', '400', '--snapshot-bytes', '30000', '--snapshot-catchup-entries', '5000'];
const value = (i: number): string => `value-${i}-`.padEnd(120, 'x');

/** Writes keys `${prefix}0..n-1` in pipelines; every third with a one-hour TTL. Returns what was acknowledged. */
async function writeKeys(client: Redis, prefix: string, n: number): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  // Pipelines of 20: one log entry each, so the log grows by many entries.
  for (let from = 0; from < n; from += 20) {
    const pipeline = client.pipeline();
    const keys: string[] = [];
    for (let i = from; i < Math.min(n, from + 20); i++) {
      const key = `${prefix}${i}`;
      keys.push(key);
      if (i % 3 === 0) pipeline.set(key, value(i), 'PX', 3_600_000);
      else pipeline.set(key, value(i));
    }
    const results = (await pipeline.exec()) ?? [];
    results.forEach(([err, reply], j) => {
      if (!err && reply === 'OK') acked.set(keys[j]!, value(Number(keys[j]!.slice(prefix.length))));
    });
  }
  return acked;
}

/** Every acknowledged key is on `node` with its value, and the keys written with a TTL still have one. */
async function expectKeys(c: TestCluster, node: NodeProcess, acked: Map<string, string>, prefix: string): Promise<void> {
  const client = c.client(node, { commandTimeout: 10_000 });
  const keys = [...acked.keys()];
  for (let from = 0; from < keys.length; from += 500) {
    const slice = keys.slice(from, from + 500);
    const values = await client.mget(...slice);
    slice.forEach((k, i) => expect(values[i], `${k} on ${node.id}`).toBe(acked.get(k)));
    const pipeline = client.pipeline();
    for (const k of slice) pipeline.pttl(k);
    const ttls = ((await pipeline.exec()) ?? []).map(([, t]) => Number(t));
    slice.forEach((k, i) => {
      const withTtl = Number(k.slice(prefix.length)) % 3 === 0;
      if (withTtl) expect(ttls[i], `PTTL ${k} on ${node.id}`).toBeGreaterThan(3_000_000);
      else expect(ttls[i], `PTTL ${k} on ${node.id}`).toBe(-1);
    });
  }
}

async function info(c: TestCluster, n: NodeProcess): Promise<Record<string, string>> {
  return c.raftInfo(n);
}

describe('snapshots and log compaction', () => {
  it('snapshots as the log grows, compacts it, and restarts every node from its snapshot with every key and TTL', async () => {
    cluster = await TestCluster.start({ extraArgs: snapshotArgs });
    const c = cluster;
    const leader = await c.waitForLeader();
    const acked = await writeKeys(c.client(leader), 'k', 1500);
    expect(acked.size).toBe(1500);
    for (const n of c.nodes) {
      await until(`a snapshot on ${n.id}`, async () => Number((await info(c, n)).raft_snapshots_taken) >= 1);
      const i = await info(c, n);
      expect(Number(i.raft_first_index), `${n.id} compacted its log`).toBeGreaterThan(20);
    }
    for (const n of c.nodes) await c.kill(n);
    for (const n of c.nodes) c.spawn(n);
    await c.waitForLeader();
    for (const n of c.nodes) {
      await c.waitForPort(n.respPort);
      await until(`${n.id} serving`, async () => (await c.client(n).get('k0')) === value(0));
      expect(n.output.join('')).toMatch(/loaded the newest snapshot/);
      await expectKeys(c, n, acked, 'k');
    }
  }, 120_000);

  it('replaces a dead node under write load: the new node is caught up from a snapshot and serves every key', async () => {
    cluster = await TestCluster.start({ extraArgs: snapshotArgs });
    const c = cluster;
    const [n1, n2, n3] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
    const preload = await writeKeys(c.client(n2), 'p', 1200);
    const writers = startWriters(c, [n2, n3], 'w');
    const { acked } = writers;
    await c.kill(n1);
    await until('a snapshot on the survivors', async () => Number((await info(c, n2)).raft_snapshots_taken) >= 1);
    const n5 = await replaceMember(c, n1, 'n5', n2, n3);
    await new Promise((r) => setTimeout(r, 500));
    await writers.stop();
    expect(acked.size).toBeGreaterThan(50);
    await until('n1 gone from the voters', async () => (await info(c, n5)).raft_voters === 'n2,n3,n5');
    expect(Number((await info(c, n5)).raft_snapshots_installed), 'n5 installed a snapshot').toBeGreaterThanOrEqual(1);
    await expectKeys(c, n5, preload, 'p');
    const client = c.client(n5, { commandTimeout: 10_000 });
    const keys = [...acked.keys()];
    const values = await client.mget(...keys);
    keys.forEach((k, i) => expect(values[i], k).toBe(acked.get(k)));
  }, 120_000);
});

describe('the log beyond the in-memory cache', () => {
  it('catches up a follower that was down from entries read back from the log file, not from memory', async () => {
    // No applied payload stays in memory, and no snapshot is taken: the leader must read the
    // follower's missing entries back from its segment files.
    cluster = await TestCluster.start({ extraArgs: ['--log-cache-bytes', '0'] });
    const c = cluster;
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n !== leader)!;
    await c.kill(follower);
    const acked = await writeKeys(c.client(leader), 'd', 800);
    const before = await info(c, leader);
    expect(Number(before.raft_log_resident_bytes)).toBe(0);
    expect(Number(before.raft_snapshots_taken)).toBe(0);
    c.spawn(follower);
    await c.waitForPort(follower.respPort);
    await until(`${follower.id} caught up`, async () => Number((await info(c, follower)).raft_applied_index) >= Number(before.raft_commit_index), 30_000);
    expect(Number((await info(c, leader)).raft_log_page_ins), 'entries read back from disk').toBeGreaterThan(0);
    expect(Number((await info(c, follower)).raft_snapshots_installed)).toBe(0);
    await expectKeys(c, follower, acked, 'd');
  }, 120_000);
});

describe('kill -9 while a snapshot is written or installed', () => {
  for (const point of ['snapshot-write-batch@2', 'snapshot-after-publish']) {
    it(`a node killed at ${point} restarts and converges`, async () => {
      cluster = await TestCluster.start({ extraArgs: ownSnapshotArgs });
      const c = cluster;
      const victim = c.nodes[2]!;
      await c.kill(victim);
      victim.env = { QKV_FAILPOINTS: point };
      await c.restart(victim);
      const leader = await c.waitForLeader();
      const writing = writeKeys(c.client(leader, { commandTimeout: 10_000 }), 'k', 2500);
      const exit = await c.waitForExit(victim);
      expect(exit.signal).toBe('SIGKILL');
      expect(victim.output.join('')).toContain(`failpoint ${point.split('@')[0]}`);
      const acked = await writing;
      victim.env = {};
      await c.restart(victim);
      const more = await writeKeys(c.client(await c.waitForLeader()), 'm', 600);
      await until(`${victim.id} converged`, async () => (await c.client(victim).get(`m599`)) === value(599), 30_000);
      await expectKeys(c, victim, acked, 'k');
      await expectKeys(c, victim, more, 'm');
      // And it goes on taking snapshots of its own.
      await writeKeys(c.client(await c.waitForLeader()), 'z', 900);
      await until(`a snapshot completes on ${victim.id}`, async () => Number((await info(c, victim)).raft_snapshots_taken) >= 1, 30_000);
    }, 120_000);
  }

  for (const point of ['install-chunk@2', 'install-after-publish', 'install-load@2']) {
    it(`a new node killed at ${point} restarts and converges`, async () => {
      cluster = await TestCluster.start({ extraArgs: snapshotArgs });
      const c = cluster;
      const [n1] = c.nodes as [NodeProcess];
      // Enough for a snapshot of several 256 KiB chunks and for the log to be compacted past it.
      const acked = await writeKeys(c.client(n1, { commandTimeout: 10_000 }), 'k', 4000);
      for (const n of c.nodes) await until(`a snapshot on ${n.id}`, async () => Number((await info(c, n)).raft_snapshots_taken) >= 1);
      const joiner = await c.startJoiner('n4', { QKV_FAILPOINTS: point });
      const add = await admin(n1, 'add-node', '--id', 'n4', '--grpc', `127.0.0.1:${joiner.grpcPort}`);
      expect(add.stderr, c.logs()).toBe('');
      const exit = await c.waitForExit(joiner);
      expect(exit.signal).toBe('SIGKILL');
      joiner.env = {};
      await c.restart(joiner);
      await until('n4 promoted', async () => (await info(c, joiner)).raft_voters.split(',').includes('n4') && (await info(c, joiner)).raft_role !== 'learner', 60_000);
      await expectKeys(c, joiner, acked, 'k');
      const later = await writeKeys(c.client(n1), 'm', 300);
      await until('n4 has the later writes', async () => (await c.client(joiner).get('m299')) === value(299), 30_000);
      await expectKeys(c, joiner, later, 'm');
    }, 120_000);
  }
});
