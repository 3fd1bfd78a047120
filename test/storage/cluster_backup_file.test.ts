/**
 * The cluster backup file (src/storage/cluster_backup_file.ts): parts gathered with a manifest
 * read back as they were written; a file cut anywhere, a flipped byte in the manifest or in a
 * part, an unknown version, bytes after the last part and a manifest whose slot maps overlap or
 * leave a gap (even one whose checksum matches) are refused in one line; and a slot map that
 * does not cover every slot exactly once is never written.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlotSet } from '../../src/state/slot_set.js';
import { stateImageRecords } from '../../src/state/snapshot_image.js';
import { readBackupSource, writeBackup } from '../../src/storage/backup_file.js';
import { manifestProblem, readClusterBackup, writeClusterBackup, type PartFile } from '../../src/storage/cluster_backup_file.js';
import { BackupCorruptError, BackupTruncatedError } from '../../src/storage/snapshot_errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qkv-cluster-backup-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const layout: { id: string; slots: [number, number][] }[] = [
  { id: 'meta', slots: [] },
  { id: 'g1', slots: [[0, 8191]] },
  { id: 'g2', slots: [[8192, 16383]] },
];

/** A part file per group (a few keys each) and the cluster backup gathered from them. */
async function clusterFile(): Promise<{ path: string; parts: PartFile[] }> {
  const parts: PartFile[] = [];
  for (const [n, g] of layout.entries()) {
    const path = join(dir, `${g.id}.part`);
    const keys = Array.from({ length: 50 }, (_, i) => ({ key: Buffer.from(`${g.id}:${i}`), value: { type: 'string' as const, value: Buffer.from(`v${i}`) }, expireAt: i % 2 ? 1_800_000_000_000 : null }));
    const slots = SlotSet.empty();
    for (const r of g.slots) slots.addRange(r);
    await writeBackup(path, { groupId: g.id, index: 10 + n, term: 2, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } }, stateImageRecords(keys, [], undefined, slots), { chunkBytes: 256 });
    parts.push({ path, group: { id: g.id, slots: g.slots, index: 10 + n, term: 2, voters: ['n1', 'n2', 'n3'] } });
  }
  const path = join(dir, 'cluster.qkv');
  await writeClusterBackup(path, { createdAtMs: 1_700_000_000_000, source: '127.0.0.1:7379' }, parts);
  return { path, parts };
}

async function refusal(path: string): Promise<Error> {
  const err = await readClusterBackup(path).then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(err, 'refused').not.toBeNull();
  expect(err instanceof BackupCorruptError || err instanceof BackupTruncatedError).toBe(true);
  expect(err!.message).not.toContain('\n');
  return err!;
}

/** `bytes` with its manifest replaced by `edit(manifest)` and the checksum made to match. */
function withManifest(bytes: Buffer, edit: (m: Record<string, unknown>) => void): Buffer {
  const length = bytes.readUInt32LE(10);
  const manifest = JSON.parse(bytes.subarray(14, 14 + length).toString('utf8')) as Record<string, unknown>;
  edit(manifest);
  const json = Buffer.from(JSON.stringify(manifest), 'utf8');
  const fixed = Buffer.from(bytes.subarray(0, 14));
  fixed.writeUInt32LE(json.length, 10);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(json, crc32(fixed)) >>> 0);
  return Buffer.concat([fixed, json, crc, bytes.subarray(14 + length + 4)]);
}

describe('cluster backup file', () => {
  it('reads back every part as it was written, with its manifest', async () => {
    const { path, parts } = await clusterFile();
    const backup = await readClusterBackup(path);
    expect(backup.manifest.format).toBe(2);
    expect(backup.manifest.groups.map((g) => [g.id, g.slots, g.index])).toEqual(layout.map((g, n) => [g.id, g.slots, 10 + n]));
    for (const [i, part] of backup.parts.entries()) {
      const original = await readFile(parts[i]!.path);
      const { start, length } = part.source.part!;
      expect((await readFile(path)).subarray(start, start + length).equals(original)).toBe(true);
      let records = 0;
      for await (const _ of (await readBackupSource(part.source)).records()) records++;
      expect(records).toBe(51); // the slots record and 50 keys
    }
    expect((await readdir(dir)).sort()).toEqual(['cluster.qkv', 'g1.part', 'g2.part', 'meta.part']);
  });

  it('refuses a file cut at any of a spread of lengths, a flipped byte anywhere, bytes after the end and an unknown version', async () => {
    const { path } = await clusterFile();
    const bytes = await readFile(path);
    const damaged = join(dir, 'damaged.qkv');
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 97))) {
      await writeFile(damaged, bytes.subarray(0, cut));
      await refusal(damaged);
    }
    for (let at = 0; at < bytes.length; at += Math.max(1, Math.floor(bytes.length / 131))) {
      const flipped = Buffer.from(bytes);
      flipped[at] ^= 0x01;
      await writeFile(damaged, flipped);
      await refusal(damaged);
    }
    await writeFile(damaged, Buffer.concat([bytes, Buffer.from('x')]));
    expect((await refusal(damaged)).message).toMatch(/1 bytes follow the last part/);
    const newer = Buffer.from(bytes);
    newer.writeUInt16LE(3, 8);
    await writeFile(damaged, newer);
    expect((await refusal(damaged)).message).toMatch(/unsupported cluster backup version 3 \(this build reads 2\)/);
    const flippedManifest = Buffer.from(bytes);
    flippedManifest[20] ^= 0x01;
    await writeFile(damaged, flippedManifest);
    expect((await refusal(damaged)).message).toMatch(/the manifest fails its checksum/);
  });

  it('refuses a manifest whose slot maps overlap or leave a gap, even with a matching checksum', async () => {
    const { path } = await clusterFile();
    const bytes = await readFile(path);
    const damaged = join(dir, 'damaged.qkv');
    type Groups = { groups: { id: string; slots: number[][] }[] };
    await writeFile(damaged, withManifest(bytes, (m) => ((m as unknown as Groups).groups[1]!.slots = [[0, 8200]])));
    expect((await refusal(damaged)).message).toMatch(/slot 8192 is in both g1 and g2 \(the slot maps overlap\)/);
    await writeFile(damaged, withManifest(bytes, (m) => ((m as unknown as Groups).groups[1]!.slots = [[0, 8000]])));
    expect((await refusal(damaged)).message).toMatch(/slots 8001-8191 are in no group \(the slot maps leave a gap\)/);
  });

  it('never writes a backup whose slot maps do not cover every slot once', async () => {
    const { parts } = await clusterFile();
    const gap = parts.map((p) => (p.group.id === 'g2' ? { ...p, group: { ...p.group, slots: [[9000, 16383]] as [number, number][] } } : p));
    const out = join(dir, 'gap.qkv');
    await expect(writeClusterBackup(out, { createdAtMs: 0, source: '' }, gap)).rejects.toThrow(/slots 8192-8999 are in no group/);
    expect((await readdir(dir)).filter((f) => f.startsWith('gap'))).toEqual([]);
    expect(manifestProblem({ format: 2, createdAtMs: 0, source: '', groups: [] })).toBe('it has no part for the meta group');
  });
});
