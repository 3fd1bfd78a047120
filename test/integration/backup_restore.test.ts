/**
 * Backup and restore as an operator runs them, with real processes: 100,000 keys (a third with
 * TTLs) written to one cluster; `quorumkv admin backup --out FILE` asked of a follower (the backup
 * comes from the leader); `quorumkv restore` seeds three new data dirs; a new cluster started on
 * them has every key with its value and its TTL, takes writes, and a damaged backup is refused.
 */
import { stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster, admin, quorumkv, type NodeProcess } from './cluster_harness.js';

const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop();
});

const keyCount = 100_000;
const ttlMs = 3_600_000;
const valueOf = (i: number): string => `v${i}:${'x'.repeat(i % 40)}`;

async function load(client: Redis): Promise<number> {
  let acked = 0;
  for (let from = 0; from < keyCount; from += 2000) {
    const pipeline = client.pipeline();
    for (let i = from; i < from + 2000; i++) {
      if (i % 3 === 0) pipeline.set(`key:${i}`, valueOf(i), 'PX', ttlMs + i);
      else pipeline.set(`key:${i}`, valueOf(i));
    }
    for (const [err, reply] of (await pipeline.exec()) ?? []) if (!err && reply === 'OK') acked++;
  }
  return acked;
}

/** Every key's value and TTL on `node`, checked in pipelines. TTLs can have run down only since `startedMs`. */
async function expectAllKeys(c: TestCluster, node: NodeProcess, startedMs: number): Promise<void> {
  const client = c.client(node, { commandTimeout: 30_000 });
  for (let from = 0; from < keyCount; from += 2000) {
    const keys = Array.from({ length: 2000 }, (_, j) => `key:${from + j}`);
    const values = await client.mget(...keys);
    keys.forEach((k, j) => expect(values[j], `${k} on ${node.id}`).toBe(valueOf(from + j)));
    const pipeline = client.pipeline();
    for (const k of keys) pipeline.pttl(k);
    const ttls = ((await pipeline.exec()) ?? []).map(([, t]) => Number(t));
    const elapsedMs = Date.now() - startedMs;
    keys.forEach((k, j) => {
      const i = from + j;
      if (i % 3 !== 0) expect(ttls[j], `PTTL ${k}`).toBe(-1);
      else {
        expect(ttls[j], `PTTL ${k}`).toBeLessThanOrEqual(ttlMs + i);
        expect(ttls[j], `PTTL ${k}`).toBeGreaterThan(ttlMs + i - elapsedMs);
      }
    });
  }
}

describe('backup and restore', () => {
  it('backs up 100,000 keys with TTLs from the leader and restores them into a new 3-node cluster', async () => {
    const started = Date.now();
    const source = await TestCluster.start();
    clusters.push(source);
    const leader = await source.waitForLeader();
    expect(await load(source.client(leader, { commandTimeout: 30_000 }))).toBe(keyCount);

    const follower = source.nodes.find((n) => n !== leader)!;
    const file = join(source.dir, 'backup.qkv');
    const backup = await admin(follower, 'backup', '--out', file);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect((await stat(file)).size).toBeGreaterThan(keyCount * 10);

    // A damaged copy is refused, and leaves its data dir as it was (not created).
    const damaged = join(source.dir, 'damaged.qkv');
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x20;
    await writeFile(damaged, bytes);
    const refused = await quorumkv('restore', '--from', damaged, '--data-dir', join(source.dir, 'never'), '--id', 'n1', '--peers', 'n1=127.0.0.1:1');
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    await expect(stat(join(source.dir, 'never', 'node.json'))).rejects.toThrow();

    const target = await TestCluster.start({
      // Each node loads the 100,000 keys before it serves: 5 s at load 17 for three at once,
      // more than 20 s at load 25.
      startTimeoutMs: 120_000,
      beforeSpawn: async (c) => {
        for (const n of c.nodes) {
          const restored = await quorumkv('restore', '--from', file, '--data-dir', n.dataDir, '--id', n.id, '--peers', c.peers());
          expect(restored.stderr).toBe('');
          expect(restored.code).toBe(0);
          expect(restored.stdout).toMatch(/restored g1 at index \d+/);
        }
      },
    });
    clusters.push(target);
    const newLeader = await target.waitForLeader();
    expect((await target.raftInfo(newLeader)).raft_voters).toBe('n1,n2,n3');
    for (const n of target.nodes) await expectAllKeys(target, n, started);
    // The new cluster is a cluster of its own: it takes writes, every node sees them.
    await target.client(newLeader).set('after-restore', 'yes');
    for (const n of target.nodes) expect(await target.client(n).get('after-restore')).toBe('yes');
  }, 240_000);
});
