import { open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { backupMagic, verifyBackupSource, type BackupSource, type BackupSummary } from './backup_file.js';
import { fsyncDirectory } from './fs_sync.js';
import { BackupCorruptError, BackupTruncatedError } from './snapshot_errors.js';

/**
 * Cluster backups (`quorumkv admin backup --out FILE`): every group's snapshot, the meta group's
 * and each data group's, in one self-describing, checksummed file.
 *
 * API
 *
 *   await writeClusterBackup(path, about, parts)   // part files (backup_file.ts) gathered into
 *                                                  //   path.tmp, fsync, rename, fsync dir
 *   const backup = await readClusterBackup(path)   // checks the whole file FIRST: manifest,
 *                                                  //   every part's checksum and contents
 *   backup.parts[i].source                         //   a BackupSource for readBackupSource
 *   await backupFileKind(path)                     // 'cluster', 'group' (a version-1 file) or 'unknown'
 *
 * Layout (integers little-endian):
 *
 *   header   magic "QKVCLUST" | version u16 (2) | manifestLength u32 | manifest (JSON, UTF-8)
 *            | manifestCrc u32 (crc32 of every header byte before it)
 *   parts    one group's backup each, a version-1 backup file byte for byte (backup_file.ts),
 *            in the manifest's order, back to back
 *   end of file, right after the last part
 *
 * The manifest:
 *
 *   {"format":2,"createdAtMs":1700000000000,"source":"127.0.0.1:7379",
 *    "groups":[{"id":"meta","slots":[],"index":12,"term":3,"voters":["n1","n2","n3"],"bytes":905,"crc32":305419896},
 *              {"id":"g1","slots":[[0,5460]],"index":90,"term":2,"voters":[...],"bytes":123456,"crc32":...}, ...]}
 *
 * `bytes` and `crc32` are each part's length and the crc32 of all its bytes: a part is found by
 * adding up the lengths before it, and one flipped byte anywhere is caught by the manifest's or
 * the part's checksum before any record is read. The data groups' slots must cover the 16,384
 * hash slots exactly once (no slot in two groups, none in no group). Version 1, a single group's
 * backup file, is what each part is; such a file alone is still read by `quorumkv restore`.
 */

export const clusterBackupMagic = Buffer.from('QKVCLUST', 'latin1');
export const clusterBackupVersion = 2;
const fixedHeaderBytes = 14;
const maxManifestBytes = 16 * 1024 * 1024;
const slotCount = 16_384;
const copyBlockBytes = 1024 * 1024;

/** One group of a cluster backup, as its manifest describes it. */
export interface ManifestGroup {
  /** `meta`, `g1`, ... */
  readonly id: string;
  /** The slots the group serves in its snapshot: [first, last] ranges, in order ([] for the meta group). */
  readonly slots: readonly (readonly [number, number])[];
  /** The snapshot's index and term in the group's log. */
  readonly index: number;
  readonly term: number;
  /** The group's voters when the backup was taken (informational: a restore names its own). */
  readonly voters: readonly string[];
  /** The part's length in bytes, and the crc32 of them. */
  readonly bytes: number;
  readonly crc32: number;
}

export interface ClusterBackupManifest {
  readonly format: number;
  readonly createdAtMs: number;
  /** The admin address the backup was asked of. */
  readonly source: string;
  /** The meta group first, then the data groups in id order. */
  readonly groups: readonly ManifestGroup[];
}

/** A part to gather: a group's backup file, written and verified already, and what the manifest says of it. */
export interface PartFile {
  readonly path: string;
  readonly group: Omit<ManifestGroup, 'bytes' | 'crc32'>;
}

/** One verified part of a cluster backup. */
export interface ClusterBackupPart {
  readonly group: ManifestGroup;
  /** Where its bytes are: for readBackupSource. */
  readonly source: BackupSource;
  readonly summary: BackupSummary;
}

export interface ClusterBackup {
  readonly path: string;
  readonly manifest: ClusterBackupManifest;
  readonly parts: readonly ClusterBackupPart[];
  readonly fileBytes: number;
}

/** What a backup file is, by its first eight bytes. */
export async function backupFileKind(path: string): Promise<'cluster' | 'group' | 'unknown'> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await file.read(head, 0, 8, 0);
    if (bytesRead === 8 && head.equals(clusterBackupMagic)) return 'cluster';
    if (bytesRead === 8 && head.equals(backupMagic)) return 'group';
    return 'unknown';
  } finally {
    await file.close();
  }
}

// -------------------------------------------------------------------------------------------------
// Writing

/**
 * Gathers the part files into one cluster backup at `path`: the manifest first (so a pass over
 * each part for its length and crc32), then the parts, copied into `path.tmp`, fsynced, renamed
 * over `path`, the directory fsynced. On failure
 * the temporary file is removed and `path` is untouched. The manifest is checked as a reader
 * checks it (checkManifest) before anything is written.
 */
export async function writeClusterBackup(
  path: string,
  about: { readonly createdAtMs: number; readonly source: string },
  parts: readonly PartFile[],
): Promise<{ path: string; manifest: ClusterBackupManifest; fileBytes: number }> {
  const groups: ManifestGroup[] = [];
  for (const part of parts) groups.push({ ...part.group, ...(await checksumOf(part.path)) });
  const manifest: ClusterBackupManifest = { format: clusterBackupVersion, createdAtMs: about.createdAtMs, source: about.source, groups };
  const problem = manifestProblem(manifest);
  if (problem !== null) throw new BackupCorruptError({ path, offset: 0, reason: `${problem} (nothing written)` });

  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  let closed = false;
  try {
    const header = encodeHeader(manifest);
    let offset = await writeAll(file, header, 0);
    for (const part of parts) offset = await copyInto(file, part.path, offset);
    await file.sync();
    closed = true;
    await file.close();
    await rename(tmp, path);
    await fsyncDirectory(dirname(path));
    return { path, manifest, fileBytes: offset };
  } catch (err) {
    if (!closed) await file.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function encodeHeader(manifest: ClusterBackupManifest): Buffer {
  const json = Buffer.from(JSON.stringify(manifest), 'utf8');
  const fixed = Buffer.allocUnsafe(fixedHeaderBytes);
  clusterBackupMagic.copy(fixed, 0);
  fixed.writeUInt16LE(clusterBackupVersion, 8);
  fixed.writeUInt32LE(json.length, 10);
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32LE(crc32(json, crc32(fixed)) >>> 0);
  return Buffer.concat([fixed, json, crc]);
}

async function checksumOf(path: string): Promise<{ bytes: number; crc32: number }> {
  const file = await open(path, 'r');
  try {
    const block = Buffer.allocUnsafe(copyBlockBytes);
    let crc = 0;
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await file.read(block, 0, block.length, bytes);
      if (bytesRead === 0) return { bytes, crc32: crc >>> 0 };
      crc = crc32(block.subarray(0, bytesRead), crc);
      bytes += bytesRead;
    }
  } finally {
    await file.close();
  }
}

async function writeAll(file: FileHandle, bytes: Buffer, at: number): Promise<number> {
  for (let done = 0; done < bytes.length; ) done += (await file.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
  return at + bytes.length;
}

async function copyInto(file: FileHandle, from: string, at: number): Promise<number> {
  const source = await open(from, 'r');
  try {
    const block = Buffer.allocUnsafe(copyBlockBytes);
    for (let read = 0; ; ) {
      const { bytesRead } = await source.read(block, 0, block.length, read);
      if (bytesRead === 0) return at;
      at = await writeAll(file, block.subarray(0, bytesRead), at);
      read += bytesRead;
    }
  } finally {
    await source.close();
  }
}

// -------------------------------------------------------------------------------------------------
// Reading

/**
 * Checks a whole cluster backup: the header and manifest (checksum, version, shape, the slots
 * covered exactly once), the file's length against the parts', then each part: its crc32 and,
 * as a backup of its own, every chunk and its trailer (backup_file.ts), and that it is the
 * snapshot the manifest names. Throws BackupCorruptError or BackupTruncatedError, naming the
 * byte and what is wrong; resolves only when everything checked.
 */
export async function readClusterBackup(path: string): Promise<ClusterBackup> {
  const size = (await stat(path)).size;
  const file = await open(path, 'r');
  let manifest: ClusterBackupManifest;
  let partsStart: number;
  try {
    const truncated = (reason: string): BackupTruncatedError => new BackupTruncatedError({ path, offset: size, reason });
    const corrupt = (offset: number, reason: string, cause?: unknown): BackupCorruptError => new BackupCorruptError({ path, offset, reason }, cause);
    if (size < fixedHeaderBytes) throw truncated(`the file ends ${fixedHeaderBytes - size} bytes short of the end of the header`);
    const fixed = await readAt(file, 0, fixedHeaderBytes);
    if (!fixed.subarray(0, 8).equals(clusterBackupMagic)) {
      throw corrupt(0, `not a quorumkv cluster backup (starts with ${JSON.stringify(fixed.subarray(0, 8).toString('latin1'))}, not "QKVCLUST")`);
    }
    const version = fixed.readUInt16LE(8);
    if (version !== clusterBackupVersion) throw corrupt(8, `unsupported cluster backup version ${version} (this build reads ${clusterBackupVersion})`);
    const manifestLength = fixed.readUInt32LE(10);
    if (manifestLength > maxManifestBytes) throw corrupt(10, `manifest length ${manifestLength} is out of range`);
    partsStart = fixedHeaderBytes + manifestLength + 4;
    if (size < partsStart) throw truncated(`the file ends ${partsStart - size} bytes short of the end of the manifest`);
    const json = await readAt(file, fixedHeaderBytes, manifestLength);
    const stored = (await readAt(file, fixedHeaderBytes + manifestLength, 4)).readUInt32LE(0);
    if (stored !== crc32(json, crc32(fixed)) >>> 0) throw corrupt(fixedHeaderBytes, 'the manifest fails its checksum');
    try {
      manifest = parseManifest(json.toString('utf8'));
    } catch (err) {
      throw corrupt(fixedHeaderBytes, `the manifest does not parse: ${(err as Error).message}`, err);
    }
    if (manifest.format !== version) throw corrupt(fixedHeaderBytes, `the manifest says format ${manifest.format}, the header ${version}`);
    const problem = manifestProblem(manifest);
    if (problem !== null) throw corrupt(fixedHeaderBytes, `the manifest is refused: ${problem}`);
    const expected = partsStart + manifest.groups.reduce((sum, g) => sum + g.bytes, 0);
    if (size < expected) throw truncated(`the file ends ${expected - size} bytes short of its last part (the manifest's parts add up to ${expected} bytes)`);
    if (size > expected) throw corrupt(expected, `${size - expected} bytes follow the last part`);

    const parts: ClusterBackupPart[] = [];
    let start = partsStart;
    for (const group of manifest.groups) {
      if ((await crc32Of(file, start, group.bytes)) !== group.crc32) throw corrupt(start, `the part of ${group.id} fails its checksum`);
      const source: BackupSource = { path, part: { start, length: group.bytes } };
      const summary = await verifyBackupSource(source);
      const { info } = summary;
      if (info.groupId !== group.id || info.index !== group.index || info.term !== group.term) {
        throw corrupt(start, `the part of ${group.id} holds ${info.groupId} at index ${info.index}, term ${info.term}, not what the manifest says (index ${group.index}, term ${group.term})`);
      }
      parts.push({ group, source, summary });
      start += group.bytes;
    }
    return { path, manifest, parts, fileBytes: size };
  } finally {
    await file.close();
  }
}

async function readAt(file: FileHandle, at: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await file.read(out, done, length - done, at + done);
    if (bytesRead === 0) throw new Error('the file shrank while it was being read');
    done += bytesRead;
  }
  return out;
}

async function crc32Of(file: FileHandle, at: number, length: number): Promise<number> {
  let crc = 0;
  for (let done = 0; done < length; ) {
    const block = await readAt(file, at + done, Math.min(copyBlockBytes, length - done));
    crc = crc32(block, crc);
    done += block.length;
  }
  return crc >>> 0;
}

const groupIdPattern = /^(meta|g\d{1,9})$/;

function parseManifest(text: string): ClusterBackupManifest {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const nonNegative = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what} is not a non-negative integer`);
    return v;
  };
  if (!Array.isArray(raw.groups)) throw new Error('groups is not a list');
  const groups = raw.groups.map((g: Record<string, unknown>, i): ManifestGroup => {
    if (typeof g !== 'object' || g === null) throw new Error(`groups[${i}] is not an object`);
    if (typeof g.id !== 'string' || !groupIdPattern.test(g.id)) throw new Error(`groups[${i}].id is not a group id`);
    if (!Array.isArray(g.slots) || !g.slots.every((r) => Array.isArray(r) && r.length === 2 && r.every((s) => Number.isInteger(s)))) {
      throw new Error(`${g.id}'s slots are not a list of [first, last]`);
    }
    if (!Array.isArray(g.voters) || !g.voters.every((v) => typeof v === 'string')) throw new Error(`${g.id}'s voters are not a list of node ids`);
    return {
      id: g.id,
      slots: (g.slots as [number, number][]).map(([a, b]) => [a, b] as const),
      index: nonNegative(g.index, `${g.id}'s index`),
      term: nonNegative(g.term, `${g.id}'s term`),
      voters: g.voters as string[],
      bytes: nonNegative(g.bytes, `${g.id}'s bytes`),
      crc32: nonNegative(g.crc32, `${g.id}'s crc32`),
    };
  });
  return {
    format: nonNegative(raw.format, 'format'),
    createdAtMs: nonNegative(raw.createdAtMs, 'createdAtMs'),
    source: typeof raw.source === 'string' ? raw.source : '',
    groups,
  };
}

/**
 * What makes a manifest unusable, or null: a group named twice, no meta group or one with slots,
 * a slot range outside 0-16383, and data groups whose slots overlap or leave a gap.
 */
export function manifestProblem(manifest: ClusterBackupManifest): string | null {
  const ids = new Set<string>();
  for (const g of manifest.groups) {
    if (ids.has(g.id)) return `group ${g.id} is listed twice`;
    ids.add(g.id);
  }
  const meta = manifest.groups.find((g) => g.id === 'meta');
  if (!meta) return 'it has no part for the meta group';
  if (meta.slots.length > 0) return 'the meta group is given slots';
  return slotMapProblem(manifest.groups.filter((g) => g.id !== 'meta'));
}

/** Why data groups' slots do not cover the 16,384 hash slots exactly once, or null. */
export function slotMapProblem(groups: readonly { readonly id: string; readonly slots: readonly (readonly [number, number])[] }[]): string | null {
  const owner = new Array<string | undefined>(slotCount);
  for (const g of groups) {
    for (const [first, last] of g.slots) {
      if (first < 0 || last >= slotCount || first > last) return `${g.id}'s slot range ${first}-${last} is not within 0-${slotCount - 1}`;
      for (let s = first; s <= last; s++) {
        const other = owner[s];
        if (other !== undefined) return `slot ${s} is in both ${other} and ${g.id} (the slot maps overlap)`;
        owner[s] = g.id;
      }
    }
  }
  const gap = owner.findIndex((o) => o === undefined);
  if (gap >= 0) {
    let end = gap;
    while (end + 1 < slotCount && owner[end + 1] === undefined) end++;
    return `slots ${gap}-${end} are in no group (the slot maps leave a gap)`;
  }
  return null;
}
