import { resolve } from 'node:path';
import { initialLayout, metaGroupId, type GroupLayout } from '../cluster/layout.js';
import { RoutingTable, compareGroupIds, groupRecordEntry, nodeRecordEntry } from '../cluster/meta_records.js';
import { groupSnapshotDir, saveMeta } from '../node/data_dir.js';
import { encodeKeyRecord, decodeImageRecord } from '../state/snapshot_image.js';
import { readBackupSource } from '../storage/backup_file.js';
import { readClusterBackup, type ClusterBackup } from '../storage/cluster_backup_file.js';
import type { SnapshotDescriptor } from '../storage/snapshot_format.js';
import { SnapshotStore } from '../storage/snapshot_store.js';
import { metaDisagreement, metaRecordsOfImage, slotsOfImage } from './cluster_parts.js';
import type { RestoreOptions, RestoreResult } from './restore.js';
import { RestoreRefusedError, claimRestoreDir, refuseUsedDataDir, rewrittenRecords, type RecordCounts } from './restore_dir.js';

/**
 * `quorumkv restore` of a cluster backup (src/cli/cluster_backup.ts): seeds one node of a new
 * cluster with every group it is to host, each from its part, as of the part's index and term.
 *
 *   check DIR ─▶ verify FILE end to end (manifest, every part) ─▶ parts agree with the meta group's records
 *        └──── refuse: one line, exit 2, DIR untouched ◀──────────────────────┘
 *   place the groups on --peers ─▶ lock DIR ─▶ write this node's groups' snapshots ─▶ node.json
 *        └──── any failure: remove what this run created, exit 1
 *
 * Placement: the groups go on the new nodes as `server --groups` places a new cluster's
 * (initialLayout: the meta group on the first five ids, data group i, in id order, on --replicas
 * consecutive ids from the i-th on, led first by the first of them), so every node, restored on
 * its own from the same file, --peers and --replicas, agrees on who hosts what. The slots stay as
 * the backup has them.
 *
 * What changes for the new cluster: each group's voters (its snapshot's, and its members record
 * with their addresses; the ids the group ever had stay used), and in the meta group the records
 * that name nodes: each data group's record gets its new voters and preferred leader (its epoch
 * one more), the old nodes' records go, and each new node gets one with its gRPC address (its
 * RESP address it registers itself once it serves). The group counter stays, so the next split
 * makes a group id the old cluster never had.
 */
export async function restoreClusterDataDir(options: RestoreOptions): Promise<RestoreResult[]> {
  const dir = resolve(options.dataDir);
  await refuseUsedDataDir(dir);
  const backup = await readClusterBackup(options.from);
  await refuseDisagreement(backup);

  const dataIds = backup.parts.map((p) => p.group.id).filter((id) => id !== metaGroupId).sort(compareGroupIds);
  const layout = initialLayout([...options.peers.keys()], dataIds.length, options.replicas);
  const placement = new Map<string, GroupLayout>([[metaGroupId, layout.meta], ...dataIds.map((id, i) => [id, layout.data[i]!] as const)]);
  const hosted = backup.parts.filter((p) => placement.get(p.group.id)!.voters.includes(options.id));

  const { created, lock } = await claimRestoreDir(dir);
  const results: RestoreResult[] = [];
  try {
    for (const part of hosted) {
      const groupId = part.group.id;
      const voters = placement.get(groupId)!.voters;
      const addresses = new Map(voters.map((v) => [v, options.peers.get(v)!]));
      const descriptor: SnapshotDescriptor = {
        groupId,
        index: part.summary.info.index,
        term: part.summary.info.term,
        confState: { voters: [...voters], learners: [] },
        ...(part.summary.info.createdAtMs === undefined ? {} : { createdAtMs: part.summary.info.createdAtMs }),
      };
      const counts: RecordCounts = { keys: 0, dedup: 0 };
      const refusal: { error?: RestoreRefusedError } = {};
      const what = `${options.from} (${groupId})`;
      const records = (await readBackupSource(part.source)).records();
      const rewritten =
        groupId === metaGroupId
          ? rewrittenRecords(records, addresses, counts, what, refusal, metaRecordRewriter(placement), newNodeRecords(options.peers))
          : rewrittenRecords(records, addresses, counts, what, refusal);
      const store = await SnapshotStore.open({ dir: groupSnapshotDir(dir, groupId), groupId });
      try {
        // As in restore.ts: a refusal raised while rewriting is rethrown as itself.
        const info = await store.write(descriptor, rewritten).catch((err: unknown) => {
          throw refusal.error ?? err;
        });
        results.push({ info, ...counts });
      } finally {
        await store.close().catch(() => undefined);
      }
    }
    await saveMeta(dir, { id: options.id, peers: Object.fromEntries(options.peers) });
    return results;
  } catch (err) {
    await created.undo();
    throw err;
  } finally {
    lock.release();
  }
}

/**
 * Every part verified already; now what they hold: each data part must serve the slots its
 * manifest entry and the meta group's record say. A backup whose meta group contradicts its data
 * groups would restore a cluster that routes keys to groups that do not hold them.
 */
async function refuseDisagreement(backup: ClusterBackup): Promise<void> {
  const dataParts: { id: string; slots: readonly (readonly [number, number])[] }[] = [];
  let metaGroups: Awaited<ReturnType<typeof metaRecordsOfImage>> | null = null;
  for (const part of backup.parts) {
    const records = (await readBackupSource(part.source)).records();
    if (part.group.id === metaGroupId) {
      metaGroups = await metaRecordsOfImage(records);
      continue;
    }
    const slots = await slotsOfImage(records);
    const said = JSON.stringify(part.group.slots);
    if (JSON.stringify(slots) !== said) {
      throw new RestoreRefusedError(`${backup.path}: ${part.group.id}'s snapshot serves other slots than its manifest entry says (${said}); refusing it`);
    }
    dataParts.push({ id: part.group.id, slots });
  }
  if (metaGroups!.problems.length > 0) throw new RestoreRefusedError(`${backup.path}: the meta group's records do not parse: ${metaGroups!.problems[0]}; refusing it`);
  const problem = metaDisagreement(metaGroups!.groups, dataParts);
  if (problem !== null) throw new RestoreRefusedError(`${backup.path}: ${problem}; refusing it`);
}

/** The meta group's key records for the new cluster: data groups' records on their new voters, the old nodes' records left out. */
function metaRecordRewriter(placement: ReadonlyMap<string, GroupLayout>): (record: Buffer) => Buffer | null {
  return (record) => {
    const decoded = decodeImageRecord(record);
    if (decoded.kind !== 'key') return record;
    const name = decoded.record.key.toString('utf8');
    if (name.startsWith('node:')) return null;
    if (!name.startsWith('group:')) return record;
    const old = RoutingTable.fromRecords([[name, decoded.record.value.value.toString('utf8')]]).group(name.slice('group:'.length));
    const placed = old && placement.get(old.id);
    if (!old || !placed) return record;
    const [, value] = groupRecordEntry({ id: old.id, voters: placed.voters, preferredLeader: placed.preferredLeader, slots: old.slots, epoch: (old.epoch ?? 1) + 1 });
    return encodeKeyRecord({ key: decoded.record.key, value: { type: 'string', value: Buffer.from(value, 'utf8') }, expireAt: decoded.record.expireAt });
  };
}

/** A node record for each node of the new cluster (its gRPC address; the RESP one it registers when it serves). */
function newNodeRecords(peers: ReadonlyMap<string, string>): Buffer[] {
  return [...peers]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, grpc]) => {
      const [name, value] = nodeRecordEntry({ id, grpc, resp: '' });
      return encodeKeyRecord({ key: Buffer.from(name, 'utf8'), value: { type: 'string', value: Buffer.from(value, 'utf8') }, expireAt: null });
    });
}
