import type { ConnectionCommandSpec } from '../command_spec.js';
import type { ClusterContext, ClusterNodeView, ConnectionContext } from '../connection_context.js';
import { array, bulk, error, integer, map, ok, verbatim, type Reply } from '../../resp/reply.js';
import { keyHashSlot, slotCount } from '../../state/hash_slot.js';
import { parseLongLong } from '../arguments.js';
import { notAnInteger } from '../replies.js';
import { noKeys, type CommandDocs, type ConnectionCommand } from './command_docs.js';
import { containerCommand, helpReply } from './container.js';

/**
 * The CLUSTER family as Redis 7.0 answers it (cluster.c's clusterCommand), for the subcommands a
 * cluster client reads: SLOTS, SHARDS, NODES, INFO, MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT
 * and HELP; and READONLY, READWRITE, ASKING. The subcommands that change a Redis cluster's layout
 * (ADDSLOTS, MEET, SETSLOT, FAILOVER, ...) are not offered: they answer `unknown subcommand`, and
 * COMMAND does not list them. quorumkv's layout changes through the admin API.
 *
 * The cluster they describe is the node's (ServerContext.cluster): every data group is a shard,
 * its leader the master of its slots, its other voters its replicas, each node named by a 40-hex
 * id derived from its quorumkv id. Without --cluster-mode every one of them answers as Redis does
 * with cluster support disabled, after the existence and arity checks Redis makes first.
 */

const disabled = error('ERR This instance has cluster support disabled');

type Spec = ConnectionCommandSpec & CommandDocs;

/** What CLUSTER's subcommands share in metadata, as Redis's commands/cluster-*.json. */
function subcommandSpec(spec: Pick<Spec, 'name' | 'arity' | 'summary'> & Partial<Spec>): Spec {
  return {
    kind: 'connection',
    flags: ['stale'],
    ...noKeys,
    categories: ['slow'],
    since: '3.0.0',
    group: 'cluster',
    complexity: 'O(1)',
    ...spec,
  };
}

/** A subcommand that answers only in cluster mode. */
function clusterOnly(spec: Spec, handler: (ctx: ConnectionContext, args: readonly Buffer[], cluster: ClusterContext) => Reply | Promise<Reply>): ConnectionCommand {
  return { spec, handler: (ctx, args) => (ctx.server.cluster.enabled ? handler(ctx, args, ctx.server.cluster) : disabled) };
}

const nondeterministic = ['nondeterministic_output'] as const;

/**
 * CLUSTER SLOTS: one entry per slot range, `[first, last, master, replica...]`, each node
 * `[host, port, id, {}]` (the empty map is Redis 7's additional networking metadata: no hostname
 * is configured). A group whose slots are not contiguous has one entry per range.
 */
const slots = clusterOnly(
  subcommandSpec({
    name: 'cluster|slots',
    arity: 2,
    summary: 'Get array of Cluster slot to node mappings',
    complexity: 'O(N) where N is the total number of Cluster nodes',
    tips: nondeterministic,
    docFlags: ['deprecated'],
    deprecatedSince: '7.0.0',
    replacedBy: '`CLUSTER SHARDS`',
    history: [
      ['4.0.0', 'Added node IDs.'],
      ['7.0.0', 'Added additional networking metadata field.'],
    ],
  }),
  (_ctx, _args, cluster) => {
    const ranges = cluster
      .view()
      .shards.flatMap((shard) => shard.slots.map((range) => ({ range, shard })))
      .sort((a, b) => a.range[0] - b.range[0]);
    const node = (n: ClusterNodeView): Reply => array([bulk(n.host), integer(n.port), bulk(n.id), map([])]);
    return array(ranges.map(({ range, shard }) => array([integer(range[0]), integer(range[1]), node(shard.master), ...shard.replicas.map(node)])));
  },
);

/**
 * CLUSTER SHARDS: one map per shard (here: per data group), its `slots` as a flat list of range
 * bounds (integers, as Redis 7.0.x prints them since the fix that stopped sending them as bulk
 * strings) and its `nodes`, the master first, each a map of Redis's fields in Redis's order.
 */
const shards = clusterOnly(
  subcommandSpec({
    name: 'cluster|shards',
    arity: 2,
    summary: 'Get array of cluster slots to node mappings',
    since: '7.0.0',
    complexity: 'O(N) where N is the total number of cluster nodes',
    tips: nondeterministic,
  }),
  (_ctx, _args, cluster) => {
    const field = (name: string, value: Reply): readonly [Reply, Reply] => [bulk(name), value];
    const node = (n: ClusterNodeView, role: 'master' | 'replica', offset: number): Reply =>
      map([
        field('id', bulk(n.id)),
        field('port', integer(n.port)),
        field('ip', bulk(n.host)),
        field('endpoint', bulk(n.host)),
        field('role', bulk(role)),
        field('replication-offset', integer(offset)),
        field('health', bulk('online')),
      ]);
    return array(
      cluster.view().shards.map((shard) =>
        map([
          field('slots', array(shard.slots.flatMap(([first, last]) => [integer(first), integer(last)]))),
          field('nodes', array([node(shard.master, 'master', shard.offset), ...shard.replicas.map((r) => node(r, 'replica', shard.offset))])),
        ]),
      ),
    );
  },
);

/**
 * CLUSTER NODES: Redis's nodes.conf lines, `<id> <ip:port@cport> <flags> <master> <ping-sent>
 * <pong-recv> <config-epoch> <link-state> <slot> ...`. Every node is a master (the format has no
 * replica per range, and a node is a replica of no one node here), listing the slots of the groups
 * whose master it is: what redis-benchmark --cluster reads to pick each node's keys. A node that
 * registered no RESP address shows port 0 and the `noaddr` flag, as Redis shows a node it cannot reach.
 */
const nodes = clusterOnly(
  subcommandSpec({
    name: 'cluster|nodes',
    arity: 2,
    summary: 'Get Cluster config for the node',
    complexity: 'O(N) where N is the total number of Cluster nodes',
    tips: nondeterministic,
  }),
  (ctx, _args, cluster) => {
    const now = ctx.server.nowMs();
    const lines = cluster.view().nodes.map((n) => {
      const flags = [...(n.myself ? ['myself'] : []), 'master', ...(n.port === 0 ? ['noaddr'] : [])].join(',');
      const slotList = n.slots.map(([first, last]) => (first === last ? ` ${first}` : ` ${first}-${last}`)).join('');
      // Redis prints 0 0 for itself, and for a peer the time it last heard from it: the peers are
      // Raft members heard from all the time, so now.
      return `${n.id} ${n.host}:${n.port}@${n.busPort} ${flags} - 0 ${n.myself ? 0 : now} ${n.epoch} connected${slotList}\n`;
    });
    return verbatim(lines.join(''));
  },
);

/** CLUSTER INFO: the fields of Redis 7.0's, as CRLF-terminated lines; quorumkv has no cluster bus messages to count. */
const info = clusterOnly(
  subcommandSpec({ name: 'cluster|info', arity: 2, summary: 'Provides info about Redis Cluster node state', tips: nondeterministic }),
  (_ctx, _args, cluster) => {
    const i = cluster.view().info;
    const lines = [
      `cluster_state:${i.state}`,
      `cluster_slots_assigned:${i.slotsAssigned}`,
      `cluster_slots_ok:${i.slotsOk}`,
      `cluster_slots_pfail:${i.slotsPfail}`,
      `cluster_slots_fail:${i.slotsFail}`,
      `cluster_known_nodes:${i.knownNodes}`,
      `cluster_size:${i.size}`,
      `cluster_current_epoch:${i.currentEpoch}`,
      `cluster_my_epoch:${i.myEpoch}`,
      'cluster_stats_messages_sent:0',
      'cluster_stats_messages_received:0',
      'total_cluster_links_buffer_limit_exceeded:0',
    ];
    return verbatim(lines.map((line) => `${line}\r\n`).join(''));
  },
);

const myid = clusterOnly(subcommandSpec({ name: 'cluster|myid', arity: 2, summary: 'Return the node id' }), (_ctx, _args, cluster) =>
  bulk(cluster.view().myself.id),
);

const keyslot = clusterOnly(
  subcommandSpec({
    name: 'cluster|keyslot',
    arity: 3,
    summary: 'Returns the hash slot of the specified key',
    complexity: 'O(N) where N is the number of bytes in the key',
    arguments: [{ name: 'key', type: 'string' }],
  }),
  (_ctx, args) => integer(keyHashSlot(args[2]!)),
);

/**
 * CLUSTER COUNTKEYSINSLOT slot. Redis keeps an index of keys by slot; quorumkv finds them by a
 * scan of the slot's group's keyspace (O(keys of the group)), on a node that hosts a replica of
 * that group, after a read barrier.
 */
const countkeysinslot = clusterOnly(
  subcommandSpec({
    name: 'cluster|countkeysinslot',
    arity: 3,
    summary: 'Return the number of local keys in the specified hash slot',
    arguments: [{ name: 'slot', type: 'integer' }],
  }),
  (_ctx, args, cluster) => {
    // The arguments are checked at once; only the reading waits.
    const slot = parseLongLong(args[2]!);
    if (slot === null) return notAnInteger;
    if (slot < 0n || slot >= BigInt(slotCount)) return error('ERR Invalid slot');
    return cluster.keysInSlot(Number(slot), 0).then((found) => ('error' in found ? error(found.error) : integer(found.count)));
  },
);

/** CLUSTER GETKEYSINSLOT slot count: up to `count` keys of the slot, found as COUNTKEYSINSLOT finds them. */
const getkeysinslot = clusterOnly(
  subcommandSpec({
    name: 'cluster|getkeysinslot',
    arity: 4,
    summary: 'Return local key names in the specified hash slot',
    complexity: 'O(log(N)) where N is the number of requested keys',
    tips: nondeterministic,
    arguments: [
      { name: 'slot', type: 'integer' },
      { name: 'count', type: 'integer' },
    ],
  }),
  (_ctx, args, cluster) => {
    const slot = parseLongLong(args[2]!);
    if (slot === null) return notAnInteger;
    const count = parseLongLong(args[3]!);
    if (count === null) return notAnInteger;
    if (slot < 0n || slot >= BigInt(slotCount) || count < 0n) return error('ERR Invalid slot or number of keys');
    // More keys than any keyspace holds is no limit at all.
    const limit = count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
    return cluster.keysInSlot(Number(slot), limit).then((found) => ('error' in found ? error(found.error) : array(found.keys.map((key) => bulk(key)))));
  },
);

const help = clusterOnly(
  subcommandSpec({ name: 'cluster|help', arity: 2, flags: ['loading', 'stale'], summary: 'Show helpful text about the different subcommands', since: '5.0.0' }),
  (_ctx, args) =>
    // Redis's lines for the subcommands offered here, in Redis's order.
    helpReply(args, [
      'COUNTKEYSINSLOT <slot>',
      '    Return the number of keys in <slot>.',
      'GETKEYSINSLOT <slot> <count>',
      '    Return key names stored by current node in a slot.',
      'INFO',
      '    Return information about the cluster.',
      'KEYSLOT <key>',
      '    Return the hash slot for <key>.',
      'MYID',
      '    Return the node id.',
      'NODES',
      '    Return cluster configuration seen by node. Output format:',
      '    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...',
      'SLOTS',
      '    Return information about slots range mappings. Each range is made of:',
      '    start, end, master and replicas IP addresses, ports and ids',
      'SHARDS',
      '    Return information about slot range mappings and the nodes associated with them.',
    ]),
);

export const cluster: ConnectionCommand = containerCommand(
  {
    kind: 'connection',
    name: 'cluster',
    arity: -2,
    flags: [],
    ...noKeys,
    categories: ['slow'],
    summary: 'A container for cluster commands',
    since: '3.0.0',
    group: 'cluster',
    complexity: 'Depends on subcommand.',
  },
  [countkeysinslot, getkeysinslot, help, info, keyslot, myid, nodes, shards, slots],
);

/** READONLY, READWRITE, ASKING: what they share in metadata (commands/readonly.json and kin). */
function flagCommand(name: string, summary: string, flags: Spec['flags']): Spec {
  return { kind: 'connection', name, arity: 1, flags, ...noKeys, categories: ['fast', 'connection'], summary, since: '3.0.0', group: 'cluster', complexity: 'O(1)' };
}

/**
 * READONLY: this connection's reads of keys whose group has a replica on this node are served
 * here (linearizable all the same: the replica's read waits for a ReadIndex barrier), instead of
 * being redirected to the group's leader. Writes still get -MOVED.
 */
export const readonly: ConnectionCommand = {
  spec: flagCommand('readonly', 'Enables read queries for a connection to a cluster replica node', ['loading', 'stale', 'fast']),
  handler: (ctx) => {
    if (!ctx.server.cluster.enabled) return disabled;
    ctx.client.readOnly = true;
    return ok;
  },
};

/** READWRITE: undoes READONLY. */
export const readwrite: ConnectionCommand = {
  spec: flagCommand('readwrite', 'Disables read queries for a connection to a cluster replica node', ['loading', 'stale', 'fast']),
  handler: (ctx) => {
    if (!ctx.server.cluster.enabled) return disabled;
    ctx.client.readOnly = false;
    return ok;
  },
};

/**
 * ASKING: +OK, and nothing else to do: Redis sends -ASK while a slot migrates between masters,
 * and quorumkv never does (a slot moves between groups by a log entry, and a command on a stale
 * route is re-sent by the node that routed it).
 */
export const asking: ConnectionCommand = {
  spec: flagCommand('asking', 'Sent by cluster clients after an -ASK redirect', ['fast']),
  handler: (ctx) => (ctx.server.cluster.enabled ? ok : disabled),
};
