/**
 * Backup and restore of a cluster of several groups, with real processes: a 3-node `--groups 3`
 * cluster with keys (a third with TTLs) in every group, g1 split into g4 before the backup;
 * `quorumkv admin backup --out FILE` asked of a node that leads neither the meta group nor most
 * data groups; a byte flipped in one group's part makes `quorumkv restore` refuse the file and
 * leave no data dir; `quorumkv restore` seeds three new data dirs, and the new cluster serves
 * every key with its TTL from the right group, shows the same slot map in `admin groups`, and
 * takes writes in every group.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { TestCluster, admin, quorumkv, until, type NodeProcess } from './cluster_harness.js';

const clusters: TestCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop();
});

interface GroupRow {
  group: string;
  slots: [number, number][];
  leader: string;
  voters: string[];
}

const keyCount = 600;
const ttlMs = 3_600_000;
const valueOf = (i: number): string => `v${i}:${'x'.repeat(i % 30)}`;

async function groups(node: NodeProcess): Promise<GroupRow[]> {
  const r = await admin(node, 'groups', '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as GroupRow[];
}

/** Until `count` groups (the meta group included) each have a leader. */
async function everyGroupLed(c: TestCluster, count: number): Promise<GroupRow[]> {
  return until(
    `${count} groups led`,
    async () => {
      const rows = await groups(c.nodes[0]!);
      return rows.length === count && rows.every((g) => g.leader !== '') ? rows : undefined;
    },
    60_000,
  );
}

const slotMap = (rows: readonly GroupRow[]): Record<string, string> =>
  Object.fromEntries(rows.filter((g) => g.group !== 'meta').map((g) => [g.group, g.slots.map(([a, b]) => `${a}-${b}`).join(',')]));

function groupOfKey(rows: readonly GroupRow[], key: string): string {
  const slot = keyHashSlot(Buffer.from(key));
  return rows.find((g) => g.group !== 'meta' && g.slots.some(([a, b]) => slot >= a && slot <= b))!.group;
}

/** The byte offset and length of each group's part of a cluster backup (cluster_backup_file.ts's layout). */
function partsOf(bytes: Buffer): Map<string, { start: number; bytes: number }> {
  const manifestLength = bytes.readUInt32LE(10);
  const manifest = JSON.parse(bytes.subarray(14, 14 + manifestLength).toString('utf8')) as { groups: { id: string; bytes: number }[] };
  const out = new Map<string, { start: number; bytes: number }>();
  let start = 14 + manifestLength + 4;
  for (const g of manifest.groups) {
    out.set(g.id, { start, bytes: g.bytes });
    start += g.bytes;
  }
  return out;
}

describe('cluster backup and restore', () => {
  it('backs up every group of a split 3-group cluster and restores it into a new 3-node cluster', async () => {
    const started = Date.now();
    const source = await TestCluster.start({ extraArgs: ['--groups', '3'] });
    clusters.push(source);
    await everyGroupLed(source, 4);
    const client = source.client(source.nodes[0]!, { commandTimeout: 60_000 });
    const write = async (from: number, to: number): Promise<void> => {
      const pipeline = client.pipeline();
      for (let i = from; i < to; i++) {
        if (i % 3 === 0) pipeline.set(`key:${i}`, valueOf(i), 'PX', ttlMs + i);
        else pipeline.set(`key:${i}`, valueOf(i));
      }
      for (const [err, reply] of (await pipeline.exec()) ?? []) expect(err ?? reply).toBe('OK');
    };
    await write(0, keyCount / 2);
    const split = await admin(source.nodes[1]!, 'split', '--group', 'g1');
    expect(split.stderr).toBe('');
    expect(split.stdout).toMatch(/^split g1 at slot \d+: g4 serves/);
    await write(keyCount / 2, keyCount);
    const before = await until(
      'the split recorded',
      async () => {
        const rows = await everyGroupLed(source, 5);
        return rows.some((g) => g.group === 'g4' && g.slots.length > 0) && rows.find((g) => g.group === 'g1')!.slots.length > 0 ? rows : undefined;
      },
      30_000,
    );
    // Every group holds some of the keys.
    const used = new Set(Array.from({ length: keyCount }, (_, i) => groupOfKey(before, `key:${i}`)));
    expect([...used].sort()).toEqual(['g1', 'g2', 'g3', 'g4']);

    const file = join(source.dir, 'cluster.qkv');
    const backup = await admin(source.nodes[2]!, 'backup', '--out', file);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const lines = backup.stdout.trim().split('\n');
    expect(lines.slice(0, 5).map((l) => l.split(':')[0])).toEqual(['backed up meta', 'backed up g1', 'backed up g2', 'backed up g3', 'backed up g4']);
    expect(lines[5]).toMatch(/^wrote 5 groups to .*cluster\.qkv \(\d+ bytes\)$/);

    // A byte flipped in the middle of g2's part: refused in one line, exit 2, no data dir made.
    const bytes = await readFile(file);
    const g2 = partsOf(bytes).get('g2')!;
    bytes[g2.start + Math.floor(g2.bytes / 2)] ^= 0x20;
    const damaged = join(source.dir, 'damaged.qkv');
    await writeFile(damaged, bytes);
    const never = join(source.dir, 'never');
    const refused = await quorumkv('restore', '--from', damaged, '--data-dir', never, '--id', 'n1', '--peers', 'n1=127.0.0.1:1');
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/the part of g2 fails its checksum/);
    await expect(stat(never)).rejects.toThrow();

    const target = await TestCluster.start({
      startTimeoutMs: 60_000,
      beforeSpawn: async (c) => {
        for (const n of c.nodes) {
          const restored = await quorumkv('restore', '--from', file, '--data-dir', n.dataDir, '--id', n.id, '--peers', c.peers());
          expect(restored.stderr).toBe('');
          expect(restored.code).toBe(0);
          expect(restored.stdout.trim().split('\n').map((l) => l.split(' ')[1])).toEqual(['meta', 'g1', 'g2', 'g3', 'g4']);
        }
      },
    });
    clusters.push(target);
    const after = await everyGroupLed(target, 5);
    expect(slotMap(after)).toEqual(slotMap(before));
    for (const g of after) expect(g.voters).toEqual(['n1', 'n2', 'n3']);

    // Every key, with its value and TTL, through every node.
    for (const n of target.nodes) {
      const c = target.client(n, { commandTimeout: 20_000 });
      const keys = Array.from({ length: keyCount }, (_, i) => `key:${i}`);
      // One GET and one PTTL per key (MGET of keys in several groups is CROSSSLOT).
      const gets = c.pipeline();
      for (const k of keys) gets.get(k);
      expect(((await gets.exec()) ?? []).map(([, v]) => v)).toEqual(keys.map((_, i) => valueOf(i)));
      const pipeline = c.pipeline();
      for (const k of keys) pipeline.pttl(k);
      const ttls = ((await pipeline.exec()) ?? []).map(([, t]) => Number(t));
      const elapsedMs = Date.now() - started;
      keys.forEach((k, i) => {
        if (i % 3 !== 0) expect(ttls[i], `PTTL ${k}`).toBe(-1);
        else {
          expect(ttls[i], `PTTL ${k}`).toBeLessThanOrEqual(ttlMs + i);
          expect(ttls[i], `PTTL ${k}`).toBeGreaterThan(ttlMs + i - elapsedMs);
        }
      });
    }

    // Writes in every group, seen through every node.
    const perGroup = new Map<string, string>();
    for (let i = 0; perGroup.size < 4; i++) perGroup.set(groupOfKey(after, `after:${i}`), `after:${i}`);
    const writer = target.client(target.nodes[0]!, { commandTimeout: 20_000 });
    for (const key of perGroup.values()) expect(await writer.set(key, 'yes')).toBe('OK');
    for (const n of target.nodes) {
      const c = target.client(n, { commandTimeout: 20_000 });
      for (const key of perGroup.values()) expect(await c.get(key)).toBe('yes');
    }
  }, 300_000);
});
