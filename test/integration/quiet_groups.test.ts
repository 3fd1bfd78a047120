/**
 * Quiet groups through real processes: a 3-node cluster made with --groups 16 goes quiet when
 * idle (INFO raft: every replica quiet, the node's Raft message counters flat while its liveness
 * beats go on), serves writes and reads at once from that state (one key in every group, written
 * through every node), goes quiet again, and when a node that leads quiet groups is killed -9,
 * the other two elect new leaders for them and lose no acknowledged write.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialLayout } from '../../src/cluster/layout.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { parseInfo } from '../../jepsen-lite/node_probe.js';
import { TestCluster, type NodeProcess, until } from './cluster_harness.js';

const groups = 16;
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--groups', String(groups)], startTimeoutMs: 60_000 });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

async function raft(n: NodeProcess): Promise<Record<string, string>> {
  const c = new Redis({ port: n.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true, commandTimeout: 2_000 });
  c.on('error', () => {});
  try {
    await c.connect();
    return parseInfo(await c.info('raft'));
  } finally {
    c.disconnect();
  }
}

const dataGroups = Array.from({ length: groups }, (_, i) => `g${i + 1}`);

/** One key in each data group, by the layout's slot ranges (as the nodes compute them). */
function keyPerGroup(stem: string): Map<string, string> {
  const layout = initialLayout(['n1', 'n2', 'n3'], groups, 3);
  const keys = new Map<string, string>();
  for (let i = 0; keys.size < groups; i++) {
    const key = `${stem}:${i}`;
    const slot = keyHashSlot(Buffer.from(key));
    const g = layout.data.find((d) => d.slots.some(([a, b]) => slot >= a && slot <= b))!;
    if (!keys.has(g.id)) keys.set(g.id, key);
  }
  return keys;
}

/** Every node's INFO raft says every replica it hosts is quiet. */
async function allQuiet(nodes: readonly NodeProcess[]): Promise<boolean> {
  for (const n of nodes) {
    const info = await raft(n);
    if (Number(info.raft_groups) !== groups + 1 || info.raft_quiet_groups !== info.raft_groups) return false;
  }
  return true;
}

/** Which node leads each group, as `from` sees it ('' when none). */
function leaders(info: Record<string, string>): Map<string, string> {
  return new Map(dataGroups.map((g) => [g, info[`${g}_raft_leader_id`] ?? '']));
}

describe('quiet groups (3 nodes, --groups 16)', () => {
  it('go quiet when idle: no Raft messages, only the node liveness beats', async () => {
    await until('every replica on every node quiet', () => allQuiet(cluster.nodes), 60_000);
    // A new cluster settles for a while after its groups first go quiet: the meta group's leader
    // spreads the leaders (each hand-off wakes a group), each group's leader writes its record and
    // each node its addresses into the meta group. So the 3 s windows are measured one after the
    // other until one is silent, for up to a minute: a cluster that keeps waking never gets one.
    const window = async (): Promise<[Record<string, string>[], Record<string, string>[]]> => {
      const first = await Promise.all(cluster.nodes.map(raft));
      await new Promise((r) => setTimeout(r, 3_000));
      return [first, await Promise.all(cluster.nodes.map(raft))];
    };
    const sentIn = (w: [Record<string, string>[], Record<string, string>[]], i: number): number => Number(w[1][i]!.raft_messages_sent) - Number(w[0][i]!.raft_messages_sent);
    const settleBy = Date.now() + 60_000;
    let [before, after] = await window();
    while (cluster.nodes.some((_, i) => sentIn([before, after], i) >= groups + 1) && Date.now() < settleBy) [before, after] = await window();
    cluster.nodes.forEach((n, i) => {
      const sent = Number(after[i]!.raft_messages_sent) - Number(before[i]!.raft_messages_sent);
      const beats = Number(after[i]!.raft_liveness_beats_received) - Number(before[i]!.raft_liveness_beats_received);
      // Awake, 17 groups heartbeat every 100 ms tick: each node would send some 700 messages in
      // 3 s (its leaders' heartbeats and its followers' answers). Quiet, none, but for the odd
      // housekeeping write (a meta record, a leadership hand-off): allow one per group.
      expect(sent, `${n.id} sent ${sent} Raft messages in 3 s of idling`).toBeLessThan(groups + 1);
      // Liveness goes on: one beat per peer per tick, about 60 from the two peers in 3 s.
      expect(beats, `${n.id} received ${beats} liveness beats in 3 s`).toBeGreaterThan(20);
    });
  }, 90_000);

  it('serve writes and reads at once, through every node, then go quiet again', async () => {
    await until('every replica quiet', () => allQuiet(cluster.nodes), 30_000);
    const keys = keyPerGroup('woken');
    for (const n of cluster.nodes) {
      const client = cluster.client(n, { commandTimeout: 5_000 });
      for (const [g, key] of keys) expect(await client.set(`${key}:${n.id}`, `${g}-${n.id}`)).toBe('OK');
      for (const [g, key] of keys) expect(await client.get(`${key}:${n.id}`)).toBe(`${g}-${n.id}`);
    }
    await until('quiet again after the writes', () => allQuiet(cluster.nodes), 30_000);
  }, 90_000);

  it('elect new leaders for the quiet groups of a node killed -9, and lose no acknowledged write', async () => {
    await until('every replica quiet', () => allQuiet(cluster.nodes), 30_000);
    // Acknowledged writes, one per group, before the kill.
    const keys = keyPerGroup('kept');
    const writer = cluster.client(cluster.nodes[0]!, { commandTimeout: 5_000 });
    for (const [g, key] of keys) expect(await writer.set(key, g)).toBe('OK');
    await until('quiet again', () => allQuiet(cluster.nodes), 30_000);
    // The node leading the most data groups (each node leads about a third once leaders spread).
    const view = leaders(await raft(cluster.nodes[0]!));
    const victim = [...cluster.nodes].sort((a, b) => [...view.values()].filter((l) => l === b.id).length - [...view.values()].filter((l) => l === a.id).length)[0]!;
    const led = dataGroups.filter((g) => view.get(g) === victim.id);
    expect(led.length).toBeGreaterThan(0);
    const survivors = cluster.nodes.filter((n) => n !== victim);
    const killedAt = Date.now();
    await cluster.kill(victim);
    // Within seconds (liveness notices after an election timeout, 1 s; elections follow), every
    // group it led has a leader among the survivors, and both survivors agree on it.
    await until(
      `new leaders for ${led.join(',')}`,
      async () => {
        const views = await Promise.all(survivors.map(async (n) => leaders(await raft(n))));
        return led.every((g) => {
          const l = views[0]!.get(g);
          return l !== '' && l !== victim.id && views.every((v) => v.get(g) === l);
        });
      },
      15_000,
    );
    console.log(`quiet groups: ${led.length} groups of ${victim.id} had new leaders ${Date.now() - killedAt} ms after kill -9`);
    for (const n of survivors) {
      const client = cluster.client(n, { commandTimeout: 5_000 });
      for (const [g, key] of keys) expect(await client.get(key), `${key} (${g}) through ${n.id}`).toBe(g);
      for (const g of led) expect(await client.set(`after:${g}:${n.id}`, 'x')).toBe('OK');
    }
  }, 120_000);
});
