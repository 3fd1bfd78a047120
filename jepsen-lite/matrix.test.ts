/**
 * Every workload under every nemesis, in short runs against real clusters: each run goes round
 * all six nemeses in a seeded order (`schedule: 'each'`, 2 s faults, 1 s quiet) and must end with
 * a valid history in which every nemesis injected at least once (from the run's recorded faults).
 * The seed is printed; `JEPSEN_SEED=N` replays.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from './cluster.js';
import { run } from './runner.js';

const seed = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 1_000_000);
const nemeses = ['partition', 'kill', 'pause', 'transfer-leader', 'kill-all', 'member'] as const;
let runsDir = '';

beforeAll(async () => {
  runsDir = await mkdtemp(join(tmpdir(), 'qkv-jepsen-matrix-'));
  console.log(`jepsen-lite matrix seed: ${seed} (JEPSEN_SEED=${seed} to replay)`);
});

afterAll(async () => {
  if (runsDir) await rm(runsDir, { recursive: true, force: true });
});

describe('jepsen-lite: every workload under every nemesis', () => {
  const workloads = ['register', 'counter', 'append', 'expiry'] as const;
  workloads.forEach((workload, i) => {
    it(`${workload} stays valid under ${nemeses.join(', ')}, each injected`, async () => {
      const lines: string[] = [];
      const result = await run({ workload, nemeses, schedule: 'each', timeSeconds: 18, faultMs: 2_000, quietMs: 1_000, seed: seed + i, clients: 6, runsDir, log: (l) => lines.push(l) });
      const injected = new Set(result.faults.filter((f) => f.action === 'inject' && !f.error).map((f) => f.nemesis));
      const healFailures = result.faults.filter((f) => f.error !== undefined || /not healthy/.test(f.detail));
      console.log(`seed ${seed + i}: ${workload}: ${result.verdict}; ${result.injected} faults; nemeses that fired: ${[...injected].join(', ')}`);
      expect(result.valid, `${result.verdict}\n${lines.join('\n')}`).toBe(true);
      expect([...injected].sort(), lines.join('\n')).toEqual([...nemeses].sort());
      expect(healFailures, lines.join('\n')).toEqual([]);
      expect(result.outcomes.ok).toBeGreaterThan(50);
    }, 150_000);
  });
});

/**
 * Writes one entry at a time (200-byte SETs of filler keys, outside every workload's keys) until
 * every node has taken a snapshot and compacted its log (raft_first_index > 1). From then on a
 * replacement node (member) can only be caught up by InstallSnapshot, from whichever leader.
 * Before, the run relied on the clients writing enough before the member fault: on a loaded
 * machine they did not, the leader still had its whole log, and nothing was installed.
 */
async function everyLogCompacted(cluster: Cluster): Promise<void> {
  const leader = await cluster.waitForLeader();
  const client = cluster.client(leader, { commandTimeout: 10_000, enableOfflineQueue: true });
  const compacted = async (): Promise<boolean> => {
    for (const n of cluster.nodes) {
      const info = await cluster.raftInfo(n, 5_000).catch(() => null);
      if (!info || Number(info.raft_snapshots_taken) < 1 || Number(info.raft_first_index) <= 1) return false;
    }
    return true;
  };
  try {
    for (let i = 0; ; i++) {
      if (i % 25 === 0 && (await compacted())) return;
      if (i > 5_000) throw new Error(`logs not compacted after ${i} filler writes\n${cluster.logs()}`);
      await client.set(`filler:${i}`, 'x'.repeat(200)).catch(() => undefined);
    }
  } finally {
    client.disconnect();
  }
}

describe('jepsen-lite: snapshots under faults', () => {
  // Tiny thresholds: every node snapshots every ~20 KB of writes and keeps 20 entries behind,
  // so a replacement node (member) and a node back from kill or a partition are caught up by
  // InstallSnapshot, under the clients' load. Every log is compacted before the first fault.
  const serverArgs = ['--snapshot-bytes', '20000', '--snapshot-catchup-entries', '20'];
  const snapshotNemeses = ['member', 'kill', 'partition'] as const;
  (['register', 'append'] as const).forEach((workload, i) => {
    it(`${workload} stays valid while snapshots are taken and installed under ${snapshotNemeses.join(', ')}`, async () => {
      const lines: string[] = [];
      const result = await run({ workload, nemeses: snapshotNemeses, schedule: 'each', timeSeconds: 14, faultMs: 2_000, quietMs: 1_000, seed: seed + 10 + i, clients: 6, runsDir, serverArgs, prepare: everyLogCompacted, log: (l) => lines.push(l) });
      console.log(`seed ${seed + 10 + i}: ${workload} with snapshots: ${result.verdict}; snapshots ${result.snapshots.taken} taken, ${result.snapshots.installed} installed`);
      expect(result.valid, `${result.verdict}\n${lines.join('\n')}`).toBe(true);
      expect(result.snapshots.taken, lines.join('\n')).toBeGreaterThan(0);
      expect(result.snapshots.installed, `no snapshot was installed\n${lines.join('\n')}`).toBeGreaterThan(0);
    }, 150_000);
  });
});
