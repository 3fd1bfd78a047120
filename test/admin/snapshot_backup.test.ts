/**
 * Snapshot, Backup and PromoteNode over real gRPC against fake providers: what `quorumkv admin
 * snapshot` prints, backups that verify with the same totals (byte for byte what writeBackup
 * writes), streams that break off or do not add up leaving no file behind, the follower's
 * redirect to the leader, flow control on the node's side, and UNIMPLEMENTED without a provider.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminBackup, adminChange, adminSnapshot } from '../../src/admin/admin_client.js';
import { runAdminCommand } from '../../src/admin/admin_command.js';
import { backupCluster } from '../../src/cli/cluster_backup.js';
import { BackupNotLeaderError, adminServiceDefinition, registerAdminService } from '../../src/admin/admin_service.js';
import type { MembershipProvider, SnapshotProvider } from '../../src/admin/admin_service.js';
import type { NodeStatus } from '../../src/admin/status.js';
import { BackupStreamError, verifyBackup, writeBackup, writeBackupFromChunks } from '../../src/storage/backup_file.js';
import { ChunkPacker, chunkHeaderBytes } from '../../src/storage/snapshot_format.js';
import type { SnapshotDescriptor, SnapshotInfo } from '../../src/storage/snapshot_format.js';
import { crc32 } from 'node:zlib';
import { syntheticRecords } from '../storage/snapshot_support.js';
import { Resources } from '../transport/support.js';

const resources = new Resources();
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qkv-admin-'));
});
afterEach(async () => {
  await resources.closeAll();
  await rm(dir, { recursive: true, force: true });
});

const status: NodeStatus = { nodeId: 'n1', addresses: {}, groups: [] };
const descriptor: SnapshotDescriptor = { groupId: 'g0', index: 4321, term: 9, confState: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] }, createdAtMs: 1_700_000_000_123 };
const chunkBytes = 1024;
const records = (): Buffer[] => [...syntheticRecords(4321, 400, 300)];

/** A snapshot packed as the store packs it: its info and chunks. */
function packed(): { info: SnapshotInfo; chunks: Buffer[] } {
  const packer = new ChunkPacker(chunkBytes);
  for (const r of records()) packer.add(r);
  packer.finish();
  return { info: { ...descriptor, ...packer.totals.totals() }, chunks: packer.take() };
}

interface FakeOptions {
  /** Yield only the first n chunks, then end (or throw). */
  readonly stopAfter?: number;
  readonly throwAtStop?: boolean;
  readonly notLeader?: string | null;
  readonly infoOverride?: Partial<SnapshotInfo>;
}

function fakeSnapshots(options: FakeOptions = {}): SnapshotProvider & { released: boolean; asked: string[] } {
  const provider = {
    released: false,
    asked: [] as string[],
    snapshotNow: async (): Promise<SnapshotInfo[]> => [packed().info, { ...packed().info, groupId: 'meta', index: 12, term: 3, recordCount: 2, payloadBytes: 90, chunkCount: 1 }],
    backup: async (groupId: string) => {
      provider.asked.push(groupId);
      if (options.notLeader !== undefined) throw new BackupNotLeaderError(options.notLeader);
      const { info, chunks } = packed();
      async function* stream(): AsyncGenerator<Buffer> {
        try {
          for (const [i, chunk] of chunks.entries()) {
            if (options.stopAfter !== undefined && i === options.stopAfter) {
              if (options.throwAtStop) throw new Error('the store\nwent away');
              return;
            }
            await new Promise((r) => setImmediate(r));
            yield chunk;
          }
        } finally {
          provider.released = true;
        }
      }
      return { info: { ...info, ...options.infoOverride }, chunkBytes, chunks: stream() };
    },
  };
  return provider;
}

async function adminServer(snapshots?: SnapshotProvider, membership?: MembershipProvider): Promise<string> {
  const server = new grpc.Server();
  registerAdminService(server, { status: () => status }, membership, snapshots);
  return resources.bind(server);
}

function capture(): { out: { stdout: (t: string) => void; stderr: (t: string) => void }; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: { stdout: (t) => stdout.push(t), stderr: (t) => stderr.push(t) }, stdout, stderr };
}

describe('admin snapshot', () => {
  it('prints one line per group, or JSON', async () => {
    const address = await adminServer(fakeSnapshots());
    const { info } = packed();
    expect(await adminSnapshot(address, { timeoutMs: 2_000 })).toEqual([info, expect.objectContaining({ groupId: 'meta', index: 12 })]);

    const io = capture();
    expect(await runAdminCommand(['--addr', address, 'snapshot'], io.out)).toBe(0);
    expect(io.stdout).toEqual([
      `g0: index 4321, term 9, 400 records, ${info.payloadBytes} bytes in ${info.chunkCount} chunks\n`,
      'meta: index 12, term 3, 2 records, 90 bytes in 1 chunks\n',
    ]);
    const json = capture();
    expect(await runAdminCommand(['--addr', address, '--json', 'snapshot'], json.out)).toBe(0);
    expect(JSON.parse(json.stdout.join(''))).toEqual({ ok: true, snapshots: [info, expect.objectContaining({ groupId: 'meta' })] });
  });

  it('reports a provider that fails as one line, exit 1', async () => {
    const address = await adminServer({ ...fakeSnapshots(), snapshotNow: () => Promise.reject(new Error('disk\nfull')) });
    const io = capture();
    expect(await runAdminCommand(['--addr', address, 'snapshot'], io.out)).toBe(1);
    expect(io.stderr).toEqual([`quorumkv admin: Snapshot at ${address} failed: snapshot failed: disk full\n`]);
  });
});

describe('admin backup', () => {
  it('writes a multi-chunk backup of the group asked for that verifies with the same totals, byte for byte what writeBackup writes', async () => {
    const provider = fakeSnapshots();
    const address = await adminServer(provider);
    const out = join(dir, 'g0.backup');
    const result = await adminBackup(address, out, { timeoutMs: 2_000 }, 'g0');
    expect(provider.asked).toEqual(['g0']);
    const { info } = packed();
    expect(info.chunkCount).toBeGreaterThan(50);
    const summary = await verifyBackup(out);
    expect(summary.info).toEqual(info);
    expect(summary.chunkBytes).toBe(chunkBytes);
    expect(result).toEqual({ ...summary, from: address });
    expect(await readdir(dir)).toEqual(['g0.backup']);

    const reference = join(dir, 'reference.backup');
    await writeBackup(reference, descriptor, records(), { chunkBytes });
    expect((await readFile(out)).equals(await readFile(reference))).toBe(true);
  });

  it.each([
    ['the stream fails halfway', { stopAfter: 20, throwAtStop: true }, /Backup at .* failed: backup failed: the store went away$/],
    ['the stream ends early', { stopAfter: 20 }, /backup stream for .* ended early: 20 of the \d+ announced chunks arrived; nothing written$/],
    ['the totals do not match the chunks', { infoOverride: { recordCount: 401 } }, /backup stream for .* is corrupt: .*recordCount is 400 where 401 was declared/],
    ['more chunks than announced', { infoOverride: { chunkCount: 3 } }, /backup stream for .* is corrupt: chunk 3 arrived after the 3 announced/],
  ] as const)('fails and leaves neither FILE nor FILE.tmp when %s', async (_name, options, message) => {
    const provider = fakeSnapshots(options);
    const address = await adminServer(provider);
    const out = join(dir, 'g0.backup');
    const err = (await adminBackup(address, out, { timeoutMs: 2_000 }, 'g0').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message.replace(/\s*\n\s*/g, ' ')).toMatch(message);
    expect(await readdir(dir)).toEqual([]);
    await expect.poll(() => provider.released).toBe(true);
  });

  it('follows a follower to the leader, at most twice', async () => {
    const leader = await adminServer(fakeSnapshots());
    const follower = await adminServer(fakeSnapshots({ notLeader: leader }));
    const out = join(dir, 'g0.backup');
    const result = await adminBackup(follower, out, { timeoutMs: 2_000 });
    expect(result.from).toBe(leader);
    expect((await verifyBackup(out)).info).toEqual(packed().info);

    // A node hosting no replica points to a follower, which points to the leader: two redirects.
    const other = await adminServer(fakeSnapshots({ notLeader: follower }));
    expect((await adminBackup(other, join(dir, 'g0.backup'), { timeoutMs: 2_000 })).from).toBe(leader);
    // A third: refused, not chased around.
    const far = await adminServer(fakeSnapshots({ notLeader: other }));
    const err = (await adminBackup(far, join(dir, 'x.backup'), { timeoutMs: 2_000 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      `${far} sent the backup to ${other}, then ${follower}, which cannot give it either: [NOT_LEADER] this node does not lead the data group; its leader is at ${leader}`,
    );
    // No leader known: `admin backup` says so in one line (asking for the meta group first).
    const lost = await adminServer(fakeSnapshots({ notLeader: null }));
    const io2 = capture();
    expect(await runAdminCommand(['--addr', lost, 'backup', '--out', join(dir, 'y.backup')], io2.out, { backupCluster })).toBe(1);
    expect(io2.stderr[0]).toBe(`quorumkv admin: Backup at ${lost} failed: [NOT_LEADER] this node does not lead the data group and knows no leader; try again\n`);
    expect(await readdir(dir)).toEqual(['g0.backup']);
  });

  it('backs up a cluster without a meta group (one data group) as a version-1 file of that group, as before', async () => {
    const provider = fakeSnapshots();
    const legacy: SnapshotProvider = {
      snapshotNow: provider.snapshotNow,
      backup: async (groupId) => {
        if (groupId === 'meta') throw new BackupNotLeaderError(null, { group: 'meta', notHosted: true });
        return provider.backup(groupId);
      },
    };
    const server = new grpc.Server();
    const row = { group: 'g0', slots: [[0, 16383] as const], leader: 'n1', voters: ['n1'], learners: [], epoch: 1, keys: 0, bytes: 0, writesPerSec: 0, hosted: true };
    registerAdminService(server, { status: () => status }, undefined, legacy, { split: async () => '', groups: () => [row], moveReplica: async () => '', nodes: () => [] });
    const address = await resources.bind(server);
    const out = join(dir, 'legacy.backup');
    const io = capture();
    expect(await runAdminCommand(['--addr', address, 'backup', '--out', out], io.out, { backupCluster })).toBe(0);
    expect(io.stderr).toEqual([]);
    expect(provider.asked).toEqual(['g0']);
    expect((await verifyBackup(out)).info).toEqual(packed().info);
    expect(io.stdout.join('')).toMatch(/^backed up g0: index 4321, .* from .*\nwrote 1 groups to .*legacy\.backup \(\d+ bytes\)\n$/);
    expect(await readdir(dir)).toEqual(['legacy.backup']);
  });

  it('pulls chunks from the provider only as fast as the client reads them', async () => {
    const big = 64 * 1024;
    const total = 2_000; // 128 MB if it were all buffered
    let pulled = 0;
    let released = false;
    const payload = Buffer.alloc(big, 7);
    const address = await adminServer({
      snapshotNow: async () => [],
      backup: async () => ({
        info: { ...descriptor, chunkCount: total, recordCount: 0, payloadBytes: total * big, checksum: 0 },
        chunkBytes: big,
        chunks: (async function* () {
          try {
            for (let seq = 0; seq < total; seq++) {
              pulled++;
              const chunk = Buffer.allocUnsafe(chunkHeaderBytes + big);
              payload.copy(chunk, chunkHeaderBytes);
              chunk.writeUInt32LE(seq, 4);
              chunk.writeUInt32LE(crc32(chunk.subarray(4)), 0);
              yield chunk;
            }
          } finally {
            released = true;
          }
        })(),
      }),
    });
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    resources.track(async () => client.close());
    const method = adminServiceDefinition().Backup;
    const call = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, {});
    const first = await new Promise<{ part: string }>((resolve) => call.once('data', resolve));
    expect(first.part).toBe('header');
    call.pause();
    await new Promise((r) => setTimeout(r, 500));
    // HTTP/2 windows and a few stream buffers, not the snapshot.
    console.log(`[flow control] chunks pulled while the client paused: ${pulled} of ${total}`);
    expect(pulled).toBeLessThan(200);
    call.on('error', () => undefined); // CANCELLED, as asked
    call.cancel();
    await expect.poll(() => released).toBe(true);
    expect(pulled).toBeLessThan(total);
  });
});

/** `chunk` with sequence number `seq` and a checksum that matches (a well-formed chunk in the wrong place). */
function resealed(chunk: Buffer, seq: number): Buffer {
  const copy = Buffer.from(chunk);
  copy.writeUInt32LE(seq, 4);
  copy.writeUInt32LE(crc32(copy.subarray(4)), 0);
  return copy;
}

describe('writeBackupFromChunks', () => {
  it.each([
    ['a flipped byte', (c: Buffer[]) => c.map((chunk, i) => (i === 7 ? Buffer.from(chunk).fill(0x55, 100, 101) : chunk)), /chunk 7 fails its checksum/],
    ['two chunks swapped', (c: Buffer[]) => [c[0], c[2], c[1], ...c.slice(3)], /chunk 2 arrived where chunk 1 was expected/],
    ['a chunk missing at the end', (c: Buffer[]) => c.slice(0, -1), /ended early: \d+ of the \d+ announced chunks arrived/],
    ['a short chunk before the last', (c: Buffer[]) => [c[0], resealed(c[1].subarray(0, chunkHeaderBytes + 100), 1), ...c.slice(2)], /chunk 2 follows chunk 1, which is shorter than the chunk size/],
  ] as const)('refuses %s and leaves nothing behind', async (_name, damage, message) => {
    const { info, chunks } = packed();
    const out = join(dir, 'g0.backup');
    const err = await writeBackupFromChunks(out, info, chunkBytes, damage(chunks)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupStreamError);
    expect((err as Error).message).toMatch(message);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('admin promote', () => {
  it('runs the provider promote and prints its line', async () => {
    const promoted: string[] = [];
    const address = await adminServer(undefined, {
      change: async () => 'unused',
      promote: async (id) => {
        promoted.push(id);
        return `promoted ${id} to voter`;
      },
    });
    const io = capture();
    expect(await runAdminCommand(['--addr', address, 'promote', '--id', 'n4'], io.out)).toBe(0);
    expect(io.stdout).toEqual(['promoted n4 to voter\n']);
    expect(promoted).toEqual(['n4']);
    expect(await adminChange(address, { kind: 'promote', nodeId: 'n5' }, { timeoutMs: 2_000 })).toBe('promoted n5 to voter');
    const usage = capture();
    expect(await runAdminCommand(['--addr', address, 'promote'], usage.out)).toBe(2);
    expect(usage.stderr[0]).toMatch(/^quorumkv admin: promote needs --id ID/);
  });

  it('reports a refused promotion as one line', async () => {
    const address = await adminServer(undefined, { change: async () => '', promote: () => Promise.reject(new Error('n9 is not a learner')) });
    const io = capture();
    expect(await runAdminCommand(['--addr', address, 'promote', '--id', 'n9'], io.out)).toBe(1);
    expect(io.stderr).toEqual([`quorumkv admin: PromoteNode at ${address} failed: n9 is not a learner\n`]);
  });
});

describe('without providers', () => {
  it('Snapshot, Backup and PromoteNode answer UNIMPLEMENTED; the CLI says so in one line', async () => {
    const address = await adminServer(undefined, { change: async () => '' });
    const cases: [string[], string][] = [
      [['snapshot'], `quorumkv admin: ${address} does not offer Snapshot: this node offers no snapshots\n`],
      [['backup', '--out', join(dir, 'b')], `quorumkv admin: ${address} does not offer Backup: this node offers no backups\n`],
      [['promote', '--id', 'n4'], `quorumkv admin: ${address} does not offer PromoteNode: this node offers no promotion of learners\n`],
    ];
    for (const [args, line] of cases) {
      const io = capture();
      expect(await runAdminCommand(['--addr', address, ...args], io.out, { backupCluster })).toBe(1);
      expect(io.stderr).toEqual([line]);
    }
    expect(await readdir(dir)).toEqual([]);
  });
});
