/**
 * What the real-process tests of --cluster-mode share: redis-cli, a node's CLUSTER NODES, the wait
 * for a new 3-group cluster to settle (each node leading one group, with its RESP port), and keys
 * whose slot is in a given group.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { clusterNodeId } from '../../src/cluster/node_ids.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { until, type NodeProcess, type TestCluster } from './cluster_harness.js';

const run = promisify(execFile);

/** The slots of the groups of a new --groups 3 cluster. */
export const ranges: Record<'g1' | 'g2' | 'g3', [number, number]> = { g1: [0, 5460], g2: [5461, 10922], g3: [10923, 16383] };

export async function redisCli(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', args, { timeout: 30_000 });
  return stdout.trim();
}

/** CLUSTER NODES of a node, as [quorumkv id, port, slots] per line. */
export async function clusterNodes(cluster: TestCluster, n: NodeProcess): Promise<[string, number, string][]> {
  const byId = new Map(cluster.nodes.map((node) => [clusterNodeId(node.id), node.id]));
  const text = await redisCli('-p', String(n.respPort), 'CLUSTER', 'NODES');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [id, address, , , , , , , ...slots] = line.split(' ');
      return [byId.get(id!) ?? id!, Number(address!.split('@')[0]!.split(':')[1]), slots.join(' ')];
    });
}

/** Until every node says: n1, n2, n3 each lead one group, and each registered its RESP port. */
export async function clusterReady(cluster: TestCluster, timeoutMs = 60_000): Promise<void> {
  const expected = cluster.nodes.map((n, i) => [n.id, n.respPort, ranges[`g${i + 1}` as keyof typeof ranges].join('-')]);
  await until(
    'the cluster to show each node leading one group, with its RESP port',
    async () => {
      for (const n of cluster.nodes) {
        if (JSON.stringify(await clusterNodes(cluster, n)) !== JSON.stringify(expected)) return false;
      }
      return true;
    },
    timeoutMs,
  );
}

/** A key (with a hash tag, so that several can share a slot) whose slot is in group `group`. */
export function tagIn(group: keyof typeof ranges, stem: string): string {
  const [first, last] = ranges[group];
  for (let i = 0; ; i++) {
    const slot = keyHashSlot(Buffer.from(`${stem}${i}`));
    if (slot >= first && slot <= last) return `{${stem}${i}}`;
  }
}
