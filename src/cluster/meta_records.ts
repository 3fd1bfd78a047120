import { keyHashSlot, slotCount } from '../state/hash_slot.js';
import type { Keyspace } from '../state/keyspace.js';
import { SlotSet, formatSlotRanges, parseSlotRanges, type SlotRange } from '../state/slot_set.js';
import type { ClusterLayout, GroupLayout } from './layout.js';

/**
 * What the meta group holds, as records in its keyspace (set by `qkv.meta-put`, so the meta
 * group is an ordinary group: the same log, snapshots, dedup and membership as any other):
 *
 *   group:<id>   {"voters":[..],"slots":"0-5460","preferredLeader":"n1"}   every data group
 *   node:<id>    {"grpc":"host:port","resp":"host:port","zone":"z1"}     every node that registered (zone: when it has one)
 *
 * Every node reads its routing table out of these (RoutingTable.fromMeta).
 */
export interface GroupRecord {
  readonly id: string;
  readonly voters: readonly string[];
  readonly preferredLeader: string;
  readonly slots: readonly SlotRange[];
  /** 1 when the group was made; each change of its record (slots, voters) adds one. */
  readonly epoch?: number;
}

export interface NodeRecord {
  readonly id: string;
  readonly grpc: string;
  /** Empty until the node registered its RESP address. */
  readonly resp: string;
  /** The node's --zone; absent or empty when it has none (or has not registered). */
  readonly zone?: string;
}

const groupPrefix = 'group:';
const nodePrefix = 'node:';

export function groupRecordEntry(group: GroupLayout | GroupRecord): [string, string] {
  const epoch = 'epoch' in group && group.epoch !== undefined ? group.epoch : 1;
  return [`${groupPrefix}${group.id}`, JSON.stringify({ voters: group.voters, slots: formatSlotRanges(group.slots), preferredLeader: group.preferredLeader, epoch })];
}

export function nodeRecordEntry(node: NodeRecord): [string, string] {
  // No zone, no field: the records of nodes without one stay as they were.
  return [`${nodePrefix}${node.id}`, JSON.stringify({ grpc: node.grpc, resp: node.resp, ...(node.zone ? { zone: node.zone } : {}) })];
}

/** The meta group's counter of data groups ever made (qkv.meta-next): the next new group is g<value + 1>. */
export const groupCounterName = 'counter:group';

/** The meta group's first records: every data group of the layout and every initial node's gRPC address. */
export function layoutRecords(layout: ClusterLayout, grpcAddresses: ReadonlyMap<string, string>): [string, string][] {
  return [
    [groupCounterName, String(layout.data.length)],
    ...layout.data.map((g) => groupRecordEntry(g)),
    ...[...grpcAddresses].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, grpc]) => nodeRecordEntry({ id, grpc, resp: '' })),
  ];
}

/**
 * Which group serves each slot, and who the groups and nodes are: a node's view of the cluster,
 * rebuilt from the meta group's records whenever they change. Lookups are O(1) (an array of
 * 16,384 group indices).
 */
export class RoutingTable {
  private readonly bySlot: Int16Array;
  private readonly groupList: GroupRecord[];

  private constructor(
    private readonly groupsById: ReadonlyMap<string, GroupRecord>,
    private readonly nodesById: ReadonlyMap<string, NodeRecord>,
  ) {
    this.groupList = [...groupsById.values()].sort((a, b) => compareGroupIds(a.id, b.id));
    this.bySlot = new Int16Array(slotCount).fill(-1);
    this.groupList.forEach((g, i) => {
      for (const [first, last] of g.slots) this.bySlot.fill(i, first, last + 1);
    });
  }

  static of(groups: readonly GroupRecord[], nodes: readonly NodeRecord[]): RoutingTable {
    return new RoutingTable(new Map(groups.map((g) => [g.id, g])), new Map(nodes.map((n) => [n.id, n])));
  }

  /** From the meta group's keyspace (records that do not parse are left out, and say so in `problems`). */
  static fromMeta(ks: Keyspace, nowMs: number, problems: string[] = []): RoutingTable {
    return RoutingTable.fromRecords(metaRecordsOf(ks, nowMs), problems);
  }

  /** From the meta group's records as name/value pairs (another node's, over the wire). */
  static fromRecords(records: Iterable<readonly [string, string]>, problems: string[] = []): RoutingTable {
    const groups: GroupRecord[] = [];
    const nodes: NodeRecord[] = [];
    for (const [name, text] of records) {
      try {
        if (name.startsWith(groupPrefix)) groups.push(parseGroup(name.slice(groupPrefix.length), text));
        else if (name.startsWith(nodePrefix)) nodes.push(parseNode(name.slice(nodePrefix.length), text));
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    }
    return RoutingTable.of(groups, nodes);
  }

  /** The group serving `slot`, or undefined when none does. */
  groupOfSlot(slot: number): GroupRecord | undefined {
    const i = this.bySlot[slot]!;
    return i < 0 ? undefined : this.groupList[i];
  }

  groupOfKey(key: Uint8Array): GroupRecord | undefined {
    return this.groupOfSlot(keyHashSlot(key));
  }

  group(id: string): GroupRecord | undefined {
    return this.groupsById.get(id);
  }

  /** Every data group, in id order (g1, g2, ..., g10). */
  groups(): readonly GroupRecord[] {
    return this.groupList;
  }

  node(id: string): NodeRecord | undefined {
    return this.nodesById.get(id);
  }

  nodes(): readonly NodeRecord[] {
    return [...this.nodesById.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The slots no group serves (a layout being changed, or records not yet replicated here). */
  unservedSlots(): SlotSet {
    const set = SlotSet.empty();
    for (let s = 0; s < slotCount; s++) if (this.bySlot[s]! < 0) set.addRange([s, s]);
    return set;
  }
}

/** Every record of a meta group's keyspace, as name/value pairs. */
export function metaRecordsOf(ks: Keyspace, nowMs: number): [string, string][] {
  const out: [string, string][] = [];
  for (const name of ks.liveKeyNames(nowMs)) {
    const value = ks.getByName(name, nowMs)?.value.toString('utf8');
    if (value !== undefined) out.push([name, value]);
  }
  return out;
}

/** g2 before g10: by the number after the letter, then as text. */
export function compareGroupIds(a: string, b: string): number {
  const na = Number(a.slice(1));
  const nb = Number(b.slice(1));
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseGroup(id: string, text: string): GroupRecord {
  const raw = JSON.parse(text) as { voters?: unknown; slots?: unknown; preferredLeader?: unknown; epoch?: unknown };
  if (!Array.isArray(raw.voters) || !raw.voters.every((v) => typeof v === 'string')) throw new Error('voters is not a list of node ids');
  if (typeof raw.slots !== 'string') throw new Error('slots is not a range list');
  return {
    id,
    voters: raw.voters as string[],
    preferredLeader: typeof raw.preferredLeader === 'string' ? raw.preferredLeader : '',
    slots: parseSlotRanges(raw.slots),
    epoch: typeof raw.epoch === 'number' ? raw.epoch : 1,
  };
}

function parseNode(id: string, text: string): NodeRecord {
  const raw = JSON.parse(text) as { grpc?: unknown; resp?: unknown; zone?: unknown };
  if (typeof raw.grpc !== 'string') throw new Error('grpc is not an address');
  return { id, grpc: raw.grpc, resp: typeof raw.resp === 'string' ? raw.resp : '', zone: typeof raw.zone === 'string' ? raw.zone : '' };
}
