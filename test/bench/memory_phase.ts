/**
 * Memory and restart with 1,000,000 keys (16 B keys `key:<12 digits>`, 100 B values), on a fresh
 * cluster and a fresh redis-server so that nothing else the benchmark wrote counts:
 *
 *   1. the same keys written to both (pipelined SETs from the Node generator, 4 connections);
 *   2. RSS of every quorumkv node (once each has applied every write) and of redis-server;
 *   3. kill -9 of a follower and its restart, timed from spawn until it answers a GET of the last
 *      key and has applied everything committed before the kill (log replay or snapshot load
 *      over, whichever the default snapshot settings left it with).
 */
import { Redis } from 'ioredis';
import { BenchCluster, RedisReference, rssBytes } from './bench_servers.js';
import { fillKeys } from './node_load.js';
import { progress, sleep } from './progress.js';
import type { MemoryReport } from './report.js';

const keyOf = (i: number): string => `key:${String(i).padStart(12, '0')}`;

export interface MemoryServers {
  cluster: BenchCluster | null;
  redis: RedisReference | null;
}

/** `servers` is filled as they start, so that the caller can stop them on failure or Ctrl-C. */
export async function runMemory(keys: number, withRedis: boolean, servers: MemoryServers): Promise<MemoryReport> {
  const cluster = (servers.cluster = await BenchCluster.start());
  const leader = await cluster.leader();
  progress(`memory: writing ${keys} keys to quorumkv (leader ${leader.id})`);
  const ours = await fillKeys({ port: leader.respPort, keys, valueBytes: 100, clients: 4, pipeline: 500 }, (line) => progress(`memory: quorumkv ${line}`));
  if (ours.errors > 0) throw new Error(`memory fill: ${ours.errors} errors, first ${ours.firstError}`);
  const committed = Number((await cluster.cluster.raftInfo(leader)).raft_commit_index);
  for (const n of cluster.nodes) await appliedAtLeast(cluster, n.id, committed, 120_000);

  let redisRss: number | null = null;
  let redisFill: number | null = null;
  if (withRedis) {
    const redis = (servers.redis = await RedisReference.start());
    progress(`memory: writing ${keys} keys to redis-server`);
    redisFill = (await fillKeys({ port: redis.port, keys, valueBytes: 100, clients: 4, pipeline: 500 })).seconds;
    const c = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      const size = await c.dbsize();
      if (size !== keys) throw new Error(`redis-server holds ${size} keys, expected ${keys}`);
    } finally {
      c.disconnect();
    }
    await sleep(1_000);
    redisRss = rssBytes(redis.pid);
  }
  await sleep(1_000);
  const quorumkvRssBytes: Record<string, number> = {};
  for (const n of cluster.nodes) quorumkvRssBytes[n.id] = rssBytes(n.child?.pid) ?? Number.NaN;
  const largest = Math.max(...Object.values(quorumkvRssBytes));
  progress(`memory: RSS quorumkv ${Object.entries(quorumkvRssBytes).map(([id, b]) => `${id} ${Math.round(b / 2 ** 20)} MiB`).join(', ')}; redis-server ${redisRss === null ? '—' : `${Math.round(redisRss / 2 ** 20)} MiB`}`);

  const follower = cluster.nodes.find((n) => n !== leader)!;
  await cluster.cluster.kill(follower);
  const started = performance.now();
  cluster.cluster.spawn(follower);
  await cluster.cluster.waitForPort(follower.respPort, 120_000);
  const client = new Redis({ port: follower.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, commandTimeout: 10_000 });
  client.on('error', () => {});
  try {
    for (;;) {
      try {
        if ((await client.get(keyOf(keys - 1))) !== null) break;
      } catch {
        // LOADING, or not serving yet
      }
      if (performance.now() - started > 300_000) throw new Error(`${follower.id} not serving 300 s after restart`);
      await sleep(20);
    }
  } finally {
    client.disconnect();
  }
  await appliedAtLeast(cluster, follower.id, committed, 300_000);
  const restartMs = Math.round(performance.now() - started);
  progress(`memory: restart of ${follower.id} holding ${keys} keys: ${restartMs} ms`);

  return {
    keys,
    quorumkvRssBytes,
    redisRssBytes: redisRss,
    ratio: redisRss === null ? null : largest / redisRss,
    restartNode: follower.id,
    restartMs,
    fillSeconds: { quorumkv: ours.seconds, redis: redisFill },
  };
}

async function appliedAtLeast(cluster: BenchCluster, id: string, index: number, timeoutMs: number): Promise<void> {
  const node = cluster.nodes.find((n) => n.id === id)!;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (Number((await cluster.cluster.raftInfo(node)).raft_applied_index) >= index) return;
    } catch {
      // starting
    }
    if (performance.now() > deadline) throw new Error(`${id} did not apply index ${index} within ${timeoutMs} ms`);
    await sleep(20);
  }
}
