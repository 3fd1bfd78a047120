/**
 * The harness's cluster model against real processes (the node must be built: `npm run build`):
 * a partition really stops a node's peer traffic in both directions, also for a replacement
 * that joined with `--join` after a `member` fault, and a removed node is out of the model.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/util/random.js';
import { Cluster, type ClusterNode } from './cluster.js';
import { memberNemesis } from './nemesis.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function applied(c: Cluster, n: ClusterNode): Promise<number> {
  return Number((await c.raftInfo(n)).raft_applied_index ?? -1);
}

/** SETs through `via` until `count` succeeded (a leader may still be being elected). */
async function writes(c: Cluster, via: ClusterNode, count: number): Promise<void> {
  const client = c.client(via, { commandTimeout: 1_000, enableOfflineQueue: true });
  try {
    for (let i = 0, ok = 0; ok < count; i++) {
      if (i > count + 200) throw new Error(`only ${ok} of ${count} writes through ${via.id}`);
      ok += await client.set(`cluster-test:${i}`, String(i)).then(
        () => 1,
        () => sleep(50).then(() => 0),
      );
    }
  } finally {
    client.disconnect();
  }
}

describe('jepsen-lite cluster', () => {
  it('replaces a member, and the replacement is partitioned like any other node', async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const before = c.nodes.map((n) => n.id);
    const member = memberNemesis();
    expect(await member.available(c)).toBe(true);
    const injected = await member.inject(c, new SeededRandom(5));
    const healed = await member.heal(c);
    expect(healed, `${injected}\n${c.logs()}`).toMatch(/is a voter with lag 0/);
    expect(await c.waitHealthy(10_000), c.logs()).toBeNull();

    const fresh = c.nodes.find((n) => !before.includes(n.id))!;
    expect(fresh.id).toBe('n4');
    expect(fresh.joined).toBe(true);
    expect(c.retired).toHaveLength(1);
    expect(c.retired[0]!.child).toBeNull();
    expect(c.nodes.map((n) => n.id)).not.toContain(c.retired[0]!.id);
    expect(c.links.size).toBe(6);
    expect([...c.links.keys()].filter((k) => k.includes('n4'))).toHaveLength(4);

    // Isolated, the replacement applies nothing new while the others go on; healed, it catches up.
    const others = c.nodes.filter((n) => n !== fresh);
    c.partition([fresh.id], others.map((n) => n.id));
    await sleep(1_500); // a leader n4 steps down (CheckQuorum) and the others elect one
    const stalledAt = await applied(c, fresh);
    await writes(c, others[0]!, 30);
    const othersApplied = await applied(c, others[0]!);
    expect(othersApplied).toBeGreaterThan(stalledAt + 20);
    expect(await applied(c, fresh)).toBe(stalledAt);

    c.healNetwork();
    const deadline = Date.now() + 10_000;
    while ((await applied(c, fresh)) < othersApplied && Date.now() < deadline) await sleep(100);
    expect(await applied(c, fresh)).toBeGreaterThanOrEqual(othersApplied);
    expect(await c.waitHealthy(10_000), c.logs()).toBeNull();
  }, 60_000);

  it('a one-way cut is one-way: the node still receives but its replies are lost', async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n !== leader)!;
    // First the leader must have heard the follower acknowledge: until then it probes it, one
    // append at a time, each waiting for an answer that the cut would lose, and the follower would
    // receive nothing new. On a loaded machine the cut came before the first acknowledgement (the
    // follower stayed at its applied index for the 5 s), so: a write, then lag 0 on the leader.
    await writes(c, leader, 1);
    const deadlineAcked = Date.now() + 10_000;
    let lag: number | undefined;
    while ((lag = (await c.memberStatus().catch(() => undefined))?.members.find((m) => m.nodeId === follower.id)?.lag) !== 0 && Date.now() < deadlineAcked) await sleep(100);
    expect(lag, `${follower.id}'s lag on the leader`).toBe(0);
    // Only follower→* is cut: it hears the leader, so it applies new entries...
    for (const n of c.nodes) if (n !== follower) c.link(follower.id, n.id).cut();
    const before = await applied(c, follower);
    await writes(c, leader, 10);
    const deadline = Date.now() + 5_000;
    while ((await applied(c, follower)) < before + 10 && Date.now() < deadline) await sleep(100);
    expect(await applied(c, follower)).toBeGreaterThanOrEqual(before + 10);
    // ...and its acknowledgements never arrive: the leader's admin status shows it lagging.
    const status = await c.memberStatus();
    expect(status?.leader).toBe(leader);
    expect(status?.members.find((m) => m.nodeId === follower.id)?.lag ?? 0).toBeGreaterThanOrEqual(10);
    expect(c.cutLinks().sort()).toEqual(c.nodes.filter((n) => n !== follower).map((n) => `${follower.id}→${n.id}`).sort());
    c.healNetwork();
    expect(await c.waitHealthy(10_000), c.logs()).toBeNull();
  }, 60_000);
});
