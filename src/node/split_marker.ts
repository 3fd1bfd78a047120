import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from '../storage/fs_sync.js';
import { ServerStartError } from './data_dir.js';

/**
 * Pending-split markers: `<data-dir>/splits/<child>.json`, one per split-off group whose replica
 * here serves from memory while its first snapshot is not yet durable.
 *
 * Such a replica's state is the split-off part of its parent's state at the split's index, and
 * nothing on this node's disk holds it but the parent's log (the parent takes no snapshot until
 * the marker is gone). Its own log (in the node log) holds only what came after: a restart must
 * not open it from that log alone, which would be an empty keyspace with a log on top. The
 * marker, written durably before the replica takes part in Raft, tells start-up to wait for the
 * parent's replay of the split to make it again; it is removed once the first snapshot is
 * published in the group's store.
 */
export interface PendingSplit {
  readonly parent: string;
  /** The split entry's index in the parent's log. */
  readonly index: number;
}

export function splitMarkerDir(dataDir: string): string {
  return join(dataDir, 'splits');
}

function markerPath(dataDir: string, groupId: string): string {
  return join(splitMarkerDir(dataDir), `${groupId}.json`);
}

/** Writes the marker durably (a synced temp file, renamed, the directory synced). */
export async function markSplitPending(dataDir: string, groupId: string, pending: PendingSplit): Promise<void> {
  const dir = splitMarkerDir(dataDir);
  await mkdir(dir, { recursive: true });
  const path = markerPath(dataDir, groupId);
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(JSON.stringify(pending));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  await fsyncDirectory(dir);
}

/** Removes the marker durably: only once the group's first snapshot is published. */
export async function clearSplitPending(dataDir: string, groupId: string): Promise<void> {
  await rm(markerPath(dataDir, groupId), { force: true });
  await fsyncDirectory(splitMarkerDir(dataDir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Every marker in the data dir, by group id (a temp file left by a crash is ignored: its marker was never written). */
export async function pendingSplits(dataDir: string): Promise<Map<string, PendingSplit>> {
  const found = new Map<string, PendingSplit>();
  let names: string[];
  try {
    names = await readdir(splitMarkerDir(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw new ServerStartError(`cannot list ${splitMarkerDir(dataDir)}: ${(err as Error).message}`);
  }
  for (const name of names) {
    const m = /^(g\d{1,9})\.json$/.exec(name);
    if (!m) continue;
    const path = join(splitMarkerDir(dataDir), name);
    let pending: PendingSplit;
    try {
      pending = JSON.parse(await readFile(path, 'utf8')) as PendingSplit;
    } catch (err) {
      throw new ServerStartError(`${path} is unreadable: ${(err as Error).message}`);
    }
    if (typeof pending.parent !== 'string' || !Number.isInteger(pending.index)) throw new ServerStartError(`${path} is not a pending-split marker`);
    found.set(m[1]!, pending);
  }
  return found;
}
