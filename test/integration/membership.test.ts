/**
 * Membership through the admin API, as an operator runs it, against real processes:
 * a node started with --join is added as a learner and promoted once caught up; leadership is
 * transferred to it; it is removed (handing leadership off first); its id is never reused; and a
 * dead node is replaced under write load without losing an acknowledged write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster, admin, replaceMember, startWriters, until } from './cluster_harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('membership through quorumkv admin', () => {
  it('adds a --join node as a learner, promotes it, moves leadership to it, removes it, and never reuses its id', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const [n1, n2] = c.nodes;
    await c.client(n1).set('before-join', 'x');

    const n4 = await c.startJoiner('n4');
    const added = await admin(n2, 'add-node', '--id', 'n4', '--grpc', `127.0.0.1:${n4.grpcPort}`);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/added n4 .* as a learner/);

    // Promoted to voter once caught up, on every node's view.
    await until('n4 promoted', async () => (await c.raftInfo(n4)).raft_voters === 'n1,n2,n3,n4');
    expect(await c.client(n4).get('before-join')).toBe('x');
    await c.client(n4).set('after-join', 'y');
    expect(await c.client(n1).get('after-join')).toBe('y');

    const moved = await admin(n1, 'transfer-leader', '--to', 'n4');
    expect(moved.code).toBe(0);
    await until('n4 leads', async () => (await c.raftInfo(n4)).raft_role === 'leader');

    // Removing the leader: it hands leadership off first.
    const removed = await admin(n2, 'remove-node', '--id', 'n4');
    expect(removed.stderr).toBe('');
    expect(removed.code).toBe(0);
    await until('n4 removed', async () => (await c.raftInfo(n1)).raft_voters === 'n1,n2,n3');
    const leader = await c.waitForLeader();
    expect(leader.id).not.toBe('n4');
    expect(await c.client(leader).get('after-join')).toBe('y');

    const reused = await admin(n1, 'add-node', '--id', 'n4', '--grpc', `127.0.0.1:${n4.grpcPort}`);
    expect(reused.code).toBe(1);
    expect(reused.stderr).toMatch(/never reused/);
  }, 120_000);

  it('refuses bad input with one line and exit 2, and unknown members with exit 1', async () => {
    cluster = await TestCluster.start();
    const [n1] = cluster.nodes;
    const missing = await admin(n1, 'add-node', '--id', 'n9');
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const badId = await admin(n1, 'add-node', '--id', 'Bad_Id', '--grpc', '127.0.0.1:1');
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/must match/);
    const notMember = await admin(n1, 'remove-node', '--id', 'n9');
    expect(notMember.code).toBe(1);
    expect(notMember.stderr).toMatch(/not a member/);
  }, 60_000);

  it('replaces a dead node under write load without losing an acknowledged write', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const [n1, n2, n3] = c.nodes;
    const writers = startWriters(c, [n2, n3], 'r');
    const { acked } = writers;
    await new Promise((r) => setTimeout(r, 500));
    await c.kill(n1);
    const n5 = await replaceMember(c, n1, 'n5', n2, n3, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    await writers.stop();
    expect(acked.size).toBeGreaterThan(50);
    await until('n1 gone from the voters', async () => (await c.raftInfo(n5)).raft_voters === 'n2,n3,n5');
    const client = c.client(n5, { commandTimeout: 10_000 });
    const keys = [...acked.keys()];
    const values = await client.mget(...keys);
    keys.forEach((k, i) => expect(values[i], k).toBe(acked.get(k)));
  }, 120_000);
});
