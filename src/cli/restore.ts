import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, parsePeers } from '../config/config.js';
import { groupSnapshotDir, saveMeta } from '../node/data_dir.js';
import { readBackup } from '../storage/backup_file.js';
import { BackupCorruptError, BackupTruncatedError, SnapshotCorruptError } from '../storage/snapshot_errors.js';
import type { SnapshotDescriptor, SnapshotInfo } from '../storage/snapshot_format.js';
import { isDataGroupId } from '../cluster/layout.js';
import { SnapshotStore } from '../storage/snapshot_store.js';
import type { CommandOutput } from '../admin/admin_command.js';
import { backupFileKind } from '../storage/cluster_backup_file.js';
import { restoreClusterDataDir } from './cluster_restore.js';
import { RestoreRefusedError, claimRestoreDir, refuseUsedDataDir, rewrittenRecords } from './restore_dir.js';

export { RestoreRefusedError };

/**
 * `quorumkv restore --from FILE --data-dir DIR --id ID --peers ID=HOST:PORT,...`: seeds a new
 * node's data dir from a backup, for a new cluster whose first voters are --peers (each node of
 * it is restored from the same file with its own --id and --data-dir, then started with
 * `quorumkv server` and the same ids and data dirs).
 *
 *   check flags ─▶ check DIR holds no node state ─▶ verify FILE end to end
 *        │                    │                            │
 *        └──── refuse: one line, exit 2, DIR untouched ◀───┘
 *                                                          ▼
 *   take DIR's lock, as a server does ─▶ check again under it ─▶ refuse if held or used, exit 2
 *                                                          ▼
 *   write the snapshot into DIR/snapshots/g0 (published last) ─▶ DIR/node.json (synced by saveMeta)
 *        └──── any failure: remove what this run created, exit 1 (2 if FILE changed under it)
 *   release the lock (LOCK is removed)
 *
 * The lock keeps a server from starting on DIR while restore writes it, and restore from writing
 * into a DIR a server (or another restore) is using. A LOCK file alone is not node state: left
 * behind by a process that died, it is nobody's lock, and the server would take it over too.
 *
 * The snapshot keeps the backup's index, term, group and records, with two changes for the new
 * cluster: its voters are the --peers ids (no learners), and its members record (first) holds
 * the --peers address book and every id the old cluster ever used plus the new ones, so that ids
 * are never reused across the restore. No Raft log is written: a server that finds a snapshot
 * and no log starts from the snapshot.
 */

/** What `restore` was asked to do (flags, checked). */
export interface RestoreOptions {
  readonly from: string;
  readonly dataDir: string;
  readonly id: string;
  /** The new cluster's first voters, self included: id → gRPC address. */
  readonly peers: ReadonlyMap<string, string>;
  /** Voters of each data group of a cluster backup (as `server --replicas`); a version-1 backup's group gets every peer. */
  readonly replicas: number;
}

export interface RestoreResult {
  readonly info: SnapshotInfo;
  readonly keys: number;
  readonly dedup: number;
}

const idPattern = /^[a-z0-9-]{1,64}$/;

const usage = 'quorumkv restore --from FILE --data-dir DIR --id ID --peers ID=HOST:PORT,... [--replicas N]';

/** The command: exit 0 restored, 2 refused (flags, data dir, file), 1 failed while writing. */
export async function runRestore(argv: readonly string[], out: CommandOutput): Promise<number> {
  try {
    const options = parseRestoreFlags(argv);
    const results = (await kindOf(options.from)) === 'cluster' ? await restoreClusterDataDir(options) : [await restoreDataDir(options)];
    for (const { info, keys, dedup } of results) {
      out.stdout(`restored ${info.groupId} at index ${info.index}, term ${info.term}: ${keys} keys, ${dedup} dedup entries; voters ${info.confState.voters.join(',')}\n`);
    }
    return 0;
  } catch (err) {
    const refused = err instanceof RestoreRefusedError || err instanceof ConfigError || err instanceof BackupCorruptError || err instanceof BackupTruncatedError || err instanceof SnapshotCorruptError;
    out.stderr(`quorumkv restore: ${(err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')}\n`);
    return refused ? 2 : 1;
  }
}

/** Throws ConfigError with a one-line reason. */
export function parseRestoreFlags(argv: readonly string[]): RestoreOptions {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: { from: { type: 'string' }, 'data-dir': { type: 'string' }, id: { type: 'string' }, peers: { type: 'string' }, replicas: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.split('\n')[0]} (usage: ${usage})`);
  }
  for (const flag of ['from', 'data-dir', 'id', 'peers'] as const) {
    if (values[flag] === undefined || values[flag] === '') throw new ConfigError(`--${flag} is required (usage: ${usage})`);
  }
  const id = values.id!;
  if (!idPattern.test(id)) throw new ConfigError(`--id '${id}' must match [a-z0-9-]{1,64}`);
  const peers = parsePeers(values.peers);
  if (!peers.has(id)) throw new ConfigError(`--id ${id} is not among --peers (${[...peers.keys()].join(',')})`);
  const replicasText = values.replicas ?? '3';
  const replicas = Number(replicasText);
  if (!/^\d{1,2}$/.test(replicasText) || replicas < 1 || replicas > 9) throw new ConfigError(`--replicas must be 1 to 9, not ${replicasText}`);
  return { from: values.from!, dataDir: values['data-dir']!, id, peers, replicas };
}

/** A cluster backup or a version-1 file (anything else is refused by the version-1 reader, saying what it starts with). */
async function kindOf(from: string): Promise<'cluster' | 'group' | 'unknown'> {
  try {
    return await backupFileKind(from);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RestoreRefusedError(`cannot read --from ${from}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/**
 * Verifies the backup, then writes node.json and the rewritten snapshot into `options.dataDir`.
 * Refuses (RestoreRefusedError, BackupCorruptError, BackupTruncatedError) before writing
 * anything; on a later failure removes what it created and rethrows.
 */
export async function restoreDataDir(options: RestoreOptions): Promise<RestoreResult> {
  const dir = resolve(options.dataDir);
  // Early, so that a used dir is refused before the file is read, and with nothing written.
  await refuseUsedDataDir(dir);
  let backup;
  try {
    backup = await readBackup(options.from);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new RestoreRefusedError(`cannot read --from ${options.from}: ${code}`, { cause: err });
    throw err;
  }
  const groupId = backup.info.groupId;
  if (!isDataGroupId(groupId)) {
    throw new RestoreRefusedError(`${options.from} is a backup of group '${groupId}', not of a data group`);
  }

  const voters = [...options.peers.keys()];
  const descriptor: SnapshotDescriptor = {
    groupId: backup.info.groupId,
    index: backup.info.index,
    term: backup.info.term,
    confState: { voters, learners: [] },
    ...(backup.info.createdAtMs === undefined ? {} : { createdAtMs: backup.info.createdAtMs }),
  };
  const counts = { keys: 0, dedup: 0 };
  const { created, lock } = await claimRestoreDir(dir);
  let store: SnapshotStore | null = null;
  try {
    store = await SnapshotStore.open({ dir: groupSnapshotDir(dir, groupId), groupId });
    // The store reports whatever the records throw as a LevelDB failure (it wraps any error with
    // a `code`); a refusal raised while rewriting them is rethrown as itself.
    const refusal: { error?: RestoreRefusedError } = {};
    const info = await store.write(descriptor, rewrittenRecords(backup.records(), options.peers, counts, options.from, refusal)).catch((err: unknown) => {
      throw refusal.error ?? err;
    });
    await store.close();
    store = null;
    await saveMeta(dir, { id: options.id, peers: Object.fromEntries(options.peers) });
    return { info, ...counts };
  } catch (err) {
    await store?.close().catch(() => undefined);
    await created.undo();
    throw err;
  } finally {
    lock.release();
  }
}

