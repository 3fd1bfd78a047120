/**
 * A cache's journey (a slow query's result cached with SET ... EX 3600), with ioredis against a real 3-node cluster:
 * GET miss, SET with EX 3600, GET hit, TTL, and a short TTL expiring (deleted by the leader's
 * active expiry on every node, without being read), also across a leader change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './cluster_harness.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

async function dbsizes(): Promise<number[]> {
  return Promise.all(cluster.nodes.filter((n) => n.child).map((n) => cluster.client(n).dbsize()));
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('cache journey', () => {
  it('misses, stores with EX 3600, hits, reports the TTL, on any node', async () => {
    const [a, b, c] = cluster.nodes.map((n) => cluster.client(n));
    expect(await a.get('query:123')).toBeNull();
    expect(await b.set('query:123', 'result', 'EX', 3600)).toBe('OK');
    // Linearizable reads: a read that starts after the write was acknowledged sees it, anywhere.
    expect(await c.get('query:123')).toBe('result');
    expect(await a.get('query:123')).toBe('result');
    const ttl = await c.ttl('query:123');
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('expires a key with EX 1 on every node within about 2 s without it being read', async () => {
    const leader = await cluster.waitForLeader();
    const c = cluster.client(leader);
    await c.flushall();
    await c.set('short', 'lived', 'EX', 1);
    expect(await dbsizes()).toEqual([1, 1, 1]);
    const took = await waitFor(async () => (await dbsizes()).every((n) => n === 0), 4_000);
    expect(took).toBeLessThan(3_000);
  });

  it('still expires keys after a leader change', async () => {
    const leader = await cluster.waitForLeader();
    const c = cluster.client(leader);
    await c.flushall();
    await c.set('short2', 'lived', 'PX', 1500);
    const other = cluster.nodes.find((n) => n !== leader)!;
    await cluster.kill(leader);
    const next = await cluster.waitForLeader();
    expect(next).not.toBe(leader);
    await waitFor(async () => (await dbsizes()).every((n) => n === 0), 6_000);
    expect(await cluster.client(other).exists('short2')).toBe(0);
    await cluster.restart(leader);
  });
});
