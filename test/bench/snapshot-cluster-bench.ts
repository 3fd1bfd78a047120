/**
 * Snapshots in a real 3-node cluster holding many keys (default 1,000,000; 16-byte keys, 100-byte
 * values), measured from the outside as an operator would see them:
 *
 *   1. GET/SET latency (HDR histograms) of 10 closed-loop clients on the leader, first with
 *      nothing else going on, then while every node writes a snapshot of all the keys at once
 *      (`quorumkv admin snapshot` on each): the stall a snapshot causes is the difference.
 *   2. Restart time of a node killed with kill -9, from spawn to serving (LOADING over): once
 *      with only its log to replay (before any snapshot), once from its snapshot.
 *   3. Catch-up of a new, empty node added with `admin add-node`: the leader's log is compacted,
 *      so it is caught up by InstallSnapshot; time from add-node until it is a voter with every
 *      key.
 *
 *   npm run bench:snapshot-cluster
 *   QKV_BENCH_KEYS=200000 QKV_BENCH_SECONDS=5 npm run bench:snapshot-cluster
 */
import hdr from 'hdr-histogram-js';
import type { Redis } from 'ioredis';
import { TestCluster, admin, until, type NodeProcess } from '../integration/cluster_harness.js';

const keyCount = Number(process.env.QKV_BENCH_KEYS ?? 1_000_000);
const seconds = Number(process.env.QKV_BENCH_SECONDS ?? 5);
const clients = 10;
const value = Buffer.alloc(100, 'v');
const keyOf = (i: number): string => `key:${String(i).padStart(12, '0')}`; // 16 bytes

interface LatencyRow {
  phase: string;
  ops: number;
  getP50: number;
  getP99: number;
  getP999: number;
  getMax: number;
  setP50: number;
  setP99: number;
  setP999: number;
  setMax: number;
}

async function main(): Promise<void> {
  const cluster = await TestCluster.start({ extraArgs: ['--snapshot-entries', '1000000000', '--log-level', 'warn'] });
  try {
    const leader = await cluster.waitForLeader();
    const loadStart = performance.now();
    await load(cluster, leader);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    progress(`loaded ${keyCount} keys in ${loadSeconds.toFixed(1)} s (${Math.round(keyCount / loadSeconds)} keys/s)`);

    const follower = cluster.nodes.find((n) => n !== leader)!;
    const restartFromLog = await restartTime(cluster, follower);
    progress(`restart with only the log (${keyCount} writes to replay): ${restartFromLog} ms`);

    const rows: LatencyRow[] = [];
    rows.push(await probe(cluster, leader, 'no snapshot', () => sleep(seconds * 1000)));
    let snapshotMs = 0;
    const snapshotOn = (nodes: NodeProcess[]) => async (): Promise<void> => {
      const started = performance.now();
      const results = await Promise.all(nodes.map((n) => admin(n, 'snapshot')));
      snapshotMs = Math.round(performance.now() - started);
      for (const r of results) if (r.code !== 0) throw new Error(`admin snapshot failed: ${r.stderr}`);
    };
    rows.push(await probe(cluster, leader, 'the leader writing a snapshot', snapshotOn([leader])));
    const leaderSnapshotMs = snapshotMs;
    rows.push(await probe(cluster, leader, 'one follower writing a snapshot', snapshotOn([follower])));
    rows.push(await probe(cluster, leader, 'all 3 nodes writing a snapshot', snapshotOn(cluster.nodes)));
    progress(`snapshot of ${keyCount} keys: ${leaderSnapshotMs} ms on the leader alone, ${snapshotMs} ms on all 3 at once`);

    const restartFromSnapshot = await restartTime(cluster, follower);
    progress(`restart from the snapshot: ${restartFromSnapshot} ms`);

    const catchUp = await catchUpTime(cluster, leader);
    progress(`new node caught up by InstallSnapshot: ${catchUp} ms`);

    console.log(`\n## Snapshots with ${keyCount} keys (16 B keys, 100 B values), 3 nodes on one machine\n`);
    console.log('| phase | ops | GET p50 | GET p99 | GET p99.9 | GET max | SET p50 | SET p99 | SET p99.9 | SET max |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      console.log(`| ${r.phase} | ${r.ops} | ${ms(r.getP50)} | ${ms(r.getP99)} | ${ms(r.getP999)} | ${ms(r.getMax)} | ${ms(r.setP50)} | ${ms(r.setP99)} | ${ms(r.setP999)} | ${ms(r.setMax)} |`);
    }
    console.log('');
    console.log(`| measure | value |`);
    console.log(`| --- | ---: |`);
    console.log(`| load (pipelined SET) | ${Math.round(keyCount / loadSeconds)} keys/s |`);
    console.log(`| snapshot, leader alone | ${leaderSnapshotMs} ms |`);
    console.log(`| snapshot, all 3 nodes at once | ${snapshotMs} ms |`);
    console.log(`| restart, log replay only | ${restartFromLog} ms |`);
    console.log(`| restart, from the snapshot | ${restartFromSnapshot} ms |`);
    console.log(`| new node caught up (InstallSnapshot) | ${catchUp} ms |`);
    console.log(JSON.stringify({ keyCount, loadKeysPerSec: Math.round(keyCount / loadSeconds), leaderSnapshotMs, snapshotMs, restartFromLog, restartFromSnapshot, catchUp, rows }));
  } finally {
    await cluster.stop();
  }
}

async function load(cluster: TestCluster, leader: NodeProcess): Promise<void> {
  const writers = 4;
  const batch = 5000;
  let next = 0;
  let lastReport = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      const client = cluster.client(leader, { commandTimeout: 60_000 });
      for (;;) {
        const from = next;
        if (from >= keyCount) return;
        next += batch;
        // SET is idempotent: a batch that met a leader change (-UNKNOWN, -CLUSTERDOWN) is sent again.
        for (let attempt = 1; ; attempt++) {
          const pipeline = client.pipeline();
          for (let i = from; i < Math.min(keyCount, from + batch); i++) pipeline.set(keyOf(i), value);
          const failed = ((await pipeline.exec()) ?? []).find(([err]) => err)?.[0];
          if (!failed) break;
          if (attempt === 5) throw failed;
          progress(`  batch at ${from} failed (${failed.message}); again`);
        }
        if (next - lastReport >= 100_000) {
          lastReport = next;
          progress(`  loaded ${Math.min(next, keyCount)}`);
        }
      }
    }),
  );
}

/** Closed-loop GET/SET clients on `node` while `during` runs (and at least `seconds`). */
async function probe(cluster: TestCluster, node: NodeProcess, phase: string, during: () => Promise<void>): Promise<LatencyRow> {
  const get = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const set = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let running = true;
  let ops = 0;
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const loops = Array.from({ length: clients }, async (_, c) => {
    const client: Redis = cluster.client(node, { commandTimeout: 30_000 });
    for (let i = 0; running; i++) {
      const key = keyOf(Math.floor(random() * keyCount));
      const t0 = performance.now();
      if ((i + c) % 2 === 0) {
        await client.get(key);
        get.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      } else {
        await client.set(key, value);
        set.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      }
      ops++;
    }
  });
  const started = performance.now();
  await during();
  const left = seconds * 1000 - (performance.now() - started);
  if (left > 0) await sleep(left);
  running = false;
  await Promise.all(loops);
  const row: LatencyRow = {
    phase,
    ops,
    getP50: get.getValueAtPercentile(50),
    getP99: get.getValueAtPercentile(99),
    getP999: get.getValueAtPercentile(99.9),
    getMax: get.maxValue,
    setP50: set.getValueAtPercentile(50),
    setP99: set.getValueAtPercentile(99),
    setP999: set.getValueAtPercentile(99.9),
    setMax: set.maxValue,
  };
  progress(`${phase}: ${ops} ops, GET p99 ${ms(row.getP99)}, SET p99 ${ms(row.setP99)}, max ${ms(Math.max(row.getMax, row.setMax))}`);
  return row;
}

/** kill -9, restart, and time from spawn until the node answers a read with the data. */
async function restartTime(cluster: TestCluster, node: NodeProcess): Promise<number> {
  await cluster.kill(node);
  const started = performance.now();
  cluster.spawn(node);
  await cluster.waitForPort(node.respPort, 120_000);
  const client = cluster.client(node, { commandTimeout: 10_000 });
  await until('serving after restart', async () => (await client.get(keyOf(keyCount - 1))) !== null, 300_000);
  return Math.round(performance.now() - started);
}

async function catchUpTime(cluster: TestCluster, leader: NodeProcess): Promise<number> {
  const joiner = await cluster.startJoiner('n9');
  const target = Number((await cluster.raftInfo(leader)).raft_commit_index);
  const started = performance.now();
  const added = await admin(leader, 'add-node', '--id', 'n9', '--grpc', `127.0.0.1:${joiner.grpcPort}`);
  if (added.code !== 0) throw new Error(`add-node failed: ${added.stderr}`);
  await until(
    'n9 promoted with every key',
    async () => {
      const info = await cluster.raftInfo(joiner);
      return info.raft_role === 'follower' && Number(info.raft_snapshots_installed) >= 1 && Number(info.raft_applied_index) >= target;
    },
    600_000,
  );
  const elapsed = Math.round(performance.now() - started);
  const client = cluster.client(joiner, { commandTimeout: 30_000 });
  if ((await client.get(keyOf(keyCount - 1))) === null) throw new Error('n9 does not have the last key');
  if ((await client.dbsize()) < keyCount) throw new Error(`n9 has ${await client.dbsize()} keys`);
  return elapsed;
}

const ms = (micros: number): string => `${(micros / 1000).toFixed(2)} ms`;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));
function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
