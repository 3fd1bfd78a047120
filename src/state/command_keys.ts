import { error, type Reply } from '../resp/reply.js';

/** Where a command's keys are among its arguments: COMMAND INFO's first key, last key and step. */
export interface KeyPositions {
  /** 1-based index of the first key; 0 for a command without keys. */
  readonly firstKey: number;
  /** Index of the last key; negative counts from the end (-1: the last argument). */
  readonly lastKey: number;
  readonly keyStep: number;
}

/** The keys of `args` (the command name first) at `positions`; none for a keyless command. */
export function commandKeys(args: readonly Buffer[], positions: KeyPositions): Buffer[] {
  const { firstKey, keyStep } = positions;
  if (firstKey <= 0 || keyStep <= 0) return [];
  const last = positions.lastKey < 0 ? args.length + positions.lastKey : positions.lastKey;
  const keys: Buffer[] = [];
  for (let i = firstKey; i <= last && i < args.length; i += keyStep) keys.push(args[i]!);
  return keys;
}

/**
 * The reply of a group asked to run a command for a slot it does not own (any more): never
 * applied, never remembered by the dedup table, and never seen by a client. The node that routed
 * the command refreshes its view of who owns the slot and sends the command there, with the same
 * request id.
 */
export const wrongGroupCode = 'WRONGGROUP';

export function wrongGroupReply(slot: number): Reply {
  return error(`${wrongGroupCode} ${slot} is not served by this group`);
}

/** The slot of a wrong-group reply, or -1 for any other reply. */
export function wrongGroupSlot(reply: Reply): number {
  if (reply.kind !== 'error' || !reply.message.startsWith(wrongGroupCode)) return -1;
  return Number(reply.message.slice(wrongGroupCode.length + 1).split(' ')[0]);
}
