/**
 * `quorumkv restore`: a backup (keys with TTLs, a dedup table, a members record) seeds a new data
 * dir whose snapshot has the new voters and a rewritten members record and decodes to the same
 * state; a damaged file, a used data dir or an --id outside --peers is refused in one line, exit 2,
 * leaving the data dir as it was (or not created). The refusal and success paths also run as a
 * real process (`node bin/quorumkv.js restore`, the build in dist/).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRestore } from '../../src/cli/restore.js';
import { dataDirLockPath, groupSnapshotDir, lockDataDir, nodeMetaPath } from '../../src/node/data_dir.js';
import type { KeyRecord } from '../../src/state/keyspace.js';
import { writeBackup } from '../../src/storage/backup_file.js';
import type { SnapshotDescriptor } from '../../src/storage/snapshot_format.js';
import { decodeImageRecord, stateImageRecords } from '../../src/state/snapshot_image.js';
import type { DedupRecord, MembersRecord } from '../../src/state/snapshot_image.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import { buildState, canonical, collect, loadFresh } from '../storage/snapshot_support.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const binPath = join(repoRoot, 'bin/quorumkv.js');

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'qkv-restore-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const oldCluster: SnapshotDescriptor = { groupId: 'g0', index: 9876, term: 12, confState: { voters: ['a1', 'a2', 'a3'], learners: ['a5'] }, createdAtMs: 1_700_000_000_000 };
const oldMembers: MembersRecord = {
  addresses: new Map([
    ['a1', '10.0.0.1:7379'],
    ['a2', '10.0.0.2:7379'],
    ['a3', '10.0.0.3:7379'],
    ['a5', '10.0.0.5:7379'],
  ]),
  everMembers: ['a1', 'a2', 'a3', 'a4', 'a5', 'n2'],
};
const newPeers = 'n1=127.0.0.1:7401,n2=127.0.0.1:7402,n3=127.0.0.1:7403';

function sampleState(): { keys: KeyRecord[]; dedup: DedupRecord[] } {
  const keys: KeyRecord[] = [];
  for (let i = 0; i < 3_000; i++) {
    keys.push({
      key: Buffer.from(`key:${i}`),
      value: { type: 'string', value: Buffer.from(i % 100 === 0 ? 'v'.repeat(5_000) : `value-${i}`) },
      expireAt: i % 3 === 0 ? null : 1_800_000_000_000 + i,
    });
  }
  const dedup: DedupRecord[] = Array.from({ length: 20 }, (_, i) => ({ id: `a1.req.${i}`, timeMs: 1_700_000_000_000 + i, reply: { kind: 'simple', value: 'OK' } }));
  return { keys, dedup };
}

async function backupFile(options: { members?: MembersRecord | null } = {}): Promise<string> {
  const { keys, dedup } = sampleState();
  const state = buildState(keys, dedup);
  const path = join(root, 'g0.backup');
  const members = options.members === null ? undefined : (options.members ?? oldMembers);
  await writeBackup(path, oldCluster, stateImageRecords(state.keyspace.snapshot(), Array.from(state.dedup.records()), members), { chunkBytes: 4096 });
  return path;
}

function capture(): { out: { stdout: (t: string) => void; stderr: (t: string) => void }; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: { stdout: (t) => stdout.push(t), stderr: (t) => stderr.push(t) }, stdout, stderr };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Opens the restored store and returns its info and records. */
async function restoredSnapshot(dataDir: string): Promise<{ info: ReturnType<SnapshotStore['list']>[number]; records: Buffer[] }> {
  const store = await SnapshotStore.open({ dir: groupSnapshotDir(dataDir, 'g0'), groupId: 'g0' });
  try {
    const info = store.latestInfo!;
    const reader = await store.latest();
    return { info, records: await collect(reader!.records()) };
  } finally {
    await store.close();
  }
}

describe('restore', () => {
  it('seeds node.json and a snapshot with the new voters and address book; every key and TTL decodes back', async () => {
    const from = await backupFile();
    const dataDir = join(root, 'nested', 'n1');
    const io = capture();
    expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], io.out)).toBe(0);
    expect(io.stderr).toEqual([]);
    expect(io.stdout).toEqual(['restored g0 at index 9876, term 12: 3000 keys, 20 dedup entries; voters n1,n2,n3\n']);

    expect(JSON.parse(await readFile(nodeMetaPath(dataDir), 'utf8'))).toEqual({
      id: 'n1',
      peers: { n1: '127.0.0.1:7401', n2: '127.0.0.1:7402', n3: '127.0.0.1:7403' },
    });
    expect((await readdir(dataDir)).sort()).toEqual(['node.json', 'snapshots']); // no log: the server starts from the snapshot

    const { info, records } = await restoredSnapshot(dataDir);
    expect(info).toMatchObject({ groupId: 'g0', index: 9876, term: 12, confState: { voters: ['n1', 'n2', 'n3'], learners: [] }, createdAtMs: oldCluster.createdAtMs });
    const first = decodeImageRecord(records[0]);
    expect(first).toEqual({
      kind: 'members',
      record: {
        addresses: new Map([
          ['n1', '127.0.0.1:7401'],
          ['n2', '127.0.0.1:7402'],
          ['n3', '127.0.0.1:7403'],
        ]),
        everMembers: ['a1', 'a2', 'a3', 'a4', 'a5', 'n2', 'n1', 'n3'],
      },
    });
    expect(records.slice(1).every((r) => decodeImageRecord(r).kind !== 'members')).toBe(true);
    const { keys, dedup } = sampleState();
    expect(canonical(await loadFresh(records))).toEqual(canonical(buildState(keys, dedup)));
  });

  it('inserts a members record first when the backup has none', async () => {
    const from = await backupFile({ members: null });
    const dataDir = join(root, 'n2');
    expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'n2', '--peers', newPeers], capture().out)).toBe(0);
    const { info, records } = await restoredSnapshot(dataDir);
    expect(info.recordCount).toBe(1 + 3_000 + 20);
    expect(decodeImageRecord(records[0])).toMatchObject({ kind: 'members', record: { everMembers: ['n1', 'n2', 'n3'] } });
  });

  it('accepts an existing data dir that holds no node state', async () => {
    const from = await backupFile();
    const dataDir = join(root, 'empty');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'README'), 'operator notes');
    expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'n3', '--peers', newPeers], capture().out)).toBe(0);
    expect((await readdir(dataDir)).sort()).toEqual(['README', 'node.json', 'snapshots']);
  });

  it('accepts a data dir whose only entry is a LOCK that no live process holds, and removes it', async () => {
    const from = await backupFile();
    const dataDir = join(root, 'stale');
    await mkdir(dataDir);
    // What a server killed before it wrote node.json leaves: LOCK naming its pid, which may by now
    // be some other live process's (this one's here), but nobody holds the lock.
    await writeFile(dataDirLockPath(dataDir), `${process.pid}\n`);
    const io = capture();
    expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], io.out)).toBe(0);
    expect(io.stderr).toEqual([]);
    expect((await readdir(dataDir)).sort()).toEqual(['node.json', 'snapshots']);
  });

  describe('refusals: exit 2, one line, the data dir untouched', () => {
    async function refused(args: string[], message: RegExp, dataDir: string): Promise<void> {
      const io = capture();
      const code = await runRestore(args, io.out);
      expect(code).toBe(2);
      expect(io.stdout).toEqual([]);
      expect(io.stderr).toHaveLength(1);
      expect(io.stderr[0]).toMatch(/^quorumkv restore: .*\n$/);
      expect(io.stderr[0].trimEnd()).not.toMatch(/\n/);
      expect(io.stderr[0]).toMatch(message);
      expect(await exists(dataDir)).toBe(false);
    }

    it('a flipped byte anywhere in the file', async () => {
      const from = await backupFile();
      const bytes = await readFile(from);
      for (const at of [3, 40, Math.floor(bytes.length / 2), bytes.length - 30, bytes.length - 1]) {
        const damaged = Buffer.from(bytes);
        damaged[at] ^= 0x10;
        await writeFile(from, damaged);
        const dataDir = join(root, 'new');
        await refused(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], /backup file .* is corrupt at byte \d+: .*; refusing it/, dataDir);
      }
    });

    it('a truncated file', async () => {
      const from = await backupFile();
      const bytes = await readFile(from);
      for (const keep of [10, 5_000, bytes.length - 1]) {
        await writeFile(from, bytes.subarray(0, keep));
        const dataDir = join(root, 'new');
        // Cut inside a large record, the reader may first see a record longer than the file
        // ("corrupt"); either way the file is refused before anything is written.
        const verdict = keep === 5_000 ? /backup file .* is (truncated|corrupt) at byte \d+: .*; refusing it/ : /backup file .* is truncated at byte \d+: .*; refusing it/;
        await refused(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], verdict, dataDir);
      }
    });

    it('a missing file, an --id outside --peers, bad or missing flags', async () => {
      const from = await backupFile();
      const dataDir = join(root, 'new');
      await refused(['--from', join(root, 'nope'), '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], /cannot read --from .*nope: ENOENT/, dataDir);
      await refused(['--from', from, '--data-dir', dataDir, '--id', 'n9', '--peers', newPeers], /^quorumkv restore: --id n9 is not among --peers \(n1,n2,n3\)\n$/, dataDir);
      await refused(['--from', from, '--data-dir', dataDir, '--id', 'n1'], /--peers is required/, dataDir);
      await refused(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', 'n1=nohost'], /--peers: 'n1=nohost' is not ID=HOST:PORT/, dataDir);
      await refused(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers, '--bogus'], /bogus/, dataDir);
    });

    it.each(['node.json', 'groups', 'snapshots'])('a data dir that holds %s', async (entry) => {
      const from = await backupFile();
      const dataDir = join(root, 'used');
      await mkdir(dataDir);
      if (entry === 'groups' || entry === 'snapshots') await mkdir(join(dataDir, entry));
      else await writeFile(join(dataDir, entry), 'x');
      const io = capture();
      expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], io.out)).toBe(2);
      expect(io.stderr).toEqual([`quorumkv restore: --data-dir ${dataDir} already holds node state (${entry}); restore needs a new data dir\n`]);
      expect(await readdir(dataDir)).toEqual([entry]);
    });

    it('a data dir whose lock a live process holds (a server starting, another restore)', async () => {
      const from = await backupFile();
      const dataDir = join(root, 'busy');
      await mkdir(dataDir);
      // This process holds it: the lock belongs to an open file, so restore's own open conflicts.
      const held = await lockDataDir(dataDir, (m) => new Error(m));
      try {
        const io = capture();
        expect(await runRestore(['--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], io.out)).toBe(2);
        expect(io.stderr).toEqual([`quorumkv restore: --data-dir ${dataDir} is in use by process ${process.pid}\n`]);
        expect(await readdir(dataDir)).toEqual(['LOCK']);
      } finally {
        held.release();
      }
    });

    it('a backup whose members record is not first: what was written is removed again', async () => {
      const path = join(root, 'odd.backup');
      const records = [...stateImageRecords([{ key: Buffer.from('k'), value: { type: 'string', value: Buffer.from('v') }, expireAt: null }], [])];
      await writeBackup(path, oldCluster, [...records, ...stateImageRecords([], [], oldMembers)]);
      const dataDir = join(root, 'new');
      await refused(['--from', path, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], /holds a members record that is not the first record/, dataDir);
      const existing = join(root, 'existing');
      await mkdir(existing);
      const io = capture();
      expect(await runRestore(['--from', path, '--data-dir', existing, '--id', 'n1', '--peers', newPeers], io.out)).toBe(2);
      expect(await readdir(existing)).toEqual([]);
    });

    it('a backup of another group', async () => {
      const path = join(root, 'meta.backup');
      await writeBackup(path, { ...oldCluster, groupId: 'meta' }, [Buffer.from([9])]);
      const dataDir = join(root, 'new');
      await refused(['--from', path, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers], /is a backup of group 'meta', not of a data group/, dataDir);
    });
  });
});

/** Runs the built CLI (dist/, from `npm run build`). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe('quorumkv restore as a process', () => {
  it('restores, then refuses the same data dir, a corrupt file and an id outside --peers', async () => {
    const from = await backupFile();
    const dataDir = join(root, 'n1');
    const ok = await cli(['restore', '--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers]);
    expect(ok).toEqual({ code: 0, stdout: 'restored g0 at index 9876, term 12: 3000 keys, 20 dedup entries; voters n1,n2,n3\n', stderr: '' });
    expect((await restoredSnapshot(dataDir)).info.confState.voters).toEqual(['n1', 'n2', 'n3']);

    const again = await cli(['restore', '--from', from, '--data-dir', dataDir, '--id', 'n1', '--peers', newPeers]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`quorumkv restore: --data-dir ${dataDir} already holds node state (node.json, snapshots); restore needs a new data dir\n`);

    const bytes = await readFile(from);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(from, bytes);
    const corrupt = await cli(['restore', '--from', from, '--data-dir', join(root, 'n2'), '--id', 'n2', '--peers', newPeers]);
    expect(corrupt.code).toBe(2);
    expect(corrupt.stderr).toMatch(/^quorumkv restore: backup file .* is corrupt at byte \d+: .*; refusing it\n$/);
    expect(await exists(join(root, 'n2'))).toBe(false);

    const stranger = await cli(['restore', '--from', from, '--data-dir', join(root, 'n9'), '--id', 'n9', '--peers', newPeers]);
    expect(stranger).toEqual({ code: 2, stdout: '', stderr: 'quorumkv restore: --id n9 is not among --peers (n1,n2,n3)\n' });
    expect(await exists(join(root, 'n9'))).toBe(false);
  });
});
