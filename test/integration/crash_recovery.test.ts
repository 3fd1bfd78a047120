/**
 * The guarantee "acknowledged means durable", against real processes and kill -9:
 * - the leader is killed while 8 clients write through all three nodes: writes started after
 *   the kill are acknowledged (the survivors elect a leader), and every acknowledged write reads
 *   back from every node afterwards (how fast failover is: `npm run bench`, failover phase);
 * - all three nodes are killed and restarted: every acknowledged write is there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster, until } from './cluster_harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

interface Writer {
  acked: Map<string, string>;
  /** Times (ms since start) at which acknowledged writes were sent. */
  sentTimes: number[];
  stop: () => Promise<void>;
}

/** `count` clients, round-robin over the nodes, each writing unique keys as fast as it can. */
function startWriters(c: TestCluster, count: number, t0: number): Writer {
  const acked = new Map<string, string>();
  const sentTimes: number[] = [];
  let running = true;
  const loops = Array.from({ length: count }, async (_, w) => {
    let node = c.nodes[w % c.nodes.length];
    let client = c.client(node, { commandTimeout: 2_000 });
    for (let i = 0; running; i++) {
      const key = `w${w}:${i}`;
      const value = `v${w}-${i}`;
      const sentAt = Date.now() - t0;
      try {
        if ((await client.set(key, value)) === 'OK') {
          acked.set(key, value);
          sentTimes.push(sentAt);
        }
      } catch {
        // Errors (node down, no leader yet, outcome unknown) are allowed: only acks count.
        await new Promise((r) => setTimeout(r, 50));
        const live = c.nodes.find((n) => n.child);
        if (!node.child && live) {
          // Our node was killed: carry on through a live one.
          node = live;
          client = c.client(live, { commandTimeout: 2_000 });
        }
      }
    }
  });
  return {
    acked,
    sentTimes,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function expectAllReadable(c: TestCluster, acked: Map<string, string>): Promise<void> {
  for (const n of c.nodes) {
    const client = c.client(n, { commandTimeout: 10_000 });
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const values = await client.mget(...batch);
      batch.forEach((k, j) => expect(values[j], `${k} on ${n.id}`).toBe(acked.get(k)));
    }
  }
}

describe('crash recovery with kill -9', () => {
  it('survives kill -9 of the leader under write load: writes resume, nothing acknowledged is lost', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const t0 = Date.now();
    const writers = startWriters(c, 8, t0);
    // Under write load before the kill, however slowly a loaded machine writes (see below).
    await until('100 acknowledged writes', async () => writers.acked.size > 100, 60_000);
    const leader = (await c.waitForLeader())!;
    const killedAt = Date.now() - t0;
    await c.kill(leader);
    // A write acknowledged after the kill proves nothing if it was sent before it (committed by
    // the old leader, its reply still on the way): the writes that count were sent afterwards.
    // Waited for, not timed: failover speed is the benchmark's figure (a loaded machine's
    // election takes longer); this test is about the survivors taking writes at all.
    const resumed = await until('a write sent after the kill acknowledged', async () => writers.sentTimes.find((t) => t > killedAt), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    await writers.stop();
    console.log(`kill -9 of leader ${leader.id}: first acknowledged write sent ${resumed - killedAt} ms after the kill; ${writers.acked.size} writes acknowledged in all`);
    await c.restart(leader);
    await c.waitForLeader();
    await expectAllReadable(c, writers.acked);
  }, 90_000);

  it('keeps every acknowledged write when all three nodes are killed and restarted', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const writers = startWriters(c, 8, Date.now());
    // Enough acknowledged writes for the check to mean something, however slowly a loaded
    // machine writes them (a fixed 2 s gave 62 under load, and the count assertion failed).
    await until('100 acknowledged writes', async () => writers.acked.size > 100, 60_000);
    // Kill all at once while writes are in flight.
    await Promise.all(c.nodes.map((n) => c.kill(n)));
    await writers.stop();
    console.log(`kill -9 of all nodes: ${writers.acked.size} acknowledged writes to find after restart`);
    for (const n of c.nodes) await c.restart(n);
    await c.waitForLeader();
    await expectAllReadable(c, writers.acked);
  }, 90_000);
});
