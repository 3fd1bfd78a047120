/**
 * What the benches ask of a running cluster's groups: each node's INFO over RESP, the leader
 * each node sees for each group, and a wait until every group has one leader all nodes agree on.
 */
import { infoFields } from '../../jepsen-lite/node_probe.js';
import type { NodeProcess, TestCluster } from '../integration/cluster_harness.js';
import { sleep } from './progress.js';

/** One INFO section of a node, parsed (2 s to answer: a node busy starting may be slow). */
export function nodeInfo(n: NodeProcess, section: string): Promise<Record<string, string>> {
  return infoFields(n.respPort, section, 2_000);
}

/** Group ids of INFO raft (the unprefixed fields are the meta group's) with their leader as this node sees it. */
export function leadersOf(fields: Record<string, string>): Map<string, string> {
  const leaders = new Map<string, string>();
  for (const [k, v] of Object.entries(fields)) {
    const m = /^(?:(g\d+)_)?raft_leader_id$/.exec(k);
    if (m) leaders.set(m[1] ?? 'meta', v);
  }
  return leaders;
}

/**
 * Until every node sees a leader for every group it hosts (`groups` data groups and the meta
 * group), all agree, and, with `spread`, the data groups' leaders are on as many distinct nodes
 * as there can be (the meta group's leader balancing has done its work). Returns the leaders.
 */
export async function waitAllLeaders(c: TestCluster, groups: number, options: { timeoutMs?: number; spread?: boolean } = {}): Promise<Map<string, string>> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const views = await Promise.all(c.nodes.map(async (n) => leadersOf(await nodeInfo(n, 'raft'))));
      const agreed = new Map<string, string>();
      let ok = views.every((v) => v.size >= groups + 1);
      for (const v of views) {
        for (const [g, l] of v) {
          if (l === '') ok = false;
          if (agreed.has(g) && agreed.get(g) !== l) ok = false;
          agreed.set(g, l);
        }
      }
      if (ok && options.spread) {
        const dataLeaders = new Set([...agreed].filter(([g]) => g !== 'meta').map(([, l]) => l));
        ok = dataLeaders.size === Math.min(groups, c.nodes.length);
      }
      if (ok) return agreed;
    } catch {
      // a node busy starting
    }
    if (Date.now() > deadline) throw new Error(`not every group had one agreed leader${options.spread ? ' (spread over the nodes)' : ''} within ${timeoutMs} ms`);
    await sleep(250);
  }
}
