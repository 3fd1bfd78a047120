/**
 * Failover time: kill -9 the leader, and time until the first write acknowledged by the cluster
 * that was sent after the kill.
 *
 * Writers on both surviving nodes send `SET` every 5 ms without waiting for earlier replies (a
 * follower forwards writes to the leader, so a write sent to either survivor is acknowledged as
 * soon as a new leader commits it). No other load runs. Between kills the old leader is restarted
 * and waited for until it has applied everything the cluster had committed, so that every kill
 * starts from a healthy 3-node cluster.
 */
import { Redis } from 'ioredis';
import type { BenchCluster } from './bench_servers.js';
import { median } from './report.js';
import type { FailoverReport } from './report.js';
import { progress, sleep } from './progress.js';

const probeEveryMs = 5;

export async function runFailover(cluster: BenchCluster, kills: number): Promise<FailoverReport> {
  const killsMs: number[] = [];
  for (let k = 1; k <= kills; k++) {
    const leader = await cluster.leader();
    const survivors = cluster.nodes.filter((n) => n !== leader && n.child);
    const clients = survivors.map((n) => new Redis({ port: n.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0 }));
    for (const c of clients) c.on('error', () => {});
    try {
      for (const c of clients) await c.set('failover:probe', 'ready');
      let killedAt = Number.POSITIVE_INFINITY;
      let firstAck: number | undefined;
      const timer = setInterval(() => {
        for (const c of clients) {
          const sentAt = performance.now();
          c.set('failover:probe', String(sentAt)).then(
            () => {
              if (sentAt >= killedAt && firstAck === undefined) firstAck = performance.now();
            },
            () => {},
          );
        }
      }, probeEveryMs);
      await sleep(200);
      killedAt = performance.now();
      await cluster.cluster.kill(leader);
      const deadline = killedAt + 30_000;
      while (firstAck === undefined && performance.now() < deadline) await sleep(5);
      clearInterval(timer);
      if (firstAck === undefined) throw new Error(`no write acknowledged within 30 s of killing ${leader.id}\n${cluster.cluster.logs()}`);
      const elapsed = firstAck - killedAt;
      killsMs.push(elapsed);
      const newLeader = await cluster.leader();
      progress(`failover ${k}/${kills}: killed ${leader.id}, first acknowledged write after ${Math.round(elapsed)} ms, new leader ${newLeader.id}`);
    } finally {
      for (const c of clients) c.disconnect();
    }
    await cluster.cluster.restart(leader);
    await caughtUp(cluster, leader.id);
  }
  return { killsMs, medianMs: median(killsMs) };
}

/** Waits until node `id` has applied the leader's commit index as it was when we started waiting. */
async function caughtUp(cluster: BenchCluster, id: string): Promise<void> {
  const leader = await cluster.leader();
  const target = Number((await cluster.cluster.raftInfo(leader)).raft_commit_index);
  const node = cluster.nodes.find((n) => n.id === id)!;
  const deadline = performance.now() + 60_000;
  for (;;) {
    try {
      if (Number((await cluster.cluster.raftInfo(node)).raft_applied_index) >= target) return;
    } catch {
      // still starting
    }
    if (performance.now() > deadline) throw new Error(`${id} did not catch up to ${target} within 60 s`);
    await sleep(100);
  }
}
