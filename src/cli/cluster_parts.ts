import { RoutingTable, type GroupRecord } from '../cluster/meta_records.js';
import { slotCount } from '../state/hash_slot.js';
import { ImageRecordKind, decodeImageRecord } from '../state/snapshot_image.js';
import { formatSlotRanges, type SlotRange } from '../state/slot_set.js';

/**
 * What is inside the parts of a cluster backup, read out of their records: the slots a data
 * group's snapshot serves, and the meta group's records of the data groups. Both the backup
 * (before it keeps the file) and the restore (before it writes anything) check that the two agree.
 */

/**
 * The slots a group's image serves: its slots record, which comes before any key (an image
 * without one, taken before groups owned slots, serves every slot). Stops reading there.
 */
export async function slotsOfImage(records: AsyncGenerator<Buffer>): Promise<SlotRange[]> {
  try {
    for await (const record of records) {
      if (record[0] === ImageRecordKind.Members) continue;
      if (record[0] === ImageRecordKind.Slots) {
        const decoded = decodeImageRecord(record);
        if (decoded.kind === 'slots') return decoded.record.ranges().map(([a, b]) => [a, b] as const);
      }
      break;
    }
    return [[0, slotCount - 1]];
  } finally {
    await records.return(undefined);
  }
}

/**
 * The meta group's records (its keys and their values) from its image, and the data groups they
 * describe. Records that do not parse are named in `problems`.
 */
export async function metaRecordsOfImage(records: AsyncGenerator<Buffer>): Promise<{ records: [string, string][]; groups: readonly GroupRecord[]; problems: string[] }> {
  const pairs: [string, string][] = [];
  for await (const record of records) {
    if (record[0] !== ImageRecordKind.Key) continue;
    const decoded = decodeImageRecord(record);
    if (decoded.kind === 'key') pairs.push([decoded.record.key.toString('utf8'), decoded.record.value.value.toString('utf8')]);
  }
  const problems: string[] = [];
  const groups = RoutingTable.fromRecords(pairs, problems).groups();
  return { records: pairs, groups, problems };
}

/**
 * Why the data groups' snapshots and the meta group's records disagree, or null: a group one of
 * them has and the other not, or a group whose snapshot serves other slots than its record says.
 * Either is what a split (or a record not yet brought up to date after one) looks like from two
 * snapshots taken at different moments.
 */
export function metaDisagreement(metaGroups: readonly GroupRecord[], parts: readonly { id: string; slots: readonly SlotRange[] }[]): string | null {
  const byId = new Map(parts.map((p) => [p.id, p]));
  for (const record of metaGroups) {
    const part = byId.get(record.id);
    if (!part) return `the meta group lists ${record.id}, which has no part`;
    const recorded = formatSlotRanges(record.slots);
    const served = formatSlotRanges(part.slots);
    if (recorded !== served) return `${record.id} serves slots ${served || 'none'} in its snapshot, where the meta group's record says ${recorded || 'none'}`;
  }
  for (const part of parts) {
    if (!metaGroups.some((g) => g.id === part.id)) return `${part.id} has a part but no record in the meta group`;
  }
  return null;
}
