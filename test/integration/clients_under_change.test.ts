/**
 * Clients while the cluster changes shape, through real processes. A 3-node --cluster-mode
 * cluster of three groups serves an ioredis Cluster client (its default retry and redirection
 * options) that writes and reads keys over every slot while the operator splits two groups,
 * moves leaders to other nodes and moves a replica to a fourth node; redis-cli -c keeps following
 * -MOVED meanwhile. No error reaches the application, and every acknowledged write is read back.
 * The same for plain clients, one per node, of a cluster without --cluster-mode, across a split
 * and leader moves.
 */
import { Cluster, type Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { TestCluster, admin, type NodeProcess } from './cluster_harness.js';
import { clusterReady, redisCli } from './cluster_mode_support.js';

/** Keys over every slot; each loop writes its own keys and reads back what it wrote before. */
interface Load {
  readonly acked: Map<string, string>;
  readonly errors: string[];
  readonly ops: () => number;
  stop(): Promise<void>;
}

/**
 * `loops` writer-readers over `clientFor(loop)`: each SETs its next key, then GETs one of its
 * acknowledged keys, which must hold the value acknowledged (each key is written once). Every
 * error reply or rejection is recorded: the clients' own retries are the only ones allowed.
 */
function startLoad(loops: number, clientFor: (loop: number) => Cluster | Redis): Load {
  const acked = new Map<string, string>();
  const errors: string[] = [];
  let running = true;
  let ops = 0;
  const work = Array.from({ length: loops }, async (_, w) => {
    const client = clientFor(w);
    const mine: string[] = [];
    for (let i = 0; running; i++) {
      const key = `load:${w}:${i}`;
      try {
        expect(await client.set(key, `v${i}`)).toBe('OK');
        acked.set(key, `v${i}`);
        mine.push(key);
        const old = mine[Math.floor(Math.random() * mine.length)]!;
        const value = await client.get(old);
        if (value !== acked.get(old)) errors.push(`GET ${old}: ${value}, acknowledged ${acked.get(old)}`);
        ops += 2;
      } catch (err) {
        errors.push(`${key}: ${(err as Error).message}`);
      }
    }
  });
  return {
    acked,
    errors,
    ops: () => ops,
    stop: async () => {
      running = false;
      await Promise.all(work);
    },
  };
}

/** Runs an admin call that must succeed. */
async function operate(node: NodeProcess, ...args: string[]): Promise<void> {
  const r = await admin(node, ...args);
  expect(r.code, `admin ${args.join(' ')}: ${r.stderr}`).toBe(0);
}

/** Until the load made `n` more operations (so that each change happens under load). */
async function moreOps(load: Load, n: number): Promise<void> {
  const target = load.ops() + n;
  const deadline = Date.now() + 60_000;
  while (load.ops() < target) {
    if (Date.now() > deadline) throw new Error(`the load stalled at ${load.ops()} operations; errors: ${load.errors.slice(0, 5).join('; ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The operator's steps one after another, each once the load made `gap` more operations (so that
 * every change happens under load), then the load stopped.
 */
async function changeUnderLoad(load: Load, gap: number, steps: readonly (() => Promise<void>)[]): Promise<void> {
  try {
    for (const step of steps) {
      await moreOps(load, gap);
      await step();
    }
    await moreOps(load, gap);
  } finally {
    await load.stop();
  }
}

describe('clients while groups split and leaders move', () => {
  it('an ioredis Cluster and redis-cli -c see no error under splits, leader transfers and a replica move', async () => {
    const c = await TestCluster.start({ extraArgs: ['--groups', '3', '--cluster-mode'] });
    const io = new Cluster([{ host: '127.0.0.1', port: c.nodes[0]!.respPort }]);
    io.on('error', () => {});
    try {
      await clusterReady(c);
      const [n1, n2, n3] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      const load = startLoad(4, () => io);
      // redis-cli -c through each node in turn, on keys of every group: it follows -MOVED.
      const cliErrors: string[] = [];
      let cliRunning = true;
      const cli = (async () => {
        for (let i = 0; cliRunning; i++) {
          const node = c.nodes[i % 3]!;
          const key = `cli:${i}`;
          const set = await redisCli('-c', '-p', String(node.respPort), 'SET', key, `c${i}`);
          const get = await redisCli('-c', '-p', String(c.nodes[(i + 1) % 3]!.respPort), 'GET', key);
          if (set !== 'OK' || get !== `c${i}`) cliErrors.push(`${key} via ${node.id}: SET ${set}, GET ${get}`);
        }
      })();
      try {
        await changeUnderLoad(load, 200, [
          () => operate(n1, 'split', '--group', 'g1'),
          () => operate(n1, 'transfer-leader', '--group', 'g2', '--to', 'n3'),
          () => operate(n3, 'split', '--group', 'g3'),
          async () => {
            await operate(n2, 'transfer-leader', '--group', 'g1', '--to', 'n2');
            await operate(n2, 'transfer-leader', '--group', 'g4', '--to', 'n3');
          },
          async () => {
            const n4 = await c.startJoiner('n4');
            await operate(n2, 'move-replica', '--group', 'g3', '--from', 'n1', '--to', 'n4', '--grpc', `127.0.0.1:${n4.grpcPort}`);
          },
        ]);
      } finally {
        cliRunning = false;
        await cli;
      }
      expect(load.errors).toEqual([]);
      expect(cliErrors).toEqual([]);
      const keys = [...load.acked.keys()];
      expect(await Promise.all(keys.map((k) => io.get(k)))).toEqual([...load.acked.values()]);
    } finally {
      io.disconnect();
      await c.stop();
    }
  }, 300_000);

  it('plain clients of every node see no error under a split and leader moves (no cluster mode)', async () => {
    const c = await TestCluster.start({ extraArgs: ['--groups', '2'] });
    try {
      const [n1, n2, n3] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
      // maxRetriesPerRequest 0: what ioredis would retry on a closed connection counts too.
      const clients = c.nodes.map((n) => c.client(n, { commandTimeout: 20_000 }));
      const load = startLoad(6, (w) => clients[w % clients.length]!);
      await changeUnderLoad(load, 300, [
        () => operate(n2, 'split', '--group', 'g1'),
        async () => {
          await operate(n3, 'transfer-leader', '--group', 'g2', '--to', 'n1');
          await operate(n1, 'transfer-leader', '--group', 'g3', '--to', 'n3');
        },
        () => operate(n1, 'transfer-leader', '--group', 'meta', '--to', 'n2'),
      ]);
      expect(load.errors).toEqual([]);
      for (const client of clients) expect(await Promise.all([...load.acked.keys()].map((k) => client.get(k)))).toEqual([...load.acked.values()]);
    } finally {
      await c.stop();
    }
  }, 240_000);
});
