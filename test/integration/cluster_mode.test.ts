/**
 * Redis Cluster mode (--cluster-mode) through real processes and real cluster clients: a 3-node
 * cluster made with --groups 3, where each node comes to lead one data group, answers as a Redis
 * Cluster of three masters. ioredis's Cluster and node-redis's createCluster read its CLUSTER
 * SLOTS and follow -MOVED; redis-cli -c follows -MOVED; redis-benchmark --cluster reads CLUSTER
 * NODES and runs; READONLY reads on a follower; a leader change is followed by ioredis without an
 * error reaching the application; a node restarted on another RESP port corrects its record;
 * each node's --zone is listed by admin nodes and nowhere in the CLUSTER replies.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterNodeId } from '../../src/cluster/node_ids.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { TestCluster, admin, freePort, until, type NodeProcess } from './cluster_harness.js';
import { clusterNodes, clusterReady, redisCli, tagIn } from './cluster_mode_support.js';

const run = promisify(execFile);
let cluster: TestCluster;
const clients: { disconnect(): void }[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({
    extraArgs: ['--groups', '3', '--cluster-mode'],
    // Zones in the node records: admin nodes shows them; CLUSTER replies have no place for them.
    beforeSpawn: async (c) => {
      for (const n of c.nodes) n.args = ['--zone', `zone-${n.id}`];
    },
  });
  await clusterReady(cluster);
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
});

function ioCluster(): Cluster {
  const c = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.respPort }], { redisOptions: { maxRetriesPerRequest: 3 } });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

function plain(n: NodeProcess): Redis {
  const c = new Redis({ host: '127.0.0.1', port: n.respPort, maxRetriesPerRequest: 0 });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

describe('a --cluster-mode cluster of three groups', () => {
  it('shows every node the same: three masters with their slots, cluster_state ok', async () => {
    const [n1, n2, n3] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
    for (const n of cluster.nodes) {
      const info = await redisCli('-p', String(n.respPort), 'CLUSTER', 'INFO');
      expect(info).toMatch(/^cluster_state:ok\r?$/m);
      expect(info).toMatch(/^cluster_known_nodes:3\r?$/m);
      expect(info).toMatch(/^cluster_size:3\r?$/m);
      expect(await redisCli('-p', String(n.respPort), 'CLUSTER', 'MYID')).toBe(clusterNodeId(n.id));
    }
    const slots = await redisCli('-p', String(n2.respPort), 'CLUSTER', 'SLOTS');
    // Each range: first, last, then the master (its leader) and the two replicas, host, port, id.
    const lines = slots.split('\n');
    expect(lines.slice(0, 5)).toEqual(['0', '5460', '127.0.0.1', String(n1.respPort), clusterNodeId('n1')]);
    expect(lines).toContain(String(n3.respPort));
    expect(await redisCli('-p', String(n1.respPort), 'INFO', 'server')).toMatch(/^redis_mode:cluster\r?$/m);
  });

  it('lists every node with its addresses, zone and groups in admin nodes', async () => {
    const listed = async (): Promise<unknown> => JSON.parse((await admin(cluster.nodes[2]!, 'nodes', '--json')).stdout) as unknown;
    expect(await listed()).toEqual(
      cluster.nodes.map((n) => ({ node: n.id, grpc: `127.0.0.1:${n.grpcPort}`, resp: `127.0.0.1:${n.respPort}`, zone: `zone-${n.id}`, groups: ['meta', 'g1', 'g2', 'g3'] })),
    );
    const table = (await admin(cluster.nodes[0]!, 'nodes')).stdout.split('\n');
    expect(table[0]).toMatch(/^node +grpc +resp +zone +groups$/);
    expect(table[1]).toMatch(new RegExp(`^n1 +127\\.0\\.0\\.1:${cluster.nodes[0]!.grpcPort} +127\\.0\\.0\\.1:${cluster.nodes[0]!.respPort} +zone-n1 +meta,g1,g2,g3$`));
  });

  it('redirects a key of a group another node leads with -MOVED, and redis-cli -c follows it', async () => {
    const [n1, , n3] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
    const key = `${tagIn('g3', 'cli')}:k`;
    const slot = keyHashSlot(Buffer.from(key));
    expect(await redisCli('-p', String(n1.respPort), 'SET', key, 'v')).toBe(`MOVED ${slot} 127.0.0.1:${n3.respPort}`);
    expect(await redisCli('-c', '-p', String(n1.respPort), 'SET', key, 'v1')).toBe('OK');
    expect(await redisCli('-c', '-p', String(n1.respPort), 'GET', key)).toBe('v1');
    expect(await redisCli('-p', String(n3.respPort), 'GET', key)).toBe('v1');
    // One slot per command, not one group.
    const a = `${tagIn('g1', 'x')}:a`;
    const b = `${tagIn('g1', 'y')}:b`;
    expect(keyHashSlot(Buffer.from(a))).not.toBe(keyHashSlot(Buffer.from(b)));
    expect(await redisCli('-p', String(n1.respPort), 'MSET', a, '1', b, '2')).toBe("CROSSSLOT Keys in request don't hash to the same slot");
  });

  it('serves ioredis Cluster: SET, GET and MGET with hash tags, across every group', async () => {
    const c = ioCluster();
    const written = new Map<string, string>();
    for (const group of ['g1', 'g2', 'g3'] as const) {
      for (let i = 0; i < 5; i++) {
        const key = `${tagIn(group, `io${i}`)}:k`;
        expect(await c.set(key, `${group}-${i}`)).toBe('OK');
        written.set(key, `${group}-${i}`);
      }
    }
    for (const [key, value] of written) expect(await c.get(key)).toBe(value);
    const tag = tagIn('g2', 'user');
    expect(await c.mset(`${tag}:a`, '1', `${tag}:b`, '2', `${tag}:c`, '3')).toBe('OK');
    expect(await c.mget(`${tag}:a`, `${tag}:b`, `${tag}:c`, `${tag}:missing`)).toEqual(['1', '2', '3', null]);
    // The client learned three masters, one per node.
    expect(c.nodes('master').map((n) => n.options.port).sort()).toEqual(cluster.nodes.map((n) => n.respPort).sort());
  });

  it("serves node-redis's createCluster: SET, GET and MGET with hash tags", async () => {
    const c = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${cluster.nodes[1]!.respPort}` }] });
    c.on('error', () => {});
    await c.connect();
    try {
      for (const group of ['g1', 'g2', 'g3'] as const) {
        const tag = tagIn(group, 'nr');
        expect(await c.set(`${tag}:a`, `${group}a`)).toBe('OK');
        expect(await c.set(`${tag}:b`, `${group}b`)).toBe('OK');
        expect(await c.get(`${tag}:a`)).toBe(`${group}a`);
        expect(await c.mGet([`${tag}:a`, `${tag}:b`])).toEqual([`${group}a`, `${group}b`]);
      }
      expect(c.masters.map((m) => m.port).sort()).toEqual(cluster.nodes.map((n) => n.respPort).sort());
    } finally {
      await c.close();
    }
  });

  it('runs redis-benchmark --cluster -t set,get -n 2000 without errors', async () => {
    const { stdout, stderr } = await run('redis-benchmark', ['--cluster', '-h', '127.0.0.1', '-p', String(cluster.nodes[0]!.respPort), '-t', 'set,get', '-n', '2000', '-q'], {
      timeout: 180_000,
    });
    const output = `${stdout}\n${stderr}`;
    expect(output).toContain('Cluster has 3 master nodes');
    expect(output).toMatch(/SET: [\d.]+ requests per second/);
    expect(output).toMatch(/GET: [\d.]+ requests per second/);
    // A reply redis-benchmark does not expect (any error but a redirect) stops it with one of these.
    expect(output).not.toMatch(/Error from server|Unexpected error|Invalid cluster|Failed to fetch/);
  }, 200_000);

  it('reads on a follower after READONLY (writes still redirected), and READWRITE undoes it', async () => {
    const [n1, n2] = cluster.nodes as [NodeProcess, NodeProcess];
    const key = `${tagIn('g2', 'ro')}:k`;
    const slot = keyHashSlot(Buffer.from(key));
    const moved = `MOVED ${slot} 127.0.0.1:${n2.respPort}`;
    expect(await plain(n2).set(key, 'written-at-the-leader')).toBe('OK');
    const follower = plain(n1);
    await expect(follower.get(key)).rejects.toThrow(moved);
    expect(await follower.call('READONLY')).toBe('OK');
    // Linearizable: the write acknowledged by n2 just before is seen on n1.
    expect(await follower.get(key)).toBe('written-at-the-leader');
    await expect(follower.set(key, 'x')).rejects.toThrow(moved);
    expect(await follower.call('READWRITE')).toBe('OK');
    await expect(follower.get(key)).rejects.toThrow(moved);
    // Pipelined behind READONLY on a new connection: decided when the GET's turn comes.
    expect(await rawExchange(n1.respPort, `READONLY\r\nGET ${key}\r\n`, 2)).toBe(`+OK\r\n$21\r\nwritten-at-the-leader\r\n`);
  });

  it('counts and lists the keys of a slot where the group has a replica', async () => {
    const [n1] = cluster.nodes as [NodeProcess];
    const tag = tagIn('g3', 'slot');
    const c = ioCluster();
    for (const k of ['a', 'b', 'c']) await c.set(`${tag}:${k}`, k);
    const slot = String(keyHashSlot(Buffer.from(tag.slice(1, -1))));
    expect(await redisCli('-p', String(n1.respPort), 'CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe('3');
    expect((await redisCli('-p', String(n1.respPort), 'CLUSTER', 'GETKEYSINSLOT', slot, '10')).split('\n').sort()).toEqual([`${tag}:a`, `${tag}:b`, `${tag}:c`]);
  });

  it('covers the groups this node leads with DBSIZE', async () => {
    const c = ioCluster();
    for (const n of cluster.nodes) await plain(n).flushall();
    for (const [group, count] of [['g1', 1], ['g2', 2], ['g3', 3]] as const) {
      for (let i = 0; i < count; i++) await c.set(`${tagIn(group, `db${i}`)}:k`, 'v');
    }
    expect(await Promise.all(cluster.nodes.map((n) => plain(n).dbsize()))).toEqual([1, 2, 3]);
  });

  it('is followed by ioredis Cluster through a leader change, without an error reaching the application', async () => {
    const [, n2, n3] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
    const c = ioCluster();
    const tag = tagIn('g2', 'move');
    const slot = keyHashSlot(Buffer.from(tag.slice(1, -1)));
    expect(await c.set(`${tag}:0`, '0')).toBe('OK');
    const masterOfSlot = (): number | undefined => Number((c as unknown as { slots: string[][] }).slots[slot]?.[0]?.split(':')[1]);
    expect(masterOfSlot()).toBe(n2.respPort);

    const errors: string[] = [];
    const acked = new Map<string, string>();
    let running = true;
    const writer = (async () => {
      for (let i = 1; running; i++) {
        try {
          await c.set(`${tag}:${i}`, String(i));
          acked.set(`${tag}:${i}`, String(i));
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    })();
    const seen = new Set<number>();
    const sampler = setInterval(() => seen.add(masterOfSlot() ?? 0), 5);
    try {
      const transfer = await admin(n2, 'transfer-leader', '--group', 'g2', '--to', 'n3');
      expect(transfer.stderr).toBe('');
      expect(transfer.code).toBe(0);
      // The client was sent to n3 (-MOVED from n2) and refreshed its map.
      await until('the client to follow g2 to n3', async () => seen.has(n3.respPort), 20_000);
    } finally {
      running = false;
      clearInterval(sampler);
      await writer;
    }
    expect(errors).toEqual([]);
    expect(acked.size).toBeGreaterThan(0);
    for (const [key, value] of acked) expect(await c.get(key)).toBe(value);
  }, 60_000);

  it('keeps a restarted node\'s record current: restarted on another RESP port, it is shown there', async () => {
    const n1 = cluster.nodes[0]!;
    await cluster.kill(n1);
    (n1 as { respPort: number }).respPort = await freePort();
    await cluster.restart(n1);
    const n2 = cluster.nodes[1]!;
    await until(
      'n2 to show n1 at its new port',
      async () => (await clusterNodes(cluster, n2)).some(([id, port]) => id === 'n1' && port === n1.respPort),
      30_000,
    );
    // And clients reach it there: every group's keys are served again, through n1's new port.
    const c = new Cluster([{ host: '127.0.0.1', port: n1.respPort }]);
    c.on('error', () => {});
    clients.push(c);
    for (const group of ['g1', 'g2', 'g3'] as const) {
      await until(`a write to ${group} through the restarted node`, async () => (await c.set(`${tagIn(group, 'after')}:k`, 'v')) === 'OK', 30_000);
    }
  }, 90_000);
});

/** Sends raw bytes on a new connection and returns the first `replies` replies' bytes (simple or bulk). */
function rawExchange(port: number, text: string, replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${replies} replies within 10 s: ${JSON.stringify(got)}`));
    }, 10_000);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      // Count complete replies: a simple/error line, or a bulk header plus its payload line.
      const lines = got.split('\r\n');
      let count = 0;
      for (let i = 0; i < lines.length - 1; i++) {
        if (lines[i]!.startsWith('$') && lines[i] !== '$-1') i++;
        if (i < lines.length - 1) count++;
      }
      if (count >= replies) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}
