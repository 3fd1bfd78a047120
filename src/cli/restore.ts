import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, parsePeers } from '../config/config.js';
import { groupSnapshotDir, lockDataDir, nodeMetaPath, saveMeta } from '../node/data_dir.js';
import { readBackup } from '../storage/backup_file.js';
import { BackupCorruptError, BackupTruncatedError, SnapshotCorruptError } from '../storage/snapshot_errors.js';
import type { SnapshotDescriptor, SnapshotInfo } from '../storage/snapshot_format.js';
import { ImageRecordKind, decodeImageRecord, encodeMembersRecord } from '../state/snapshot_image.js';
import type { MembersRecord } from '../state/snapshot_image.js';
import { isDataGroupId } from '../cluster/layout.js';
import { SnapshotStore } from '../storage/snapshot_store.js';
import { QuorumError } from '../util/errors.js';
import type { CommandOutput } from '../admin/admin_command.js';

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
}

export interface RestoreResult {
  readonly info: SnapshotInfo;
  readonly keys: number;
  readonly dedup: number;
}

/** A restore refused before anything was written (bad flags, a used data dir, a damaged file). */
export class RestoreRefusedError extends QuorumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RESTORE_REFUSED', message, 'fail', options);
    this.name = 'RestoreRefusedError';
  }
}

const idPattern = /^[a-z0-9-]{1,64}$/;

const usage = 'quorumkv restore --from FILE --data-dir DIR --id ID --peers ID=HOST:PORT,...';

/** The command: exit 0 restored, 2 refused (flags, data dir, file), 1 failed while writing. */
export async function runRestore(argv: readonly string[], out: CommandOutput): Promise<number> {
  try {
    const result = await restoreDataDir(parseRestoreFlags(argv));
    const { info } = result;
    out.stdout(
      `restored ${info.groupId} at index ${info.index}, term ${info.term}: ${result.keys} keys, ${result.dedup} dedup entries; ` +
        `voters ${info.confState.voters.join(',')}\n`,
    );
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
      options: { from: { type: 'string' }, 'data-dir': { type: 'string' }, id: { type: 'string' }, peers: { type: 'string' } },
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
  return { from: values.from!, dataDir: values['data-dir']!, id, peers };
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
  const created = await createOwnedDir(dir);
  // No undo on either refusal here: what DIR holds now, another process put there.
  const lock = await lockDataDir(dir, (message) => new RestoreRefusedError(`--data-dir ${message}`));
  try {
    await refuseUsedDataDir(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
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

/**
 * The backup's records for the new cluster: a members record first (the --peers address book;
 * every id the backup's record lists, plus the new ones), then every other record as it is.
 * A members record anywhere but first is refused, as snapshot_image.ts allows only that.
 */
async function* rewrittenRecords(
  records: AsyncGenerator<Buffer>,
  peers: ReadonlyMap<string, string>,
  counts: { keys: number; dedup: number },
  from: string,
  refusal: { error?: RestoreRefusedError },
): AsyncGenerator<Buffer> {
  const refuse = (message: string): RestoreRefusedError => (refusal.error = new RestoreRefusedError(message));
  const count = (record: Buffer): Buffer => {
    if (record[0] === ImageRecordKind.Key) counts.keys++;
    else if (record[0] === ImageRecordKind.Dedup) counts.dedup++;
    else if (record[0] === ImageRecordKind.Members) throw refuse(`${from} holds a members record that is not the first record`);
    else if (record[0] === ImageRecordKind.Slots) decodeImageRecord(record); // checked: a bad one throws corrupt
    else throw refuse(`${from} holds a record of unknown kind ${record[0]}`);
    return record;
  };
  const first = await records.next();
  let everMembers: readonly string[] = [];
  if (!first.done && first.value[0] === ImageRecordKind.Members) {
    const decoded = decodeImageRecord(first.value);
    if (decoded.kind === 'members') everMembers = decoded.record.everMembers;
  }
  const members: MembersRecord = { addresses: new Map(peers), everMembers: [...new Set([...everMembers, ...peers.keys()])] };
  yield encodeMembersRecord(members);
  if (first.done) return;
  if (first.value[0] !== ImageRecordKind.Members) yield count(first.value);
  for await (const record of records) yield count(record);
}

/** Refuses a data dir that holds node state, or a path that is not a directory. (ENOENT: restore creates it.) */
async function refuseUsedDataDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new RestoreRefusedError(`--data-dir ${dir} is unusable: ${code ?? (err as Error).message}`, { cause: err });
  }
  // node.json, the logs (log/, or groups/ in an older dir), the snapshots. Not LOCK: whether a live process uses the dir
  // is for its lock to say, and a LOCK that a dead process left behind says nothing.
  const state = ['node.json', 'log', 'groups', 'snapshots'].filter((name) => entries.includes(name));
  if (state.length > 0) {
    throw new RestoreRefusedError(`--data-dir ${dir} already holds node state (${state.join(', ')}); restore needs a new data dir`);
  }
}

/**
 * Creates what restore writes into, remembering what did not exist before so that a failure
 * removes exactly that: the data dir itself (and any parents created for it), or else only the
 * snapshots/ folder and node.json inside an existing, empty-of-state dir.
 */
async function createOwnedDir(dir: string): Promise<{ undo(): Promise<void> }> {
  const firstCreated = await mkdir(dir, { recursive: true });
  return {
    async undo(): Promise<void> {
      if (firstCreated !== undefined) {
        await rm(firstCreated, { recursive: true, force: true });
        return;
      }
      await rm(join(dir, 'snapshots'), { recursive: true, force: true });
      for (const path of [nodeMetaPath(dir), `${nodeMetaPath(dir)}.tmp`]) await unlink(path).catch(() => undefined);
    },
  };
}
