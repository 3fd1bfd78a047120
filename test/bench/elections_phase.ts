/**
 * Elections under load without faults: `seconds` of full load on the leader (redis-benchmark
 * looping SET with 50 clients, plus the Node generator's 50/50 mix with 50 more), while INFO raft
 * is polled on every node. Any term change is an election nobody asked for: the load starved a
 * heartbeat or a follower's election timer fired.
 */
import type { Cell } from './bench_plan.js';
import type { BenchCluster } from './bench_servers.js';
import { runNodeLoad } from './node_load.js';
import { progress, sleep } from './progress.js';
import { loopRedisBenchmark } from './redis_benchmark.js';
import type { ElectionsReport } from './report.js';

export async function runElections(cluster: BenchCluster, seconds: number, redisBenchmark: boolean): Promise<ElectionsReport> {
  const leader = await cluster.leader();
  const termBefore = await cluster.term();
  const setLoad: Cell = { workload: 'set', clients: 50, pipeline: 1, valueBytes: 100 };
  const background = redisBenchmark ? loopRedisBenchmark(leader.respPort, setLoad) : null;
  const load = `${redisBenchmark ? 'redis-benchmark SET 50 clients (looping) + ' : ''}Node generator 50/50 GET/SET 50 clients, on the leader ${leader.id}`;
  progress(`elections: ${seconds} s of ${load}; term ${termBefore}`);

  let leaderChanges = 0;
  let lastLeader = leader.id;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await sleep(500);
      for (const n of cluster.nodes) {
        try {
          const info = await cluster.cluster.raftInfo(n);
          if (info.raft_role === 'leader' && info.raft_node_id !== lastLeader) {
            leaderChanges++;
            progress(`elections: leader changed ${lastLeader} → ${info.raft_node_id} (term ${info.raft_term})`);
            lastLeader = info.raft_node_id ?? lastLeader;
          }
        } catch {
          // a node too busy to answer within the probe's timeout: the term tells at the end
        }
      }
    }
  })();
  try {
    const mix = await runNodeLoad({ port: leader.respPort, workload: 'mix', clients: 50, pipeline: 1, valueBytes: 100, keyspace: 100_000, seconds, warmupSeconds: 0, seed: 99 });
    const termAfter = await cluster.term();
    const report = { seconds, load, termBefore, termAfter, elections: termAfter - termBefore, leaderChanges, opsPerSec: mix.opsPerSec };
    progress(`elections: ${report.elections} (term ${termBefore} → ${termAfter}); mix ${Math.round(mix.opsPerSec)} ops/s beside the SET loop`);
    return report;
  } finally {
    polling = false;
    await poller;
    await background?.stop();
  }
}
