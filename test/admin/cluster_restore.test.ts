/**
 * `quorumkv restore` of a cluster backup onto another node set: four new nodes (ids the old
 * cluster never had) and --replicas 2 each get the groups the placement gives them, with the new
 * voters in every snapshot and members record, and the meta group's records rewritten (each data
 * group's record on its new voters, the old nodes' records replaced by the new ones, the group
 * counter kept). A backup whose meta group's records disagree with a data group's slots is
 * refused in one line, exit 2, with no data dir made.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRestore } from '../../src/cli/restore.js';
import { groupRecordEntry, nodeRecordEntry } from '../../src/cluster/meta_records.js';
import { groupSnapshotDir } from '../../src/node/data_dir.js';
import { SlotSet } from '../../src/state/slot_set.js';
import { decodeImageRecord, stateImageRecords } from '../../src/state/snapshot_image.js';
import { writeBackup } from '../../src/storage/backup_file.js';
import { writeClusterBackup, type PartFile } from '../../src/storage/cluster_backup_file.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import { collect } from '../storage/snapshot_support.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'qkv-cluster-restore-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const oldVoters = ['a1', 'a2', 'a3'];
const stringKey = (name: string, value: string, expireAt: number | null = null) => ({ key: Buffer.from(name), value: { type: 'string' as const, value: Buffer.from(value) }, expireAt });
const oldMembers = { addresses: new Map(oldVoters.map((v) => [v, `10.0.0.${v.slice(1)}:7379`])), everMembers: oldVoters };

/** A cluster backup of meta, g1 (0-8191) and g2 (8192-16383); `metaSlotsOfG1` is what the meta group's record of g1 says. */
async function clusterBackup(metaSlotsOfG1 = '0-8191'): Promise<string> {
  const record = (id: string, slots: [number, number][]) => groupRecordEntry({ id, voters: oldVoters, preferredLeader: 'a1', slots, epoch: 2 });
  const metaKeys = [
    ['counter:group', '2'],
    metaSlotsOfG1 === '0-8191' ? record('g1', [[0, 8191]]) : record('g1', [[0, 8000]]),
    record('g2', [[8192, 16383]]),
    ...oldVoters.map((id) => nodeRecordEntry({ id, grpc: `10.0.0.${id.slice(1)}:7379`, resp: '' })),
  ].map(([k, v]) => stringKey(k!, v!));
  const layout: [string, [number, number][], ReturnType<typeof stringKey>[]][] = [
    ['meta', [], metaKeys],
    ['g1', [[0, 8191]], Array.from({ length: 20 }, (_, i) => stringKey(`one:${i}`, `v${i}`, i % 2 ? 1_800_000_000_000 : null))],
    ['g2', [[8192, 16383]], Array.from({ length: 30 }, (_, i) => stringKey(`two:${i}`, `v${i}`))],
  ];
  const parts: PartFile[] = [];
  for (const [n, [id, slots, keys]] of layout.entries()) {
    const path = join(root, `${id}.part`);
    const set = SlotSet.empty();
    for (const r of slots) set.addRange(r);
    await writeBackup(path, { groupId: id, index: 100 + n, term: 4, confState: { voters: oldVoters, learners: [] } }, stateImageRecords(keys, [], oldMembers, set));
    parts.push({ path, group: { id, slots, index: 100 + n, term: 4, voters: oldVoters } });
  }
  const file = join(root, 'cluster.qkv');
  await writeClusterBackup(file, { createdAtMs: 1, source: 'test' }, parts);
  return file;
}

async function snapshotOf(dataDir: string, groupId: string): Promise<{ voters: readonly string[]; index: number; records: Buffer[] }> {
  const store = await SnapshotStore.open({ dir: groupSnapshotDir(dataDir, groupId), groupId });
  try {
    const info = store.latestInfo!;
    return { voters: info.confState.voters, index: info.index, records: await collect((await store.latest())!.records()) };
  } finally {
    await store.close();
  }
}

function capture(): { out: { stdout: (t: string) => void; stderr: (t: string) => void }; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: { stdout: (t) => stdout.push(t), stderr: (t) => stderr.push(t) }, stdout, stderr };
}

const peers = 'r1=127.0.0.1:7501,r2=127.0.0.1:7502,r3=127.0.0.1:7503,r4=127.0.0.1:7504';

describe('restore of a cluster backup', () => {
  it('places the groups on another node set and rewrites the meta group for it', async () => {
    const from = await clusterBackup();
    const hosts: Record<string, string[]> = {};
    for (const id of ['r1', 'r2', 'r3', 'r4']) {
      const io = capture();
      expect(await runRestore(['--from', from, '--data-dir', join(root, id), '--id', id, '--peers', peers, '--replicas', '2'], io.out)).toBe(0);
      expect(io.stderr).toEqual([]);
      hosts[id] = (await readdir(join(root, id, 'snapshots'))).sort();
      const listed = io.stdout.map((l) => l.split(' ')[1]!);
      expect(listed[0]).toBe('meta');
      expect([...listed].sort()).toEqual(hosts[id]);
    }
    // As server --groups places a new cluster: meta on every node (up to five), g1 on r1 r2, g2 on r2 r3.
    expect(hosts).toEqual({ r1: ['g1', 'meta'], r2: ['g1', 'g2', 'meta'], r3: ['g2', 'meta'], r4: ['meta'] });

    const g2 = await snapshotOf(join(root, 'r3'), 'g2');
    expect(g2.voters).toEqual(['r2', 'r3']);
    expect(g2.index).toBe(102);
    expect(decodeImageRecord(g2.records[0]!)).toEqual({
      kind: 'members',
      record: { addresses: new Map([['r2', '127.0.0.1:7502'], ['r3', '127.0.0.1:7503']]), everMembers: ['a1', 'a2', 'a3', 'r2', 'r3'] },
    });
    expect(g2.records.filter((r) => decodeImageRecord(r).kind === 'key')).toHaveLength(30);

    const meta = await snapshotOf(join(root, 'r4'), 'meta');
    expect(meta.voters).toEqual(['r1', 'r2', 'r3', 'r4']);
    const records = Object.fromEntries(
      meta.records.flatMap((r) => {
        const d = decodeImageRecord(r);
        return d.kind === 'key' ? [[d.record.key.toString(), JSON.parse(d.record.value.value.toString()) as unknown]] : [];
      }),
    );
    expect(records).toEqual({
      'counter:group': 2,
      'group:g1': { voters: ['r1', 'r2'], slots: '0-8191', preferredLeader: 'r1', epoch: 3 },
      'group:g2': { voters: ['r2', 'r3'], slots: '8192-16383', preferredLeader: 'r2', epoch: 3 },
      'node:r1': { grpc: '127.0.0.1:7501', resp: '' },
      'node:r2': { grpc: '127.0.0.1:7502', resp: '' },
      'node:r3': { grpc: '127.0.0.1:7503', resp: '' },
      'node:r4': { grpc: '127.0.0.1:7504', resp: '' },
    });
  });

  it("refuses a backup whose meta group's records disagree with a data group's slots, creating nothing", async () => {
    const from = await clusterBackup('0-8000');
    const io = capture();
    const dataDir = join(root, 'never');
    expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'r1', '--peers', peers], io.out)).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(/^quorumkv restore: .*g1 serves slots 0-8191 in its snapshot, where the meta group's record says 0-8000; refusing it\n$/);
    await expect(stat(dataDir)).rejects.toThrow();
  });
});
