import { parseArgs } from 'node:util';
import { adminChange, adminGroups, adminMoveReplicaResuming, adminNodes, adminSnapshot, adminSplit, adminStatus, defaultAdminTimeoutMs } from './admin_client.js';
import type { GroupSummary, NodeSummary } from './admin_service.js';
import type { AdminCallOptions, MembershipCall } from './admin_client.js';
import type { SnapshotInfo } from '../storage/snapshot_format.js';

/** One group of a cluster backup as `admin backup` reports it. */
export interface ClusterBackupGroup {
  /** The node it streamed from (the group's leader). */
  readonly from: string;
  readonly info: SnapshotInfo;
  readonly slots: readonly (readonly [number, number])[];
  readonly partBytes: number;
}

export interface ClusterBackupResult {
  readonly path: string;
  readonly fileBytes: number;
  /** The meta group first, then the data groups in id order. */
  readonly groups: readonly ClusterBackupGroup[];
}

/**
 * The backup of every group into one file (src/cli/cluster_backup.ts): it reads what the parts
 * hold (the state machine's records), which this layer does not know, so the CLI hands it in.
 */
export type ClusterBackupCall = (address: string, path: string, options: AdminCallOptions) => Promise<ClusterBackupResult>;

export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const usage =
  'quorumkv admin --addr HOST:PORT [--timeout-ms N] [--json] (status | add-node --id ID --grpc HOST:PORT | remove-node --id ID | promote --id ID | transfer-leader --to ID | split --group G [--at-slot S] [--no-wait] | move-replica --group G --from ID --to ID [--grpc HOST:PORT] [--no-wait] | groups | nodes | snapshot | backup --out FILE); membership calls take [--group G]';

const changes = ['add-node', 'remove-node', 'promote', 'transfer-leader'] as const;
const subcommands = ['status', 'groups', 'nodes', ...changes, 'split', 'move-replica', 'snapshot', 'backup'] as const;
type Subcommand = (typeof subcommands)[number];

/**
 * Default deadlines: membership changes may wait for a catch-up or a hand-off; a snapshot writes
 * the whole state machine; a backup's deadline is per message (see adminBackup).
 */
const defaultTimeoutMs = {
  status: defaultAdminTimeoutMs,
  groups: defaultAdminTimeoutMs,
  nodes: defaultAdminTimeoutMs,
  'add-node': 30_000,
  'remove-node': 30_000,
  promote: 30_000,
  'transfer-leader': 30_000,
  split: 90_000,
  'move-replica': 300_000,
  snapshot: 120_000,
  backup: 30_000,
} as const satisfies Record<Subcommand, number>;

/**
 * `quorumkv admin --addr HOST:PORT <subcommand>` (docs/contract.md). Returns the exit code:
 * 0 success, 1 the call failed, 2 bad usage; each failure is one line on stderr.
 */
export async function runAdminCommand(args: readonly string[], out: CommandOutput, tools: { backupCluster?: ClusterBackupCall } = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        addr: { type: 'string' },
        'timeout-ms': { type: 'string' },
        json: { type: 'boolean' },
        id: { type: 'string' },
        grpc: { type: 'string' },
        to: { type: 'string' },
        out: { type: 'string' },
        group: { type: 'string' },
        'at-slot': { type: 'string' },
        'no-wait': { type: 'boolean' },
        from: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return usageError(out, (err as Error).message);
  }
  const { addr, 'timeout-ms': timeoutText, json, id, grpc, to, group } = parsed.values;
  if (group !== undefined && !/^(meta|g\d{1,9})$/.test(group)) return usageError(out, `--group '${group}' is not a group id (meta, g1, g2, ...)`);
  const scoped = { ...(group !== undefined ? { group } : {}) };
  const [subcommand, ...extra] = parsed.positionals;
  const timeoutMs = timeoutText === undefined ? defaultAdminTimeoutMs : Number(timeoutText);
  const problem = usageProblem(addr, timeoutText, timeoutMs, subcommand, extra);
  if (problem !== null) return usageError(out, problem);
  const command = subcommand as Subcommand;
  const options = { timeoutMs: timeoutText === undefined ? defaultTimeoutMs[command] : timeoutMs };
  const print = (line: string, asJson: unknown): void => out.stdout(json ? `${JSON.stringify(asJson)}\n` : `${line}\n`);

  let call: MembershipCall | null = null;
  switch (command) {
    case 'add-node':
      if (!id || !grpc) return usageError(out, 'add-node needs --id ID and --grpc HOST:PORT');
      call = { kind: 'add-node', nodeId: id, address: grpc, ...scoped };
      break;
    case 'remove-node':
      if (!id) return usageError(out, 'remove-node needs --id ID');
      call = { kind: 'remove-node', nodeId: id, ...scoped };
      break;
    case 'promote':
      if (!id) return usageError(out, 'promote needs --id ID');
      call = { kind: 'promote', nodeId: id, ...scoped };
      break;
    case 'transfer-leader':
      if (!to) return usageError(out, 'transfer-leader needs --to ID');
      call = { kind: 'transfer-leader', to, ...scoped };
      break;
    case 'backup':
      if (!parsed.values.out) return usageError(out, 'backup needs --out FILE');
      break;
    case 'move-replica':
      if (group === undefined || !parsed.values.from || !to) return usageError(out, 'move-replica needs --group G --from ID --to ID');
      break;
    case 'split': {
      if (group === undefined || group === 'meta') return usageError(out, 'split needs --group G, a data group');
      const at = parsed.values['at-slot'];
      if (at !== undefined && !/^\d{1,5}$/.test(at)) return usageError(out, `--at-slot '${at}' is not a slot`);
      break;
    }
  }
  try {
    if (call !== null) {
      const message = await adminChange(addr!, call, options);
      print(message, { ok: true, message });
    } else if (command === 'split') {
      const at = parsed.values['at-slot'];
      const message = await adminSplit(addr!, { group: group!, atSlot: at === undefined ? null : Number(at), wait: parsed.values['no-wait'] !== true }, options);
      print(message, { ok: true, message });
    } else if (command === 'move-replica') {
      const message = await adminMoveReplicaResuming(
        addr!,
        { group: group!, from: parsed.values.from!, to: to!, address: grpc ?? null, wait: parsed.values['no-wait'] !== true },
        options,
        (reason) => out.stderr(`quorumkv admin: the move was cut short (${oneLine(reason)}); resuming\n`),
      );
      print(message, { ok: true, message });
    } else if (command === 'groups') {
      const groups = await adminGroups(addr!, options);
      if (json) out.stdout(`${JSON.stringify(groups.map(({ hosted: _hosted, ...g }) => g))}\n`);
      else out.stdout(groupsTable(groups));
    } else if (command === 'nodes') {
      const nodes = await adminNodes(addr!, options);
      out.stdout(json ? `${JSON.stringify(nodes)}\n` : nodesTable(nodes));
    } else if (command === 'status') {
      out.stdout(`${JSON.stringify(await adminStatus(addr!, options), null, 2)}\n`);
    } else if (command === 'snapshot') {
      const snapshots = await adminSnapshot(addr!, options);
      if (json) out.stdout(`${JSON.stringify({ ok: true, snapshots })}\n`);
      else for (const info of snapshots) out.stdout(`${describeSnapshot(info)}\n`);
    } else {
      if (!tools.backupCluster) throw new Error('this build of the admin command takes no backups');
      const result = await tools.backupCluster(addr!, parsed.values.out!, options);
      const lines = result.groups.map((g) => `backed up ${describeSnapshot(g.info)} from ${g.from}`);
      lines.push(`wrote ${result.groups.length} groups to ${result.path} (${result.fileBytes} bytes)`);
      const slots = (g: ClusterBackupGroup): number[][] => g.slots.map(([a, b]) => [a, b]);
      print(lines.join('\n'), { ok: true, path: result.path, fileBytes: result.fileBytes, groups: result.groups.map((g) => ({ from: g.from, slots: slots(g), partBytes: g.partBytes, info: g.info })) });
    }
    return 0;
  } catch (err) {
    out.stderr(`quorumkv admin: ${oneLine(err)}\n`);
    return 1;
  }
}

/**
 * `admin groups` as a table:
 *
 *   group  slots        leader  voters    learners  epoch  keys   bytes    writes/s
 *   meta   -            n1      n1,n2,n3  -         1      -      -        -
 *   g1     0-5460       n1      n1,n2,n3  -         1      1203   151234   12.5
 *
 * Keys, bytes and writes/s are of this node's replica ('-' where it hosts none).
 */
export function groupsTable(groups: readonly GroupSummary[]): string {
  const rows = [['group', 'slots', 'leader', 'voters', 'learners', 'epoch', 'keys', 'bytes', 'writes/s']];
  for (const g of groups) {
    const data = g.group !== 'meta' && g.hosted;
    rows.push([
      g.group,
      g.slots.length === 0 ? '-' : g.slots.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(','),
      g.leader || '-',
      g.voters.join(',') || '-',
      g.learners.join(',') || '-',
      String(g.epoch),
      data ? String(g.keys) : '-',
      data ? String(g.bytes) : '-',
      data ? g.writesPerSec.toFixed(1) : '-',
    ]);
  }
  return formatTable(rows);
}

/**
 * `admin nodes` as a table ('-' for what a node has not registered):
 *
 *   node  grpc            resp            zone  groups
 *   n1    127.0.0.1:7379  127.0.0.1:6379  a     meta,g1,g3
 */
export function nodesTable(nodes: readonly NodeSummary[]): string {
  const rows = [['node', 'grpc', 'resp', 'zone', 'groups'], ...nodes.map((n) => [n.node, n.grpc || '-', n.resp || '-', n.zone || '-', n.groups.join(',') || '-'])];
  return formatTable(rows);
}

/** Rows as columns padded to their widest cell, two spaces apart. */
function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** `g0: index 1234, term 7, 100100 records, 2345678 bytes in 9 chunks` */
export function describeSnapshot(info: SnapshotInfo): string {
  return `${info.groupId}: index ${info.index}, term ${info.term}, ${info.recordCount} records, ${info.payloadBytes} bytes in ${info.chunkCount} chunks`;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
}

function usageProblem(
  addr: string | undefined,
  timeoutText: string | undefined,
  timeoutMs: number,
  subcommand: string | undefined,
  extra: readonly string[],
): string | null {
  if (addr === undefined || !/^[^\s]+:\d{1,5}$/.test(addr)) return '--addr HOST:PORT is required';
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) return `--timeout-ms must be a positive integer, not ${timeoutText}`;
  if (subcommand === undefined) return 'a subcommand is required';
  if (!(subcommands as readonly string[]).includes(subcommand)) return `unknown subcommand ${subcommand}`;
  if (extra.length > 0) return `unexpected argument ${extra[0]}`;
  return null;
}

function usageError(out: CommandOutput, problem: string): number {
  out.stderr(`quorumkv admin: ${problem.split('\n')[0]} (usage: ${usage})\n`);
  return 2;
}
