import { mkdtemp, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AdminNotLeaderError, adminBackup, adminGroups, type AdminCallOptions, type BackupResult } from '../admin/admin_client.js';
import type { ClusterBackupCall, ClusterBackupResult } from '../admin/admin_command.js';
import { metaGroupId } from '../cluster/layout.js';
import { compareGroupIds } from '../cluster/meta_records.js';
import { readBackup } from '../storage/backup_file.js';
import { slotMapProblem, writeClusterBackup, type PartFile } from '../storage/cluster_backup_file.js';
import { QuorumError } from '../util/errors.js';
import { metaDisagreement, metaRecordsOfImage, slotsOfImage } from './cluster_parts.js';

/**
 * `quorumkv admin backup --out FILE`: a backup of every group of the cluster, each consistent on
 * its own (a snapshot on the group's leader after a read barrier, at an index it has committed
 * and applied), gathered into one file (src/storage/cluster_backup_file.ts).
 *
 * The client asks each group's leader itself, through the node at --addr: the node points it to
 * the leader (or to a node hosting the group, which points it on), and the part streams from the
 * leader straight into a file here. Simpler than having the node at --addr fetch every group
 * from the other nodes and relay it: no node holds or forwards another group's snapshot, the
 * redirect already existed for the one-group backup, and a failure is one call's, to report as is.
 *
 *   Backup(meta) ─▶ its records name the data groups ─▶ Backup(g1), Backup(g2), ... into part files
 *        ▼
 *   every part's slots (its image's slots record) against the meta group's records,
 *   and together covering the 16,384 slots once ─▶ disagree: all again (a split was under way)
 *        ▼
 *   the parts gathered into FILE.tmp with their manifest, fsynced, renamed to FILE
 *
 * Groups are snapshotted one after another, so a split between two of them makes the snapshots
 * disagree: the parent's serves fewer slots than the meta group's record of it says, or the meta
 * group names a group whose part was not taken. Such a backup is not kept: it is taken again (up
 * to three times in all), then refused with BACKUP_INCONSISTENT, which is worth retrying. We do
 * not try to include the child: its part would have to be taken after the meta group's, and the
 * parent's before the split, and nothing orders those.
 */

const attempts = 3;
const pauseBetweenAttemptsMs = 1_000;

/** The snapshots of the groups disagree: a split or a slot change went on during the backup. Retryable. */
export class BackupInconsistentError extends QuorumError {
  constructor(reason: string) {
    super('BACKUP_INCONSISTENT', `the groups' snapshots disagree (${reason}): a split was under way; try again`, 'fail');
    this.name = 'BackupInconsistentError';
  }
}

export const backupCluster: ClusterBackupCall = async (address, path, options) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await backupOnce(address, path, options);
    } catch (err) {
      // The node asked hosts no meta replica and knows of none: perhaps a cluster without one.
      if (attempt === 1 && err instanceof AdminNotLeaderError && err.notHosted && err.leaderGrpcAddress === null) {
        const legacy = await legacySingleGroup(address, options);
        if (legacy !== null) return backupLegacy(address, path, options, legacy);
      }
      if (!(err instanceof BackupInconsistentError) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, pauseBetweenAttemptsMs));
    }
  }
};

/**
 * A cluster without a meta group (its one data group made before groups owned slots, or restored
 * from a version-1 backup): the node asked knows no meta group, and `admin groups` lists one data
 * group. Its backup is that group's alone, a version-1 file as before, which restore reads as it
 * always did.
 */
async function legacySingleGroup(address: string, options: AdminCallOptions): Promise<string | null> {
  const groups = await adminGroups(address, options);
  if (groups.some((g) => g.group === metaGroupId)) return null;
  const data = groups.filter((g) => g.group !== metaGroupId);
  return data.length === 1 ? data[0]!.group : null;
}

async function backupLegacy(address: string, path: string, options: AdminCallOptions, groupId: string): Promise<ClusterBackupResult> {
  const result = await adminBackup(address, path, options, groupId);
  return { path, fileBytes: result.fileBytes, groups: [{ from: result.from, info: result.info, slots: [[0, 16_383]], partBytes: result.fileBytes }] };
}

async function backupOnce(address: string, path: string, options: AdminCallOptions): Promise<ClusterBackupResult> {
  // Beside FILE, so that the parts are on its filesystem; removed whatever happens.
  const partsDir = await mkdtemp(join(dirname(path), `.${basename(path)}.parts-`));
  try {
    const taken: { result: BackupResult; slots: readonly (readonly [number, number])[] }[] = [];
    const meta = await adminBackup(address, join(partsDir, metaGroupId), options, metaGroupId);
    const metaImage = await metaRecordsOfImage((await readBackup(meta.path)).records());
    if (metaImage.problems.length > 0) throw new QuorumError('BACKUP_FAILED', `the meta group's records do not parse: ${metaImage.problems[0]}`, 'fail');
    taken.push({ result: meta, slots: [] });
    const dataIds = metaImage.groups.map((g) => g.id).sort(compareGroupIds);
    for (const groupId of dataIds) {
      const part = await adminBackup(address, join(partsDir, groupId), options, groupId);
      taken.push({ result: part, slots: await slotsOfImage((await readBackup(part.path)).records()) });
    }
    const disagreement = metaDisagreement(
      metaImage.groups,
      taken.slice(1).map((t) => ({ id: t.result.info.groupId, slots: t.slots })),
    );
    // The meta group's records, written one group at a time, may also be caught between a
    // split's two: the parent's record shrunk, the child's not yet there.
    const problem = disagreement ?? slotMapProblem(taken.slice(1).map((t) => ({ id: t.result.info.groupId, slots: t.slots })));
    if (problem !== null) throw new BackupInconsistentError(problem);
    const parts: PartFile[] = taken.map(({ result, slots }) => ({
      path: result.path,
      group: { id: result.info.groupId, slots, index: result.info.index, term: result.info.term, voters: [...result.info.confState.voters] },
    }));
    const written = await writeClusterBackup(path, { createdAtMs: Date.now(), source: address }, parts);
    return {
      path: written.path,
      fileBytes: written.fileBytes,
      groups: taken.map(({ result, slots }, i) => ({ from: result.from, info: result.info, slots, partBytes: written.manifest.groups[i]!.bytes })),
    };
  } finally {
    await rm(partsDir, { recursive: true, force: true });
  }
}
