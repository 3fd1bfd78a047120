import type { ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import { lookupCommand } from '../commands/command_table.js';
import type { ClientState } from '../commands/connection_context.js';
import type { GroupRecord, RoutingTable } from '../cluster/meta_records.js';
import { array, bulk, error, integer, nullReply, ok, type Reply } from '../resp/reply.js';
import { commandKeys, wrongGroupSlot } from '../state/command_keys.js';
import { keyHashSlot, nameHashSlot, slotCount } from '../state/hash_slot.js';
import type { ClusterRoute } from './cluster_view.js';

type ReadItem = { readonly spec: ReadCommandSpec; readonly args: readonly Buffer[] };
type WriteItem = { readonly spec: WriteCommandSpec; readonly args: readonly Buffer[] };

/** Where a group's commands go from this node: its replica here, or the nodes that host it. */
export interface GroupEndpoint {
  readonly groupId: string;
  /** False while a replica here has not replayed its log (the command gets -LOADING). */
  readonly serving: boolean;
  readRun(items: readonly ReadItem[]): Promise<Reply[]>;
  writeRun(items: readonly WriteItem[]): Promise<Reply[]>;
}

/** What the router needs of the host: the routing table, the replicas it hosts, time. */
export interface RouterHost {
  routing(): RoutingTable;
  /** Rebuilds the routing table from the meta group now (after a wrong-group reply). */
  refreshRouting(): void;
  /** The endpoint of a group (a replica here, or a remote group); undefined for a group the routing table does not know. */
  endpoint(groupId: string): GroupEndpoint | undefined;
  clock(): number;
  random(): number;
  /** How long a command keeps looking for the group of its slot (as for a leader): then -TRYAGAIN. */
  readonly routeWaitMs: number;
  /** Present in cluster mode (--cluster-mode): Redis Cluster's routing, see CommandRouter. */
  readonly cluster?: ClusterRouting;
}

/** What cluster mode asks of the host. */
export interface ClusterRouting {
  /** Where a command for a key of `group` goes (ClusterTopology.route). */
  route(group: GroupRecord, readOnlyRead: boolean): ClusterRoute;
  /** The data groups this node leads now, in group order: what keyspace-wide commands cover. */
  ledGroups(): readonly GroupRecord[];
}

/** Redis Cluster's reply for keys of different slots; here keys of different groups. */
export const crossSlotReply = error("CROSSSLOT Keys in request don't hash to the same slot");

const tryAgainReply = (why: string): Reply => error(`TRYAGAIN ${why}`);

/** Redis Cluster's reply for a key of a slot no node can be named for. */
export const slotNotServedReply = error('CLUSTERDOWN Hash slot not served');

/** Redis Cluster's redirect: the slot, and the address of the node that serves it. */
export function movedReply(slot: number, host: string, port: number): Reply {
  return error(`MOVED ${slot} ${host}:${port}`);
}

type Kind = 'read' | 'write';

/** Where one command goes. */
type Target =
  | { readonly kind: 'group'; readonly replica: GroupEndpoint }
  | { readonly kind: 'all' }
  | { readonly kind: 'reply'; readonly reply: Reply }
  /**
   * No group serves the slot in this node's table now: a split rewrites the two groups' records
   * one after the other, and between them the moved slots belong to neither. Waited for as a
   * slot moving between groups is; answered at once, it reached clients as an error
   * (redis-cli and plain clients do not retry TRYAGAIN or CLUSTERDOWN).
   */
  | { readonly kind: 'unrouted' };

/**
 * Routes client commands to the groups that serve their keys: hash slot → group (the routing
 * table, read out of the meta group) → this node's replica of it, whose gateway proposes or
 * forwards to its leader.
 *
 *   command with keys  ─▶ every key's slot in one group? ─ no ─▶ -CROSSSLOT
 *                                  │ yes
 *                                  ▼
 *                      that group's replica here ─▶ its gateway ─▶ reply
 *                                  │ wrong group (a stale route: the slot moved)
 *                                  ▼
 *                      refresh the routing table, send it again (same command), until routeWaitMs
 *   command over the keyspace (DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHALL, FLUSHDB)
 *                      ─▶ every group, one after another ─▶ replies combined as Redis Cluster
 *                         clients combine them (the command's response_policy tip)
 *
 * A connection's run is cut where its target changes, and the pieces run one after the other,
 * so a pipeline still executes in its order, as Redis's does.
 *
 * In cluster mode (`host.cluster`) a node answers as a Redis Cluster master answers for its slots:
 *
 *   command with keys ─▶ every key in one SLOT? ─ no ─▶ -CROSSSLOT
 *                               │ yes
 *                               ▼
 *                  the slot's group: led here, or a READONLY read of a group with a replica here?
 *                               │ yes ─▶ this node's replica, as above
 *                               │ no  ─▶ -MOVED <slot> <leader's RESP address>  (ClusterTopology.route)
 *   command over the keyspace ─▶ the groups this node leads
 *
 * The redirect is decided when the command's turn comes (not when it arrives), so a pipelined
 * READONLY, or a leader change, applies to the commands after it. A read's own argument checks
 * come after the redirect, as Redis checks them only on the node that runs it.
 */
export class CommandRouter {
  constructor(private readonly host: RouterHost) {}

  /** `client`: the connection the run came from (its READONLY state, in cluster mode). */
  async readRun(items: readonly ReadItem[], client?: ClientState): Promise<Reply[]> {
    return this.run('read', items, client, (replica, chunk) => replica.readRun(chunk), (item) => this.readEverywhere(item));
  }

  async writeRun(items: readonly WriteItem[], client?: ClientState): Promise<Reply[]> {
    return this.run('write', items, client, (replica, chunk) => replica.writeRun(chunk), (item) => this.writeEverywhere(item));
  }

  /** Whether this node can serve a command with these arguments now (its group's log replayed). */
  serving(spec: ReadCommandSpec | WriteCommandSpec, args: readonly Buffer[]): boolean {
    const target = this.groupTargetOf(spec, args);
    if (target.kind === 'group') return target.replica.serving;
    return true;
  }

  private async run<T extends ReadItem | WriteItem>(
    kind: Kind,
    items: readonly T[],
    client: ClientState | undefined,
    send: (replica: GroupEndpoint, chunk: readonly T[]) => Promise<Reply[]>,
    everywhere: (item: T) => Promise<Reply>,
  ): Promise<Reply[]> {
    const replies: Reply[] = new Array(items.length);
    let i = 0;
    while (i < items.length) {
      const target = this.targetOf(kind, items[i]!.spec, items[i]!.args, client);
      if (target.kind === 'reply') {
        replies[i++] = target.reply;
        continue;
      }
      if (target.kind === 'unrouted') {
        replies[i] = await this.reroute(kind, items[i]!, client, send);
        i++;
        continue;
      }
      if (target.kind === 'all') {
        replies[i] = await everywhere(items[i]!);
        i++;
        continue;
      }
      // The longest run of commands for the same group goes as one run (one entry, one barrier).
      let end = i + 1;
      while (end < items.length) {
        const next = this.targetOf(kind, items[end]!.spec, items[end]!.args, client);
        if (next.kind !== 'group' || next.replica !== target.replica) break;
        end++;
      }
      const chunk = items.slice(i, end);
      const chunkReplies = await send(target.replica, chunk);
      for (let k = 0; k < chunk.length; k++) {
        const reply = chunkReplies[k]!;
        replies[i + k] = wrongGroupSlot(reply) >= 0 ? await this.reroute(kind, chunk[k]!, client, send) : reply;
      }
      i = end;
    }
    return replies;
  }

  /** A command a group refused as not its own: sent again once the routing table says where it goes now. */
  private async reroute<T extends ReadItem | WriteItem>(
    kind: Kind,
    item: T,
    client: ClientState | undefined,
    send: (replica: GroupEndpoint, chunk: readonly T[]) => Promise<Reply[]>,
  ): Promise<Reply> {
    const deadline = this.host.clock() + this.host.routeWaitMs;
    for (;;) {
      this.host.refreshRouting();
      const target = this.targetOf(kind, item.spec, item.args, client);
      if (target.kind === 'reply') return target.reply;
      if (target.kind === 'group') {
        const [reply] = await send(target.replica, [item]);
        if (wrongGroupSlot(reply!) < 0) return reply!;
      }
      if (this.host.clock() >= deadline) {
        // Redis Cluster's word for a slot no one serves, after which cluster clients re-read the slots.
        if (target.kind === 'unrouted' && this.host.cluster) return slotNotServedReply;
        return tryAgainReply(`the slot of this command is moving between groups; no group took it within ${this.host.routeWaitMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private targetOf(kind: Kind, spec: ReadCommandSpec | WriteCommandSpec, args: readonly Buffer[], client: ClientState | undefined): Target {
    const cluster = this.host.cluster;
    if (!cluster) return this.groupTargetOf(spec, args);
    const target = this.clusterTargetOf(cluster, kind, spec, args, client);
    // In cluster mode the classifier leaves a read's argument checks to here: after the redirect.
    if (target.kind !== 'reply' && spec.kind === 'read') {
      const invalid = spec.validate(args);
      if (invalid) return { kind: 'reply', reply: invalid };
    }
    return target;
  }

  /** Cluster mode: one slot per command, and a redirect for a group another node answers for. */
  private clusterTargetOf(cluster: ClusterRouting, kind: Kind, spec: ReadCommandSpec | WriteCommandSpec, args: readonly Buffer[], client: ClientState | undefined): Target {
    const keys = commandKeys(args, spec);
    if (keys.length === 0) return this.groupTargetOf(spec, args);
    const slot = keyHashSlot(keys[0]!);
    for (let k = 1; k < keys.length; k++) if (keyHashSlot(keys[k]!) !== slot) return { kind: 'reply', reply: crossSlotReply };
    const group = this.host.routing().groupOfSlot(slot);
    if (!group) return { kind: 'unrouted' };
    const route = cluster.route(group, kind === 'read' && client?.readOnly === true);
    if (route.kind === 'moved') return { kind: 'reply', reply: movedReply(slot, route.host, route.port) };
    if (route.kind === 'down') return { kind: 'reply', reply: slotNotServedReply };
    const replica = this.host.endpoint(group.id);
    if (!replica) return { kind: 'reply', reply: tryAgainReply(`group ${group.id} is not reachable from this node`) };
    return { kind: 'group', replica };
  }

  /** Where a command goes by its keys' group, whichever node leads it (cluster mode off). */
  private groupTargetOf(spec: ReadCommandSpec | WriteCommandSpec, args: readonly Buffer[]): Target {
    const keys = commandKeys(args, spec);
    if (keys.length === 0) {
      if (isKeyspaceWide(spec)) return { kind: 'all' };
      // A keyless command that is not over the keyspace: any group serves it the same.
      const first = this.firstLocalGroup();
      return first ? { kind: 'group', replica: first } : { kind: 'reply', reply: tryAgainReply('no group is open on this node yet') };
    }
    const routing = this.host.routing();
    let groupId: string | undefined;
    for (const key of keys) {
      const group = routing.groupOfSlot(keyHashSlot(key));
      if (group === undefined) return { kind: 'unrouted' };
      if (groupId === undefined) groupId = group.id;
      else if (group.id !== groupId) return { kind: 'reply', reply: crossSlotReply };
    }
    const replica = this.host.endpoint(groupId!);
    if (!replica) return { kind: 'reply', reply: tryAgainReply(`group ${groupId} is not reachable from this node`) };
    return { kind: 'group', replica };
  }

  private firstLocalGroup(): GroupEndpoint | undefined {
    for (const g of this.host.routing().groups()) {
      const replica = this.host.endpoint(g.id);
      if (replica) return replica;
    }
    return undefined;
  }

  /**
   * The groups a keyspace-wide command covers, with the endpoint of each: every data group, or in
   * cluster mode the groups this node leads (maybe none).
   */
  private everyGroup(): { group: GroupRecord; replica: GroupEndpoint }[] | Reply {
    const cluster = this.host.cluster;
    const groups = cluster ? cluster.ledGroups() : this.host.routing().groups();
    const covered: { group: GroupRecord; replica: GroupEndpoint }[] = [];
    for (const group of groups) {
      const replica = this.host.endpoint(group.id);
      if (!replica) return tryAgainReply(`group ${group.id} is not reachable from this node`);
      covered.push({ group, replica });
    }
    if (covered.length === 0 && !cluster) return tryAgainReply('no group is open on this node yet');
    return covered;
  }

  private readEverywhere(item: ReadItem): Promise<Reply> {
    if (item.spec.name === 'scan') return this.scan(item);
    return this.everywhere(item, (endpoint, items) => endpoint.readRun(items));
  }

  private writeEverywhere(item: WriteItem): Promise<Reply> {
    return this.everywhere(item, (endpoint, items) => endpoint.writeRun(items));
  }

  /** Runs `item` on every group covered, one after another; the first error is the reply, else the combined replies. */
  private async everywhere<T extends ReadItem | WriteItem>(item: T, run: (endpoint: GroupEndpoint, items: readonly T[]) => Promise<Reply[]>): Promise<Reply> {
    const covered = this.everyGroup();
    if (!Array.isArray(covered)) return covered;
    const replies: Reply[] = [];
    for (const { replica } of covered) {
      const [reply] = await run(replica, [item]);
      if (reply!.kind === 'error') return reply!;
      replies.push(reply!);
    }
    return combine(item.spec, replies, () => this.host.random());
  }

  /**
   * SCAN over every group: the cursor carries the group and the position in its keyspace,
   *
   *   cursor = position × 2^16 + n   (the group gn; 0 = from the first group)
   *
   * so a client's cursor walks g1 to its end, then g2, and so on; each group's own cursor keeps
   * SCAN's guarantee within it (every key present for the whole walk is returned).
   *
   * A group that splits while the walk is in it (or before the walk reaches it) takes the keys of
   * its slots from S on out of the rest of its walk, into a new group; a new group's id is higher
   * than every group's before it, so the walk comes to it later, as long as the routing table it
   * takes the next group from lists it. The table lags a split: it is read from the meta group,
   * where each group's leader writes its group's record some housekeeping rounds after the split
   * applied (the parent's and the child's records separately). A walk that took its next group
   * from a table that did not list the child yet ended without the keys that moved
   * (jepsen-lite: scan workload under split, `--seed 2`: 530 keys present throughout a SCAN were
   * not returned). So before leaving a group the walk makes sure the table it goes on with is no
   * older than the group's slots (routingAfterWalk).
   */
  private async scan(item: ReadItem): Promise<Reply> {
    const covered = this.everyGroup();
    if (!Array.isArray(covered)) return covered;
    const groups = covered.map((c) => c.group);
    const replicas = covered.map((c) => c.replica);
    const cursorArg = item.args[1]!.toString('latin1');
    if (!/^\d+$/.test(cursorArg)) {
      // Whatever a group says of a bad cursor is what Redis says (the command's own check
      // gives the same error without one: a node in cluster mode that leads no group).
      if (replicas.length === 0) return item.spec.validate(item.args) ?? array([bulk('0'), array([])]);
      const [reply] = await replicas[0]!.readRun([item]);
      return reply!;
    }
    if (replicas.length === 0) return array([bulk('0'), array([])]);
    const cursor = BigInt(cursorArg);
    const ordinal = Number(cursor & 0xffffn);
    let position = cursor >> 16n;
    let index = ordinal === 0 ? 0 : groups.findIndex((g) => groupOrdinal(g.id) === ordinal);
    if (index < 0) {
      // A group that is gone (merged): continue with the next one after it.
      index = groups.findIndex((g) => groupOrdinal(g.id) > ordinal);
      position = 0n;
      if (index < 0) return array([bulk('0'), array([])]);
    }
    if (ordinal === 0) position = 0n;
    const args = [...item.args];
    args[1] = Buffer.from(position.toString(), 'latin1');
    const [reply] = await replicas[index]!.readRun([{ spec: item.spec, args }]);
    if (reply!.kind !== 'array') return reply!;
    const [next, keys] = reply!.items;
    const nextPosition = BigInt((next as { value: Buffer }).value.toString('latin1'));
    const current = groups[index]!.id;
    let nextCursor: bigint;
    if (nextPosition !== 0n) nextCursor = (nextPosition << 16n) | BigInt(groupOrdinal(current));
    else {
      // This group's walk is over: the next group comes from a table that knows where its slots went.
      const after = await this.routingAfterWalk(current);
      if (!Array.isArray(after)) return after as Reply;
      const next = (after as readonly GroupRecord[]).find((g) => groupOrdinal(g.id) > groupOrdinal(current));
      nextCursor = next ? BigInt(groupOrdinal(next.id)) : 0n;
    }
    return array([bulk(nextCursor.toString()), keys!]);
  }

  /**
   * The groups to go on with once the walk of `groupId` ended: those of a routing table that
   * serves every slot and whose record of `groupId` names no slot the group has given away. A
   * split gives away the slots from S on, the group's last slot among them, so the group still
   * owning the last slot its record names (a keyed read there is not refused as another group's)
   * means no split since that record; and a table that serves every slot while the record is
   * current lists the groups the slots went to. Until then the table is refreshed (a split's
   * records reach the meta group within a few housekeeping rounds), for at most routeWaitMs;
   * then TRYAGAIN, and the client may send the same cursor again.
   */
  private async routingAfterWalk(groupId: string): Promise<readonly GroupRecord[] | Reply> {
    const deadline = this.host.clock() + this.host.routeWaitMs;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        this.host.refreshRouting();
        if (attempt > 1) await new Promise((r) => setTimeout(r, 20));
      }
      const routing = this.host.routing();
      const record = routing.group(groupId);
      if (routing.unservedSlots().size === 0) {
        // A group the table no longer lists gave all its slots to groups it does list.
        if (record === undefined) return routing.groups();
        const owns = await this.ownsLastSlot(record);
        if (owns !== false && owns !== true) return owns;
        if (owns) return routing.groups();
      }
      if (this.host.clock() >= deadline) {
        return tryAgainReply(`group ${groupId} gave slots away during this SCAN and the routing table does not show where yet; send the same cursor again`);
      }
    }
  }

  /** Whether the group still owns the last slot its record names; an error reply when it could not say. */
  private async ownsLastSlot(record: GroupRecord): Promise<boolean | Reply> {
    const last = record.slots.reduce((max, [, b]) => Math.max(max, b), -1);
    const endpoint = this.host.endpoint(record.id);
    if (last < 0 || !endpoint) return true;
    const [reply] = await endpoint.readRun([{ spec: existsSpec(), args: [Buffer.from('exists'), Buffer.from(probeKeyOf(last), 'latin1')] }]);
    if (wrongGroupSlot(reply!) >= 0) return false;
    return reply!.kind === 'error' ? reply! : true;
  }
}

function existsSpec(): ReadCommandSpec {
  const spec = lookupCommand('exists');
  if (spec?.kind !== 'read') throw new Error('EXISTS is missing from the command table');
  return spec;
}

/** For each slot, a key name in it (`{qkv-slot-N}`), found once, when first needed (~160,000 CRC16s). */
let probeKeys: string[] | null = null;

function probeKeyOf(slot: number): string {
  if (probeKeys === null) {
    const keys = new Array<string>(slotCount);
    let found = 0;
    for (let i = 0; found < slotCount; i++) {
      const name = `{qkv-slot-${i}}`;
      const s = nameHashSlot(name);
      if (keys[s] === undefined) {
        keys[s] = name;
        found++;
      }
    }
    probeKeys = keys;
  }
  return probeKeys[slot]!;
}

/** A keyless command that covers the whole keyspace (Redis's request_policy:all_shards, and SCAN). */
function isKeyspaceWide(spec: ReadCommandSpec | WriteCommandSpec): boolean {
  return spec.name === 'scan' || (spec.tips ?? []).includes('request_policy:all_shards');
}

/** The number in a data group's id (g12 → 12). */
function groupOrdinal(id: string): number {
  return Number(id.slice(1));
}

/** One reply out of every group's, as the command's response_policy tip says. */
function combine(spec: ReadCommandSpec | WriteCommandSpec, replies: readonly Reply[], random: () => number): Reply {
  const tips = spec.tips ?? [];
  if (tips.includes('response_policy:agg_sum')) {
    let sum = 0n;
    for (const r of replies) if (r.kind === 'integer') sum += BigInt(r.value);
    return integer(sum);
  }
  if (tips.includes('response_policy:all_succeeded')) return ok;
  if (spec.name === 'randomkey') {
    const found = replies.filter((r) => r.kind !== 'null');
    return found.length === 0 ? nullReply : found[Math.floor(random() * found.length)]!;
  }
  // KEYS: the keys of every group.
  return array(replies.flatMap((r) => (r.kind === 'array' ? r.items : [])));
}
