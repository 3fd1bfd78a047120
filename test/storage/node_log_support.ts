/**
 * Shared by the NodeLog tests: an fsync that can be counted and held back (a slow or interrupted
 * disk), a logger that records, and helpers to open a node log and a group's view of it.
 */
import type { FileHandle } from 'node:fs/promises';
import type { DurableLog, PersistedLog } from '../../src/storage/durable_log.js';
import type { StorageLogger } from '../../src/storage/file_log.js';
import { NodeLog } from '../../src/storage/node_log.js';
import type { NodeLogIo, NodeLogOptions } from '../../src/storage/node_log.js';

/**
 * The node log's fsync, counted; while `held`, each call waits until the test releases it (the
 * real datasync runs then) or fails it (a disk error, or a crash: the caller never hears back).
 */
export class GatedIo implements NodeLogIo {
  calls = 0;
  held = false;
  private waiting: { readonly file: FileHandle; readonly resolve: () => void; readonly reject: (error: unknown) => void }[] = [];

  datasync(file: FileHandle): Promise<void> {
    this.calls++;
    if (!this.held) return file.datasync();
    return new Promise<void>((resolve, reject) => this.waiting.push({ file, resolve, reject }));
  }

  get pending(): number {
    return this.waiting.length;
  }

  /** Lets the held fsyncs complete (in order), and stops holding new ones unless `keepHolding`. */
  async release(keepHolding = false): Promise<void> {
    this.held = keepHolding;
    const waiting = this.waiting;
    this.waiting = [];
    for (const { file, resolve, reject } of waiting) await file.datasync().then(resolve, reject);
  }

  fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const { reject } of waiting) reject(error);
  }
}

export class RecordingLogger implements StorageLogger {
  readonly warnings: Record<string, unknown>[] = [];
  readonly infos: Record<string, unknown>[] = [];
  warn(fields: Record<string, unknown>): void {
    this.warnings.push(fields);
  }
  info(fields: Record<string, unknown>): void {
    this.infos.push(fields);
  }
}

export const quietLogger: StorageLogger = { warn: () => undefined, info: () => undefined };

export async function openNodeLog(dir: string, options: Partial<NodeLogOptions> = {}): Promise<NodeLog> {
  const log = new NodeLog({ dir, logger: quietLogger, ...options });
  await log.open();
  return log;
}

export async function openGroup(node: NodeLog, groupId: string): Promise<DurableLog> {
  const view = node.group(groupId);
  await view.load();
  return view;
}

/** Every group's state in a fresh NodeLog over `dir` (closed again). */
export async function reloadGroups(dir: string, groupIds: readonly string[], options: Partial<NodeLogOptions> = {}): Promise<Map<string, PersistedLog>> {
  const node = await openNodeLog(dir, options);
  try {
    const out = new Map<string, PersistedLog>();
    for (const id of groupIds) out.set(id, await node.group(id).load());
    return out;
  } finally {
    await node.close();
  }
}

/** Turns of the event loop, enough for queued writes to reach their fsync. */
export async function turns(count = 3): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits (in event-loop turns, not time) until `condition` holds; throws after `limit` turns. */
export async function until(condition: () => boolean, limit = 2000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`condition not reached after ${limit} turns`);
}

/** Settles to 'resolved' or the error, so a test can look at a promise without awaiting it first. */
export function observe(promise: Promise<unknown>): { readonly state: () => 'pending' | 'resolved' | 'rejected'; readonly settled: Promise<unknown> } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  const settled = promise.then(
    () => {
      state = 'resolved';
      return 'resolved';
    },
    (error: unknown) => {
      state = 'rejected';
      return error;
    },
  );
  return { state: () => state, settled };
}
