/**
 * Raft benchmark: three in-process group members with real disk logs (FileLog, fsync on), an
 * in-process network, and 1, 16 and 256 concurrent proposers on the leader. Prints committed
 * proposals per second and fsyncs per second (leader and whole group).
 *
 *   npm run bench:raft
 *   QKV_BENCH_SECONDS=5 QKV_BENCH_VALUE_BYTES=100 npm run bench:raft
 *
 * Runs in a temp dir under os.tmpdir(), removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftGroup } from '../../src/node/raft_group.js';
import { FileLog } from '../../src/storage/file_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import { SeededRandom } from '../../src/util/random.js';

const seconds = Number(process.env.QKV_BENCH_SECONDS ?? 3);
const valueBytes = Number(process.env.QKV_BENCH_VALUE_BYTES ?? 100);
const concurrencies = [1, 16, 256] as const;
const tickMs = 10;

interface Row {
  proposers: number;
  commitsPerSec: number;
  leaderFsyncsPerSec: number;
  groupFsyncsPerSec: number;
  entriesPerFsync: number;
  p50Ms: number;
  p99Ms: number;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'qkv-raft-bench-'));
  const ids = ['n1', 'n2', 'n3'];
  const network = new LocalNetwork();
  const groups: RaftGroup[] = [];
  let applied = 0;
  try {
    for (const [i, id] of ids.entries()) {
      const group = await RaftGroup.open({
        groupId: 'g0',
        nodeId: id,
        log: new FileLog({ dir: join(dir, id), groupId: 'g0' }),
        stateMachine: { apply: () => ++applied, applyMemberChange: () => {} },
        transport: network.transportFor(id),
        bootstrapVoters: ids,
        random: new SeededRandom(i + 1),
        raft: { electionTick: 20, heartbeatTick: 2 },
      });
      network.register(id, group);
      groups.push(group);
    }
    const timer = setInterval(() => {
      for (const g of groups) g.tick();
    }, tickMs);
    try {
      const leader = await waitForLeader(groups);
      console.log(`leader ${leader.nodeId}; ${seconds}s per case, ${valueBytes}-byte values, fsync on\n`);
      const rows: Row[] = [];
      for (const proposers of concurrencies) rows.push(await runCase(leader, groups, proposers));
      console.log('| proposers | commits/s | leader fsyncs/s | group fsyncs/s | entries/fsync | p50 ms | p99 ms |');
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const r of rows) {
        console.log(
          `| ${r.proposers} | ${r.commitsPerSec.toFixed(0)} | ${r.leaderFsyncsPerSec.toFixed(0)} | ${r.groupFsyncsPerSec.toFixed(0)} | ${r.entriesPerFsync.toFixed(1)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`,
        );
      }
    } finally {
      clearInterval(timer);
    }
  } finally {
    for (const g of groups) await g.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function waitForLeader(groups: readonly RaftGroup[]): Promise<RaftGroup> {
  for (;;) {
    const leader = groups.find((g) => g.isLeader());
    if (leader) {
      await leader.propose(new Uint8Array(0)); // a first commit in its term
      return leader;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runCase(leader: RaftGroup, groups: readonly RaftGroup[], proposers: number): Promise<Row> {
  const payload = new Uint8Array(valueBytes).fill(120);
  const latencies: number[] = [];
  const before = groups.map((g) => g.stats.fsyncs);
  const leaderEntriesBefore = leader.stats.entriesPersisted;
  let commits = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await leader.propose(payload);
      latencies.push(performance.now() - t0);
      commits++;
    }
  };
  await Promise.all(Array.from({ length: proposers }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const fsyncs = groups.map((g, i) => g.stats.fsyncs - before[i]);
  const leaderIndex = groups.indexOf(leader);
  const leaderFsyncs = fsyncs[leaderIndex];
  latencies.sort((a, b) => a - b);
  const row: Row = {
    proposers,
    commitsPerSec: commits / elapsed,
    leaderFsyncsPerSec: leaderFsyncs / elapsed,
    groupFsyncsPerSec: fsyncs.reduce((a, b) => a + b, 0) / elapsed,
    entriesPerFsync: (leader.stats.entriesPersisted - leaderEntriesBefore) / Math.max(1, leaderFsyncs),
    p50Ms: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  };
  console.log(`proposers=${proposers}: ${row.commitsPerSec.toFixed(0)} commits/s`);
  return row;
}

await main();
