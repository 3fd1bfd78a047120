/**
 * INFO memory and INFO cpu of a node process: Redis 7.0's field names, order and formats
 * (compared with a redis-server's own INFO), and figures that are the process's own (memory
 * grows when values are stored, CPU time when commands run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHuman } from '../../src/node/info.js';
import type { RedisClient } from '../commands/support/use_redis.js';
import { RedisServer } from '../support/redis_server.js';
import { observer, words } from '../support/close_probes.js';
import { TestCluster } from './cluster_harness.js';

let cluster: TestCluster | undefined;
let redis: RedisServer | undefined;
let node: RedisClient | undefined;
let real: RedisClient | undefined;

beforeAll(async () => {
  try {
    cluster = await TestCluster.start({ nodes: 1 });
    redis = await RedisServer.start();
    node = await observer({ name: 'quorumkv', port: cluster.nodes[0]!.respPort });
    real = await observer({ name: 'redis-server', port: redis.port });
  } catch (err) {
    await cluster?.stop();
    await redis?.stop();
    throw err;
  }
}, 60_000);

afterAll(async () => {
  node?.close();
  real?.close();
  await cluster?.stop();
  await redis?.stop();
});

async function infoText(client: RedisClient, ...sections: string[]): Promise<string> {
  const reply = (await client.send(words('INFO', ...sections))).toString('latin1');
  expect(reply.startsWith('$')).toBe(true);
  return reply.slice(reply.indexOf('\r\n') + 2, -2);
}

/** The `key:value` fields of INFO text, in order. */
async function fields(client: RedisClient, section: string): Promise<[string, string][]> {
  return (await infoText(client, section))
    .split('\r\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]);
}

async function fieldMap(client: RedisClient, section: string): Promise<Map<string, string>> {
  return new Map(await fields(client, section));
}

/** `ours` lists the names it shares with `redis` in Redis's order. */
function expectRedisOrder(ours: readonly string[], redisOrder: readonly string[]): void {
  const shared = new Set(redisOrder);
  expect(ours.filter((name) => shared.has(name))).toEqual(redisOrder.filter((name) => ours.includes(name)));
}

async function pipelineSets(client: RedisClient, prefix: string, count: number, value: Buffer): Promise<void> {
  const replies = await client.sendAll(Array.from({ length: count }, (_, i) => [Buffer.from('SET'), Buffer.from(`${prefix}${i}`), value]));
  for (const reply of replies) expect(reply.toString()).toBe('+OK\r\n');
}

describe('INFO memory', () => {
  it("has Redis's fields, in Redis's order, and the ones Redis tools read", async () => {
    const ours = (await fields(node!, 'memory')).map(([name]) => name);
    expectRedisOrder(ours, (await fields(real!, 'memory')).map(([name]) => name));
    for (const name of ['used_memory', 'used_memory_human', 'used_memory_rss', 'used_memory_rss_human', 'used_memory_peak', 'used_memory_peak_human', 'used_memory_dataset', 'maxmemory', 'maxmemory_human', 'maxmemory_policy', 'mem_allocator']) {
      expect(ours).toContain(name);
    }
  });

  it('reports what the process allocates, with human forms as Redis formats them', async () => {
    const info = await fieldMap(node!, 'memory');
    for (const name of ['used_memory', 'used_memory_rss', 'used_memory_peak', 'used_memory_dataset', 'maxmemory']) {
      expect(info.get(name), name).toMatch(/^\d+$/);
    }
    const used = Number(info.get('used_memory'));
    // A node process holds its code's objects, gRPC and the Raft group: megabytes, not an estimate of an empty keyspace.
    expect(used).toBeGreaterThan(1024 * 1024);
    expect(Number(info.get('used_memory_rss'))).toBeGreaterThan(used);
    expect(Number(info.get('used_memory_peak'))).toBeGreaterThanOrEqual(used);
    for (const name of ['used_memory', 'used_memory_rss', 'used_memory_peak', 'maxmemory']) {
      expect(info.get(`${name}_human`), name).toBe(bytesToHuman(Number(info.get(name))));
    }
    expect(info.get('maxmemory')).toBe('0');
    expect(info.get('maxmemory_policy')).toBe('noeviction');
    expect(info.get('mem_allocator')).toBe('libc');
  });

  it('grows by about what was stored: used_memory, the peak and the dataset', async () => {
    const before = await fieldMap(node!, 'memory');
    // 10 MiB of values in 40 writes of 256 KiB.
    await pipelineSets(node!, 'mem:', 40, Buffer.alloc(256 * 1024, 'm'));
    const after = await fieldMap(node!, 'memory');
    const grew = (name: string) => Number(after.get(name)) - Number(before.get(name));
    // The values are live in the keyspace; garbage counted before may have been collected since.
    expect(grew('used_memory')).toBeGreaterThan(5 * 1024 * 1024);
    expect(Number(after.get('used_memory_peak'))).toBeGreaterThanOrEqual(Number(after.get('used_memory')));
    expect(grew('used_memory_dataset')).toBeGreaterThanOrEqual(10 * 1024 * 1024);
  });
});

describe('INFO cpu', () => {
  it("has exactly Redis 7.0's fields, in order, as seconds with 6 decimals", async () => {
    const ours = await fields(node!, 'cpu');
    expect(ours.map(([name]) => name)).toEqual((await fields(real!, 'cpu')).map(([name]) => name));
    for (const [name, value] of ours) expect(value, name).toMatch(/^\d+\.\d{6}$/);
    const info = new Map(ours);
    // A node starts no child process.
    expect(info.get('used_cpu_sys_children')).toBe('0.000000');
    expect(info.get('used_cpu_user_children')).toBe('0.000000');
  });

  it('counts the time commands take, the main thread within the process', async () => {
    const before = await fieldMap(node!, 'cpu');
    for (let round = 0; round < 20; round++) await pipelineSets(node!, `cpu:${round}:`, 500, Buffer.from('v'));
    const after = await fieldMap(node!, 'cpu');
    const seconds = (info: Map<string, string>, name: string) => Number(info.get(name));
    expect(seconds(after, 'used_cpu_user')).toBeGreaterThan(seconds(before, 'used_cpu_user'));
    expect(seconds(after, 'used_cpu_user_main_thread')).toBeGreaterThan(seconds(before, 'used_cpu_user_main_thread'));
    // The main thread is a part of the process; its figure is read a moment later and in 10 ms steps.
    expect(seconds(after, 'used_cpu_user_main_thread')).toBeLessThanOrEqual(seconds(after, 'used_cpu_user') + 0.05);
    expect(seconds(after, 'used_cpu_sys_main_thread')).toBeLessThanOrEqual(seconds(after, 'used_cpu_sys') + 0.05);
  });
});

describe('INFO sections', () => {
  const titles = (text: string) => text.split('\r\n').filter((line) => line.startsWith('# '));

  it('prints CPU where Redis does, in plain INFO, default, all and everything', async () => {
    for (const args of [[], ['default'], ['all'], ['everything']]) {
      const ours = titles(await infoText(node!, ...args));
      expect(ours, args.join(' ')).toContain('# CPU');
      expectRedisOrder(ours, titles(await infoText(real!, ...args)));
    }
    expect(titles(await infoText(node!))).toEqual(['# Server', '# Clients', '# Memory', '# Stats', '# Replication', '# CPU', '# Raft', '# Cluster', '# Keyspace']);
    expect(titles(await infoText(node!, 'cpu'))).toEqual(['# CPU']);
  });
});
