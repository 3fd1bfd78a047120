import { parseArgs } from 'node:util';
import { adminChange, adminStatus, defaultAdminTimeoutMs } from './admin_client.js';
import type { LeaderCall } from '../node/membership.js';

export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Subcommands of the contract that the server does not offer yet, and the issue that brings them. */
const comingLater: Readonly<Record<string, string>> = {
  snapshot: 'the snapshots issue',
  backup: 'the backup issue',
};

const usage =
  'quorumkv admin --addr HOST:PORT [--timeout-ms N] [--json] (status | add-node --id ID --grpc HOST:PORT | remove-node --id ID | transfer-leader --to ID)';

const changes = ['add-node', 'remove-node', 'transfer-leader'] as const;

/**
 * `quorumkv admin --addr HOST:PORT <subcommand>` (see shared/contract.md). Returns the exit code:
 * 0 success, 1 the call failed, 2 bad usage; each failure is one line on stderr.
 */
export async function runAdminCommand(args: readonly string[], out: CommandOutput): Promise<number> {
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
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    out.stderr(`quorumkv admin: ${(err as Error).message} (usage: ${usage})\n`);
    return 2;
  }
  const { addr, 'timeout-ms': timeoutText } = parsed.values;
  const [subcommand, ...extra] = parsed.positionals;
  const timeoutMs = timeoutText === undefined ? defaultAdminTimeoutMs : Number(timeoutText);
  const problem = usageProblem(addr, timeoutText, timeoutMs, subcommand, extra);
  if (problem !== null) {
    out.stderr(`quorumkv admin: ${problem} (usage: ${usage})\n`);
    return 2;
  }
  if ((changes as readonly string[]).includes(subcommand!)) {
    const { id, grpc, to, json } = parsed.values;
    let call: LeaderCall;
    if (subcommand === 'add-node') {
      if (!id || !grpc) return usageError(out, 'add-node needs --id ID and --grpc HOST:PORT');
      call = { kind: 'add-node', nodeId: id, address: grpc };
    } else if (subcommand === 'remove-node') {
      if (!id) return usageError(out, 'remove-node needs --id ID');
      call = { kind: 'remove-node', nodeId: id };
    } else {
      if (!to) return usageError(out, 'transfer-leader needs --to ID');
      call = { kind: 'transfer-leader', to };
    }
    try {
      // Membership changes may wait for a catch-up or a hand-off: a longer default deadline.
      const message = await adminChange(addr!, call, { timeoutMs: timeoutText === undefined ? 30_000 : timeoutMs });
      out.stdout(json ? `${JSON.stringify({ ok: true, message })}\n` : `${message}\n`);
      return 0;
    } catch (err) {
      out.stderr(`quorumkv admin: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if (subcommand !== 'status') {
    out.stderr(`quorumkv admin: ${subcommand} is not implemented yet (${comingLater[subcommand!]})\n`);
    return 1;
  }
  try {
    const status = await adminStatus(addr!, { timeoutMs });
    out.stdout(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  } catch (err) {
    out.stderr(`quorumkv admin: ${(err as Error).message}\n`);
    return 1;
  }
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
  if (subcommand !== 'status' && !(subcommand in comingLater) && !(changes as readonly string[]).includes(subcommand)) {
    return `unknown subcommand ${subcommand}`;
  }
  if (extra.length > 0) return `unexpected argument ${extra[0]}`;
  return null;
}

function usageError(out: CommandOutput, problem: string): number {
  out.stderr(`quorumkv admin: ${problem} (usage: ${usage})\n`);
  return 2;
}
