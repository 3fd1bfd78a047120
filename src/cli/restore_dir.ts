import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lockDataDir, nodeMetaPath } from '../node/data_dir.js';
import type { HeldLock } from '../storage/lock_file.js';
import { ImageRecordKind, decodeImageRecord, encodeMembersRecord } from '../state/snapshot_image.js';
import type { MembersRecord } from '../state/snapshot_image.js';
import { QuorumError } from '../util/errors.js';

/**
 * What both restores (a version-1 backup of one group, restore.ts; a cluster backup,
 * cluster_restore.ts) do to a data dir and to a group's records: refuse a dir that holds node
 * state, create only what can be undone, and rewrite a snapshot's members record for the new
 * cluster.
 */

/** A restore refused before anything was written (bad flags, a used data dir, a damaged file). */
export class RestoreRefusedError extends QuorumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RESTORE_REFUSED', message, 'fail', options);
    this.name = 'RestoreRefusedError';
  }
}

/** Keys and dedup entries a restored group's records hold. */
export interface RecordCounts {
  keys: number;
  dedup: number;
}

/**
 * A group's records for the new cluster: a members record first (`addresses`, the group's new
 * voters and their gRPC addresses; every id the backup's record lists, plus the new ones, so that
 * ids are never reused across the restore), then every other record as it is, or as `rewriteKey`
 * makes it (null: left out), then `extra`. A members record anywhere but first is refused, as
 * snapshot_image.ts allows only that.
 */
export async function* rewrittenRecords(
  records: AsyncGenerator<Buffer>,
  addresses: ReadonlyMap<string, string>,
  counts: RecordCounts,
  from: string,
  refusal: { error?: RestoreRefusedError },
  rewriteKey: (record: Buffer) => Buffer | null = (record) => record,
  extra: readonly Buffer[] = [],
): AsyncGenerator<Buffer> {
  const refuse = (message: string): RestoreRefusedError => (refusal.error = new RestoreRefusedError(message));
  const count = (record: Buffer): Buffer | null => {
    if (record[0] === ImageRecordKind.Key) {
      const kept = rewriteKey(record);
      if (kept !== null) counts.keys++;
      return kept;
    }
    if (record[0] === ImageRecordKind.Dedup) counts.dedup++;
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
  const members: MembersRecord = { addresses: new Map(addresses), everMembers: [...new Set([...everMembers, ...addresses.keys()])] };
  yield encodeMembersRecord(members);
  if (!first.done) {
    if (first.value[0] !== ImageRecordKind.Members) {
      const kept = count(first.value);
      if (kept !== null) yield kept;
    }
    for await (const record of records) {
      const kept = count(record);
      if (kept !== null) yield kept;
    }
  }
  for (const record of extra) {
    counts.keys++;
    yield record;
  }
}

/** Refuses a data dir that holds node state, or a path that is not a directory. (ENOENT: restore creates it.) */
export async function refuseUsedDataDir(dir: string): Promise<void> {
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
 * Takes DIR for a restore: made if need be (what was made is what `created.undo()` removes), its
 * data-dir lock held, and refused when it already holds a node's state (the lock released then;
 * what DIR holds, another process put there, so nothing is undone).
 */
export async function claimRestoreDir(dir: string): Promise<{ created: { undo(): Promise<void> }; lock: HeldLock }> {
  const created = await createOwnedDir(dir);
  const lock = await lockDataDir(dir, (message) => new RestoreRefusedError(`--data-dir ${message}`));
  try {
    await refuseUsedDataDir(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  return { created, lock };
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
